"""Conformance, chat completions without streaming (raw HTTP, so every byte the server sent is judged).

The model may be random-weight: no check assumes specific text. Where a check needs the answer to run
to max_tokens it asks vLLM-like servers for `ignore_eos`; elsewhere it holds whichever way the answer
ends.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import Call, ServerFacts
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat")
PATH = "/v1/chat/completions"


def chat(api: httpx.Client, endpoint: Endpoint, **overrides: Any) -> Call:
    call = openai_calls.post(api, PATH, openai_calls.chat_payload(endpoint.model, **overrides))
    assert call.status == 200, call.why("200 with a chat.completion")
    problems = openai_shapes.chat_completion(call.json)
    assert not problems, call.why(f"an OpenAI chat.completion; problems: {problems}")
    return call


def content(call: Call, index: int = 0) -> str:
    return call.json["choices"][index]["message"]["content"] or ""


def test_chat_shape_role_and_usage(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, max_tokens=16)
    choice, usage = call.json["choices"][0], call.json["usage"]
    assert len(call.json["choices"]) == 1 and choice["index"] == 0, call.why("one choice, index 0")
    assert 0 < usage["completion_tokens"] <= 16 and usage["prompt_tokens"] > 0, call.why(
        "usage with prompt_tokens > 0 and 1..16 completion tokens (max_tokens 16)")
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 16, call.why("16 completion tokens when max_tokens=16 cut it")


def test_chat_finish_reason_length_when_max_tokens_cuts(api: httpx.Client, endpoint: Endpoint,
                                                        server: ServerFacts) -> None:
    call = chat(api, endpoint, max_tokens=5, **server.exact_length())
    reason, tokens = call.json["choices"][0]["finish_reason"], call.json["usage"]["completion_tokens"]
    if server.vllm_like:  # ignore_eos: the answer must run into the limit
        assert reason == "length" and tokens == 5, call.why("finish_reason 'length' with 5 completion tokens")
    else:  # an early end-of-sequence is legal: 'stop' below the limit, 'length' exactly at it
        assert (reason == "length" and tokens == 5) or (reason == "stop" and tokens <= 5), call.why(
            "'length' with 5 tokens, or 'stop' with at most 5")


def _stop_string(text: str) -> str | None:
    """A short piece of `text` that first occurs after its start, so stopping on it leaves a prefix."""
    for i in range(1, len(text) - 2):
        piece = text[i:i + 3]
        if piece.strip() and text.find(piece) == i:
            return piece
    return None


def test_chat_stop_sequence_ends_with_stop(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    full = content(chat(api, endpoint, max_tokens=24, **server.exact_length()))
    stop = _stop_string(full)
    if stop is None:
        pytest.skip(f"the greedy answer {full!r} is too short to pick a stop sequence from")
    call = chat(api, endpoint, max_tokens=24, stop=[stop], **server.exact_length())
    expected = full[:full.find(stop)]
    assert content(call) == expected and call.json["choices"][0]["finish_reason"] == "stop", call.why(
        f"content {expected!r} (the greedy answer {openai_shapes.trim(full, 80)!r} cut before the stop "
        f"sequence {stop!r}) and finish_reason 'stop'")


def test_chat_max_completion_tokens_is_honoured(api: httpx.Client, endpoint: Endpoint,
                                                server: ServerFacts) -> None:
    call = chat(api, endpoint, max_tokens=None, max_completion_tokens=3, **server.exact_length())
    tokens = call.json["usage"]["completion_tokens"]
    wanted = (tokens == 3) if server.vllm_like else (0 < tokens <= 3)
    assert wanted, call.why("3 completion tokens" if server.vllm_like else "at most 3 completion tokens")


def test_chat_n_gives_n_indexed_choices(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, n=3, temperature=0.8, seed=7, max_tokens=8)
    indexes = sorted(c["index"] for c in call.json["choices"])
    assert indexes == [0, 1, 2], call.why("3 choices with indexes 0, 1, 2 (n=3)")
    assert call.json["usage"]["completion_tokens"] <= 3 * 8, call.why("usage summed over 3 choices of <= 8 tokens")


def test_chat_logprobs_with_the_requested_top_count(api: httpx.Client, endpoint: Endpoint,
                                                    server: ServerFacts) -> None:
    call = chat(api, endpoint, max_tokens=6, logprobs=True, top_logprobs=3, **server.exact_length())
    logprobs = call.json["choices"][0].get("logprobs") or {}
    entries = logprobs.get("content")
    assert isinstance(entries, list) and entries, call.why("choices[0].logprobs.content: one entry per token")
    assert len(entries) == call.json["usage"]["completion_tokens"], call.why(
        "as many logprobs entries as completion tokens")
    for entry in entries:
        tops = entry.get("top_logprobs")
        ok = (isinstance(entry.get("token"), str) and isinstance(entry.get("logprob"), int | float)
              and entry["logprob"] <= 0 and isinstance(tops, list) and 1 <= len(tops) <= 3
              and all(isinstance(t.get("logprob"), int | float) for t in tops))
        assert ok, call.why(f"each entry: token, logprob <= 0, 1..3 top_logprobs; this one is {entry}")
    # OpenAI may return fewer "in rare cases", never more, and never fewer everywhere
    assert any(len(e["top_logprobs"]) == 3 for e in entries), call.why("3 top_logprobs per token")


def test_chat_logprobs_absent_unless_requested(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, max_tokens=4)
    assert call.json["choices"][0].get("logprobs") is None, call.why("no logprobs when none were asked for")


def test_chat_seed_makes_sampling_reproducible(api: httpx.Client, endpoint: Endpoint) -> None:
    first, second = (chat(api, endpoint, temperature=1.0, seed=1234, max_tokens=12) for _ in range(2))
    assert content(first) == content(second), second.why(f"the same text as with the same seed before: "
                                                          f"{openai_shapes.trim(content(first), 120)!r}")


def test_chat_temperature_zero_is_reproducible(api: httpx.Client, endpoint: Endpoint) -> None:
    first, second = (chat(api, endpoint, max_tokens=12) for _ in range(2))
    assert content(first) == content(second), second.why(f"the same greedy text as before: "
                                                          f"{openai_shapes.trim(content(first), 120)!r}")
