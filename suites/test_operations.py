"""vLLM's operations routes (capability `operations`): SageMaker's hosting contract (`/ping` answers as
/health does, GET and POST; `/invocations` routes a chat or completions body to that API and answers
exactly as it; a body of neither kind is a 4xx).

Not checked: `/load` (vLLM's count of requests in flight, with --enable-server-load-tracking): on 0.32.0 it
sometimes read 0 while a streaming request was being answered, so a check of it judged vLLM's counter, not
the image."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.server.endpoint import Endpoint

INVOCATIONS = "/invocations"


@pytest.mark.requires("operations")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_answers_as_health(api: httpx.Client, endpoint: Endpoint, method: str) -> None:
    ping, health = api.request(method, "/ping"), api.get(endpoint.health_path)
    assert ping.status_code == health.status_code == 200, (
        f"{method} /ping answered {ping.status_code} {ping.text[:200]!r}; /health {health.status_code}; "
        "expected 200 from both on a ready server")


def routed(api: httpx.Client, path: str, body: dict[str, Any], shape: Any) -> None:
    direct = openai_calls.post(api, path, body)
    via = openai_calls.post(api, INVOCATIONS, body)
    assert direct.status == 200, direct.why("200, to compare /invocations with")
    problems = shape(via.json) if via.status == 200 else ["not 200"]
    assert not problems, via.why(f"the answer {path} gives, as {path} shapes it; problems: {problems}")
    assert via.json["object"] == direct.json["object"] and via.json["choices"] == direct.json["choices"], via.why(
        f"the same greedy choices as {path}: {openai_shapes.trim(direct.json['choices'])}")


@pytest.mark.requires("operations", "chat")
def test_invocations_routes_a_chat_body(api: httpx.Client, endpoint: Endpoint) -> None:
    routed(api, "/v1/chat/completions", openai_calls.chat_payload(endpoint.model, max_tokens=8),
           openai_shapes.chat_completion)


@pytest.mark.requires("operations", "completions")
def test_invocations_routes_a_completions_body(api: httpx.Client, endpoint: Endpoint) -> None:
    routed(api, "/v1/completions", openai_calls.completion_payload(endpoint.model, max_tokens=8),
           openai_shapes.completion)


@pytest.mark.requires("operations")
def test_invocations_refuses_a_body_of_no_api(api: httpx.Client) -> None:
    call = openai_calls.post(api, INVOCATIONS, {"question": "neither a chat nor a completions body"})
    assert 400 <= call.status < 500, call.why("a 4xx: no API takes this body")
