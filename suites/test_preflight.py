"""Preflight: what an operator checks by hand right after `docker run` — the model is listed, a text
chat answers, an image chat answers. Everything deeper lives in the other suites."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.imagegen import checkerboard, data_url
from harness.server.endpoint import Endpoint


def _chat(api: httpx.Client, endpoint: Endpoint, content: Any) -> str:
    call = openai_calls.post(api, "/v1/chat/completions", openai_calls.chat_payload(
        endpoint.model, messages=[{"role": "user", "content": content}]))
    assert call.status == 200, call.why("200 with a chat.completion")
    problems = openai_shapes.chat_completion(call.json)
    assert not problems, call.why(f"an OpenAI chat.completion; problems: {problems}")
    text = call.json["choices"][0]["message"]["content"]
    assert isinstance(text, str), call.why("message.content as a string")
    return text


def test_models_lists_served_name(api: httpx.Client, endpoint: Endpoint) -> None:
    response = api.get("/v1/models")
    assert response.status_code == 200, response.text[:300]
    ids = [m["id"] for m in response.json()["data"]]
    assert endpoint.model in ids, f"/v1/models lists {ids}, not the served name '{endpoint.model}'"


@pytest.mark.requires("chat")
def test_text_chat_answers(api: httpx.Client, endpoint: Endpoint) -> None:
    text = _chat(api, endpoint, "Say hello.")
    assert text.strip(), "the text chat answered 200 with empty content"


@pytest.mark.requires("chat", "vision")
def test_vision_chat_answers(api: httpx.Client, endpoint: Endpoint) -> None:
    text = _chat(api, endpoint, [
        {"type": "text", "text": "Describe the image."},
        {"type": "image_url", "image_url": {"url": data_url(checkerboard())}},
    ])
    assert text.strip(), "the image chat answered 200 with empty content"
