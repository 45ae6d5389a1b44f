"""The multimodal suite's fixed request (harness.checks.multimodal.MediaChat) sent through the Responses API
instead: the same prompt and media as `input_text` / `input_image` parts, greedy, `max_output_tokens`
long, top-5 logprobs, so its answers compare with chat completions' by the same signatures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from harness.checks import responses_shapes
from harness.checks.multimodal import TOP_LOGPROBS, Answer, Media, MediaChat, answer_from, describe, trimmed

PATH = "/v1/responses"


def input_part(media: Media) -> dict[str, Any]:
    """A chat `image_url` part as the Responses API's `input_image` (its URL a plain string)."""
    if media.part.get("type") != "image_url":
        raise ValueError(f"{media.label}: only images go through the Responses API, not {media.part.get('type')}")
    return {"type": "input_image", "image_url": media.part["image_url"]["url"]}


class MediaResponses:
    """MediaChat's request through /v1/responses, with the same exact-length extras as there (decided by
    `ServerFacts.exact_length()`: vLLM's `ignore_eos` for vLLM, nothing for other servers)."""

    def __init__(self, chat: MediaChat) -> None:
        self.chat = chat

    def body(self, media: Sequence[Media]) -> dict[str, Any]:
        content = [{"type": "input_text", "text": self.chat.prompt}, *(input_part(m) for m in media)]
        return {"model": self.chat.model, "input": [{"role": "user", "content": content}],
                "max_output_tokens": self.chat.max_tokens, "temperature": 0, **self.chat.server.exact_length(),
                "top_logprobs": TOP_LOGPROBS, "include": ["message.output_text.logprobs"]}

    def post(self, media: Sequence[Media], **options: Any) -> httpx.Response:
        return self.chat.api.post(PATH, json=self.body(media, **options))

    def ask(self, media: Sequence[Media], **options: Any) -> Answer:
        """A 200 with a well-formed response and a non-empty answer, or an AssertionError saying why."""
        sent = f"{describe(media)} via {PATH}"
        response = self.post(media, **options)
        assert response.status_code == 200, (f"sent {sent}: answered {response.status_code}, expected 200: "
                                             f"{trimmed(response.text)}")
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"sent {sent}: a 200 that is not JSON: {trimmed(response.text)}") from None
        problems = responses_shapes.response(body)
        assert not problems, f"sent {sent}: not an OpenAI response object: {problems[:5]}; {trimmed(response.text)}"
        parts = [p for item in body["output"] if item.get("type") == "message" for p in item.get("content") or []]
        entries = [e for p in parts for e in p.get("logprobs") or []]
        text = responses_shapes.output_text(body)
        assert text or entries, f"sent {sent}: a 200 with no output text: {trimmed(response.text)}"
        usage = body["usage"]
        return answer_from(sent, text, entries, {"prompt_tokens": usage.get("input_tokens")})
