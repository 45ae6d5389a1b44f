"""Conformance, errors: a bad request gets a 4xx with a message in OpenAI's nested error shape or vLLM's
flat one (both accepted; which one is recorded as the test's `error_shape` property), never a 5xx; an
unknown model gets 404; and after every bad request the server is still healthy and still answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import ServerFacts
from harness.checks.refusals import rejected, rejected_and_still_serving, still_serving
from harness.server.endpoint import Endpoint

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
MALFORMED = b'{"model": "m", "messages": [{"role": "user", "content": "hi"'  # cut short


def _chat(model: str, **overrides: Any) -> dict[str, Any]:
    return openai_calls.chat_payload(model, **{"max_tokens": 4, **overrides})


def _completion(model: str, **overrides: Any) -> dict[str, Any]:
    return openai_calls.completion_payload(model, **{"max_tokens": 4, **overrides})


def _too_long(model: str, max_len: int) -> dict[str, Any]:
    # every word is at least one token, so this is longer than the context whatever the tokenizer
    return _chat(model, messages=[{"role": "user", "content": " hello" * (max_len + 64)}])


# (id, path, capability, payload builder)
BAD_REQUESTS: list[tuple[str, str, str, Callable[[str], dict[str, Any]]]] = [
    ("chat-negative-max-tokens", CHAT, "chat", lambda m: _chat(m, max_tokens=-1)),
    ("chat-temperature-out-of-range", CHAT, "chat", lambda m: _chat(m, temperature=-1.0)),
    ("chat-max-tokens-wrong-type", CHAT, "chat", lambda m: _chat(m, max_tokens="ten")),
    ("chat-messages-wrong-type", CHAT, "chat", lambda m: _chat(m, messages="hello")),
    ("chat-missing-messages", CHAT, "chat", lambda m: {"model": m, "max_tokens": 4}),
    ("chat-empty-messages", CHAT, "chat", lambda m: _chat(m, messages=[])),
    ("chat-n-zero", CHAT, "chat", lambda m: _chat(m, n=0)),
    ("completion-negative-max-tokens", COMPLETIONS, "completions", lambda m: _completion(m, max_tokens=-1)),
    ("completion-missing-prompt", COMPLETIONS, "completions", lambda m: {"model": m, "max_tokens": 4}),
    ("completion-logprobs-wrong-type", COMPLETIONS, "completions", lambda m: _completion(m, logprobs="many")),
]


@pytest.mark.parametrize("path,capability,build", [
    pytest.param(path, cap, build, marks=pytest.mark.requires(cap), id=name)
    for name, path, cap, build in BAD_REQUESTS])
def test_bad_request_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint, path: str, capability: str,
                                             build: Callable[[str], dict[str, Any]],
                                             record_property: Callable[[str, object], None]) -> None:
    call = openai_calls.post(api, path, build(endpoint.model))
    rejected_and_still_serving(call, record_property, api, endpoint)


@pytest.mark.requires("chat")
def test_malformed_json_is_a_4xx(api: httpx.Client, endpoint: Endpoint,
                                 record_property: Callable[[str, object], None]) -> None:
    call = openai_calls.post(api, CHAT, None, raw=MALFORMED)
    rejected_and_still_serving(call, record_property, api, endpoint)


@pytest.mark.requires("chat")
def test_prompt_longer_than_the_context_is_a_4xx(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                                 record_property: Callable[[str, object], None]) -> None:
    if server.max_model_len is None:
        pytest.skip("max_model_len unknown (not on /v1/models, not in the variant spec)")
    call = openai_calls.post(api, CHAT, _too_long(endpoint.model, server.max_model_len))
    rejected_and_still_serving(call, record_property, api, endpoint)


@pytest.mark.requires("completions")
def test_empty_prompt_is_never_a_5xx(api: httpx.Client, endpoint: Endpoint) -> None:
    # OpenAI's legacy endpoint completes an empty prompt; vLLM rejects it with 400: both are fair
    call = openai_calls.post(api, COMPLETIONS, _completion(endpoint.model, prompt=""))
    if call.status == 200:
        problems = openai_shapes.completion(call.json)
        assert not problems, call.why(f"a 4xx, or a well-formed text_completion; problems: {problems}")
    else:
        shape, message = openai_shapes.error_shape(call.json)
        assert 400 <= call.status < 500 and shape and message.strip(), call.why(
            "a 4xx with an error message, or 200 with a completion")
    still_serving(api, endpoint, call)


@pytest.mark.parametrize("path", [pytest.param(CHAT, marks=pytest.mark.requires("chat"), id="chat"),
                                  pytest.param(COMPLETIONS, marks=pytest.mark.requires("completions"),
                                               id="completions")])
def test_unknown_model_is_404(api: httpx.Client, endpoint: Endpoint, path: str,
                              record_property: Callable[[str, object], None]) -> None:
    build = _chat if path == CHAT else _completion
    call = openai_calls.post(api, path, build("no-such-model-harness"))
    assert call.status == 404, call.why("404 for a model the server does not serve")
    rejected(call, record_property, "404")
    still_serving(api, endpoint, call)
