"""Conformance, legacy completions (`/v1/completions`) without streaming: string and list prompts, echo,
logprobs, n, finish_reason and usage. (Streaming is in test_conformance_streaming.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import LONG_PROMPT, Call, ServerFacts
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("completions")
PATH = "/v1/completions"


def complete(api: httpx.Client, endpoint: Endpoint, **overrides: Any) -> Call:
    call = openai_calls.post(api, PATH, openai_calls.completion_payload(endpoint.model, **overrides))
    assert call.status == 200, call.why("200 with a text_completion")
    problems = openai_shapes.completion(call.json)
    assert not problems, call.why(f"an OpenAI text_completion; problems: {problems}")
    return call


def test_completion_string_prompt_shape_and_usage(api: httpx.Client, endpoint: Endpoint,
                                                  server: ServerFacts) -> None:
    call = complete(api, endpoint, max_tokens=6, **server.exact_length())
    choice, usage = call.json["choices"][0], call.json["usage"]
    assert len(call.json["choices"]) == 1 and choice["index"] == 0, call.why("one choice, index 0")
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 6, call.why(
        "prompt_tokens > 0 and 1..6 completion tokens (max_tokens 6)")
    if server.vllm_like:  # ignore_eos: the limit must be what ended it
        assert choice["finish_reason"] == "length" and usage["completion_tokens"] == 6, call.why(
            "finish_reason 'length' with 6 completion tokens")


def test_completion_list_prompt_gives_a_choice_per_prompt(api: httpx.Client, endpoint: Endpoint) -> None:
    prompts = [LONG_PROMPT, "Name three colours."]
    call = complete(api, endpoint, prompt=prompts, max_tokens=4)
    indexes = sorted(c["index"] for c in call.json["choices"])
    assert indexes == [0, 1], call.why("2 choices with indexes 0 and 1 (one per prompt)")
    single = complete(api, endpoint, prompt=prompts[1], max_tokens=4).json["usage"]["prompt_tokens"]
    first = complete(api, endpoint, prompt=prompts[0], max_tokens=4).json["usage"]["prompt_tokens"]
    assert call.json["usage"]["prompt_tokens"] == first + single, call.why(
        f"prompt_tokens summed over both prompts: {first} + {single}")


def test_completion_echo_returns_the_prompt_first(api: httpx.Client, endpoint: Endpoint) -> None:
    call = complete(api, endpoint, echo=True, max_tokens=4)
    text = call.json["choices"][0]["text"]
    assert text.startswith(LONG_PROMPT) and len(text) >= len(LONG_PROMPT), call.why(
        f"text starting with the prompt {LONG_PROMPT!r}")


def test_completion_logprobs_with_the_requested_top_count(api: httpx.Client, endpoint: Endpoint,
                                                          server: ServerFacts) -> None:
    call = complete(api, endpoint, logprobs=2, max_tokens=5, **server.exact_length())
    logprobs = call.json["choices"][0].get("logprobs") or {}
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    tops, offsets = logprobs.get("top_logprobs"), logprobs.get("text_offset")
    count = call.json["usage"]["completion_tokens"]
    assert all(isinstance(x, list) and len(x) == count for x in (tokens, values, tops, offsets)), call.why(
        f"logprobs.tokens, token_logprobs, top_logprobs, text_offset: {count} entries each (one per token)")
    assert all(isinstance(v, int | float) and v <= 0 for v in values), call.why("token_logprobs all <= 0")
    # the sampled token is always included, so a position may hold logprobs + 1 entries
    assert all(isinstance(t, dict) and 1 <= len(t) <= 3 for t in tops), call.why("1..3 top_logprobs per token")
    assert any(len(t) >= 2 for t in tops), call.why("2 top_logprobs per token (logprobs=2)")


def test_completion_logprobs_absent_unless_requested(api: httpx.Client, endpoint: Endpoint) -> None:
    call = complete(api, endpoint, max_tokens=4)
    assert call.json["choices"][0].get("logprobs") is None, call.why("no logprobs when none were asked for")


def test_completion_n_gives_n_indexed_choices(api: httpx.Client, endpoint: Endpoint) -> None:
    call = complete(api, endpoint, n=2, temperature=0.8, seed=5, max_tokens=6)
    indexes = sorted(c["index"] for c in call.json["choices"])
    assert indexes == [0, 1], call.why("2 choices with indexes 0 and 1 (n=2)")
