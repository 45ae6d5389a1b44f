"""Conformance through the official `openai` client, as users' code talks to the server: its typed
parsing, its own SSE reader and its error classes. The same key checks as the raw-HTTP files."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseTextDeltaEvent

from harness.checks.observed import no_answer
from harness.checks.openai_calls import LONG_PROMPT, ServerFacts
from harness.checks.openai_shapes import trim
from harness.checks.responses_shapes import TERMINAL_EVENTS
from harness.server.endpoint import Endpoint

MESSAGES = [{"role": "user", "content": LONG_PROMPT}]


def sent(**request: Any) -> str:
    return f"\n  sent: {trim(request)}"


def extra(server: ServerFacts) -> dict[str, Any]:
    return {"extra_body": server.exact_length()} if server.vllm_like else {}


def test_client_lists_the_model(openai_client: openai.OpenAI, endpoint: Endpoint) -> None:
    ids = [m.id for m in openai_client.models.list()]
    assert endpoint.model in ids, f"models.list() gave {ids}; expected '{endpoint.model}' among them"


def test_client_retrieves_the_model(openai_client: openai.OpenAI, endpoint: Endpoint,
                                    record_property: pytest.RecordProperty) -> None:
    with no_answer(record_property):  # an API error's status, or that none came (the upstream registry reads it)
        card = openai_client.models.retrieve(endpoint.model)
    assert card.id == endpoint.model, f"models.retrieve('{endpoint.model}') gave {card}"


@pytest.mark.requires("chat")
def test_client_chat_parses_with_usage(openai_client: openai.OpenAI, endpoint: Endpoint,
                                       server: ServerFacts) -> None:
    request = {"model": endpoint.model, "messages": MESSAGES, "max_tokens": 5, "temperature": 0.8, "n": 2,
               "seed": 1, **extra(server)}
    reply = openai_client.chat.completions.create(**request)
    why = sent(**request) + f"\n  got:  {trim(reply.to_json())}"
    assert isinstance(reply, ChatCompletion) and reply.object == "chat.completion", why
    assert [c.index for c in reply.choices] == [0, 1], why + "\n  expected: choices 0 and 1 (n=2)"
    assert all(c.message.role == "assistant" and isinstance(c.message.content, str) for c in reply.choices), why
    usage = reply.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, (
        why + "\n  expected: usage with total = prompt + completion")
    if server.vllm_like:
        assert all(c.finish_reason == "length" for c in reply.choices) and usage.completion_tokens == 10, (
            why + "\n  expected: finish_reason 'length', 5 tokens per choice (ignore_eos)")


@pytest.mark.requires("chat")
def test_client_chat_stream_matches_the_plain_answer(openai_client: openai.OpenAI, endpoint: Endpoint) -> None:
    request = {"model": endpoint.model, "messages": MESSAGES, "max_tokens": 12, "temperature": 0}
    plain = openai_client.chat.completions.create(**request)
    chunks = list(openai_client.chat.completions.create(**request, stream=True,
                                                        stream_options={"include_usage": True}))
    why = sent(**request, stream=True) + f"\n  got:  {len(chunks)} chunks, last {trim(chunks[-1:])}"
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks), why
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == plain.choices[0].message.content and reasons == [plain.choices[0].finish_reason], (
        why + f"\n  expected: the plain answer {trim(plain.choices[0].message.content, 120)!r}, one finish_reason")
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage, (
        why + f"\n  expected: a last usage chunk equal to {plain.usage}")


@pytest.mark.requires("completions")
def test_client_completion_with_list_prompt_and_logprobs(openai_client: openai.OpenAI, endpoint: Endpoint) -> None:
    request = {"model": endpoint.model, "prompt": [LONG_PROMPT, "Hi"], "max_tokens": 4, "temperature": 0,
               "logprobs": 1}
    reply = openai_client.completions.create(**request)
    why = sent(**request) + f"\n  got:  {trim(reply.to_json())}"
    assert isinstance(reply, Completion) and sorted(c.index for c in reply.choices) == [0, 1], why
    assert all(c.logprobs is not None and c.logprobs.tokens for c in reply.choices), why + "\n  expected: logprobs"


@pytest.mark.requires("chat")
@pytest.mark.parametrize("change,error", [
    pytest.param({"max_tokens": -1}, (openai.BadRequestError, openai.UnprocessableEntityError), id="bad-param"),
    pytest.param({"model": "no-such-model-harness"}, (openai.NotFoundError,), id="unknown-model")])
def test_client_raises_the_documented_error(openai_client: openai.OpenAI, endpoint: Endpoint,
                                            change: dict[str, Any], error: tuple[type[Exception], ...]) -> None:
    request = {"model": endpoint.model, "messages": MESSAGES, "max_tokens": 4, **change}
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(**request)
    exc = caught.value
    assert isinstance(exc, error) and exc.message.strip(), (
        sent(**request) + f"\n  got:  {type(exc).__name__} {exc.status_code} {trim(str(exc))}"
        f"\n  expected: {' or '.join(e.__name__ for e in error)} with a message")


@pytest.mark.requires("responses")
def test_client_responses_create_parses_with_usage(openai_client: openai.OpenAI, endpoint: Endpoint,
                                                   server: ServerFacts) -> None:
    request = {"model": endpoint.model, "input": LONG_PROMPT, "max_output_tokens": 5, "temperature": 0,
               **extra(server)}
    reply = openai_client.responses.create(**request)
    why = sent(**request) + f"\n  got:  {trim(reply.to_json())}"
    assert isinstance(reply, Response) and reply.object == "response", why
    usage = reply.usage
    assert usage is not None and usage.total_tokens == usage.input_tokens + usage.output_tokens, (
        why + "\n  expected: usage with total = input + output")
    if server.vllm_like:
        assert reply.output_text and usage.output_tokens == 5, (
            why + "\n  expected: output_text of 5 tokens (ignore_eos)")


@pytest.mark.requires("responses")
def test_client_responses_stream_matches_the_plain_answer(openai_client: openai.OpenAI, endpoint: Endpoint) -> None:
    request = {"model": endpoint.model, "input": LONG_PROMPT, "max_output_tokens": 12, "temperature": 0}
    plain = openai_client.responses.create(**request)
    events = list(openai_client.responses.create(**request, stream=True))
    why = sent(**request, stream=True) + f"\n  got:  {len(events)} events, last {trim(events[-1:])}"
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    final = next((e.response for e in reversed(events) if e.type in TERMINAL_EVENTS), None)  # type: ignore[union-attr]
    assert final is not None and isinstance(final, Response), why + "\n  expected: a terminal event with the response"
    assert text == final.output_text == plain.output_text, (
        why + f"\n  expected: deltas and final response both the plain answer {trim(plain.output_text, 120)!r}")
    assert final.usage == plain.usage, why + f"\n  expected: the plain answer's usage {plain.usage}"


WEATHER = {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}}, "required": ["city"],
           "additionalProperties": False}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                         "parameters": WEATHER, "strict": True}}


@pytest.mark.requires("chat", "tools")
def test_client_forced_tool_call_parses_and_streams_alike(openai_client: openai.OpenAI, endpoint: Endpoint) -> None:
    request = {"model": endpoint.model, "messages": MESSAGES, "max_tokens": 100, "temperature": 0, "tools": [TOOL],
               "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    plain = openai_client.chat.completions.create(**request)  # type: ignore[call-overload]
    why = sent(**request) + f"\n  got:  {trim(plain.to_json())}"
    calls = plain.choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "get_weather", (
        why + "\n  expected: one typed call of get_weather")
    assert json.loads(calls[0].function.arguments).get("city") in WEATHER["properties"]["city"]["enum"], (
        why + "\n  expected: arguments valid against the schema")
    pieces: dict[int, list[str]] = {}
    for chunk in openai_client.chat.completions.create(**request, stream=True):  # type: ignore[call-overload]
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            pieces.setdefault(delta.index, []).append(delta.function.arguments or "" if delta.function else "")
    streamed = {index: "".join(parts) for index, parts in pieces.items()}
    assert list(streamed) == [0] and json.loads(streamed[0]) == json.loads(calls[0].function.arguments), (
        why + f"\n  expected: the stream's argument pieces (index 0 only) adding up to them; got {streamed}")
