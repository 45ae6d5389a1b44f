"""Reasoning (capability `reasoning`; the parser's markers in the variant's [reasoning] table): the server
splits an answer into `reasoning` (vLLM 0.32; `reasoning_content` before it) and `content`. Checked: the two
partition the generated text (every token in one of them, only the parser's markers left out), streamed
deltas add up to exactly the unstreamed split (nothing lost at the end of a stream, vLLM #41691; nothing
moved between the two), and a request with `include_reasoning: false` keeps the content and drops the
reasoning. A random-weight model writes the reasoning shape only where [reasoning] force_regex makes it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import Call
from harness.server.endpoint import Endpoint
from harness.spec.variant import ReasoningSpec

CHAT = "/v1/chat/completions"
SPECIAL = re.compile(r"<[^<>\s]+>")  # how end-of-sequence tokens are written
FIELDS = ("reasoning", "reasoning_content")  # vLLM 0.32's name first, the older one second

pytestmark = pytest.mark.requires("reasoning", "chat")


@pytest.fixture(scope="module")
def markers(endpoint: Endpoint) -> ReasoningSpec:
    spec = endpoint.variant.reasoning if endpoint.variant else None
    if spec is None:
        pytest.skip("the variant declares no [reasoning] table (the parser's end marker, and start if any)")
    return spec


def body(endpoint: Endpoint, markers: ReasoningSpec, **overrides: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"structured_outputs": {"regex": markers.force_regex}} if markers.force_regex else {}
    return openai_calls.chat_payload(endpoint.model, max_tokens=160, logprobs=True, **extra, **overrides)


def reasoning_of(message: dict[str, Any]) -> str:
    for name in FIELDS:
        if isinstance(message.get(name), str):
            return str(message[name])
    return ""


def split(call: Call) -> tuple[str, str, str]:
    """(reasoning, content, the generated text as its token log-probabilities list it, less the end-of-sequence
    token a stopped answer lists last: a special token, never part of the text)."""
    assert call.status == 200, call.why("200 to a chat request")
    choice = call.json["choices"][0]
    message = choice.get("message") or {}
    tokens = [t.get("token", "") for t in ((choice.get("logprobs") or {}).get("content")) or []]
    content = message.get("content") or ""
    # only a special-token-shaped last piece (<|im_end|>, </s>) is left out: a lost last content token must
    # still show as a difference
    if choice.get("finish_reason") == "stop" and tokens and SPECIAL.fullmatch(tokens[-1].strip()):
        tokens = tokens[:-1]
    return reasoning_of(message), content, "".join(tokens)


def test_reasoning_and_content_partition_the_text(api: httpx.Client, endpoint: Endpoint,
                                                  markers: ReasoningSpec) -> None:
    call = openai_calls.post(api, CHAT, body(endpoint, markers))
    reasoning, content, text = split(call)
    if not text:
        pytest.skip("the server lists no per-token log-probabilities: the generated text cannot be rebuilt")
    if markers.end not in text:
        pytest.skip(f"the answer never closed its reasoning ({markers.end!r} not in {openai_shapes.trim(text)}): "
                    "nothing to split (a random model needs [reasoning] force_regex)")
    assert reasoning.strip() and content.strip(), call.why(
        f"a reasoning and a content, both non-empty (the text was {openai_shapes.trim(text)})")
    want = expected_split(text, markers)
    assert want is not None, call.why(f"only whitespace before {markers.start!r} in {openai_shapes.trim(text)}")
    assert (reasoning, content) == want, call.why(
        f"the generated text cut at the parser's markers: reasoning {openai_shapes.trim(want[0])}, content "
        f"{openai_shapes.trim(want[1])}; got reasoning {openai_shapes.trim(reasoning)} and content "
        f"{openai_shapes.trim(content)}")


def expected_split(text: str, markers: ReasoningSpec) -> tuple[str, str] | None:
    """The (reasoning, content) a parser cutting on the markers makes of `text`: whitespace before the start
    marker belongs to neither (a tokenizer's leading space); anything else there is not the parser's shape."""
    at = text.find(markers.start) if markers.start else 0
    if at < 0 or text[:at].strip():
        return None
    after = text[at + len(markers.start):]
    end = after.find(markers.end)
    return after[:end], after[end + len(markers.end):]


def test_reasoning_stream_adds_up_to_the_unstreamed_split(api: httpx.Client, endpoint: Endpoint,
                                                           markers: ReasoningSpec) -> None:
    whole = openai_calls.post(api, CHAT, body(endpoint, markers))
    reasoning, content, text = split(whole)
    if markers.end not in text and markers.end not in content:
        pytest.skip("the answer never closed its reasoning: nothing to compare (a random model needs force_regex)")
    call = openai_calls.stream(api, CHAT, body(endpoint, markers))
    assert call.status == 200 and call.stream is not None, call.why("200 with an event stream")
    deltas = [(c.get("choices") or [{}])[0].get("delta") or {} for c in call.stream.chunks if c.get("choices")]
    streamed = ("".join(reasoning_of(d) for d in deltas), "".join(d.get("content") or "" for d in deltas))
    assert streamed == (reasoning, content), call.why(
        f"the deltas adding up to the unstreamed split: reasoning {openai_shapes.trim(reasoning)}, content "
        f"{openai_shapes.trim(content)}; streamed reasoning {openai_shapes.trim(streamed[0])}, content "
        f"{openai_shapes.trim(streamed[1])}")


def test_reasoning_left_out_on_request(api: httpx.Client, endpoint: Endpoint, markers: ReasoningSpec) -> None:
    reasoning, content, _ = split(openai_calls.post(api, CHAT, body(endpoint, markers)))
    if not reasoning:
        pytest.skip("the answer carried no reasoning to leave out")
    call = openai_calls.post(api, CHAT, body(endpoint, markers, include_reasoning=False))
    without, kept, _ = split(call)
    assert without == "" and kept == content, call.why(
        f"no reasoning, and the same content {openai_shapes.trim(content)}; got reasoning "
        f"{openai_shapes.trim(without)} and content {openai_shapes.trim(kept)}")
