"""Conformance, Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`; capability
`messages`): the same greedy request answered through Messages and through chat gives the same text and
token counts; the event stream comes in Anthropic's order and adds up to the unstreamed message;
`max_tokens` ends with stop_reason "max_tokens"; images as `image` blocks (base64 and URL) reach the model;
a forced tool call is a `tool_use` block; errors come in Anthropic's error shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from harness.checks import imagegen, observed, openai_calls, tool_calls
from harness.checks.image_server import MediaServer
from harness.checks.openai_calls import MESSAGES, Call
from harness.checks.openai_shapes import trim
from harness.server.endpoint import Endpoint

CHAT = "/v1/chat/completions"
PROMPT = "Hello there, who are you?"
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use")
WEATHER = {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "rainy": {"type": "boolean"}},
           "required": ["city", "rainy"], "additionalProperties": False}


def body(endpoint: Endpoint, content: Any = PROMPT, **overrides: Any) -> dict[str, Any]:
    request = {"model": endpoint.model, "max_tokens": 12, "temperature": 0,
               "messages": [{"role": "user", "content": content}], **overrides}
    return {k: v for k, v in request.items() if v is not None}


def message_problems(message: Any) -> list[str]:
    """Anthropic's `message` object, field by field."""
    if not isinstance(message, dict):
        return [f"a JSON object, got {trim(message)}"]
    problems = [f"{key} {want!r}, got {message.get(key)!r}" for key, want in
                (("type", "message"), ("role", "assistant")) if message.get(key) != want]
    if not isinstance(message.get("id"), str) or not message["id"]:
        problems.append("a non-empty string id")
    blocks = message.get("content")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        problems.append(f"content as a list of typed blocks, got {trim(blocks)}")
    if message.get("stop_reason") not in STOP_REASONS:
        problems.append(f"stop_reason one of {STOP_REASONS}, got {message.get('stop_reason')!r}")
    usage = message.get("usage")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in ("input_tokens", "output_tokens")):
        problems.append(f"usage with integer input_tokens and output_tokens, got {usage!r}")
    return problems


def answered(call: Call) -> dict[str, Any]:
    assert call.status == 200, call.why("200 with a message")
    problems = message_problems(call.json)
    assert not problems, call.why(f"an Anthropic message; problems: {problems}")
    return call.json  # type: ignore[no-any-return]


def text_of(message: dict[str, Any]) -> str:
    return "".join(b.get("text") or "" for b in message["content"] if b.get("type") == "text")


def as_chat(request: dict[str, Any]) -> dict[str, Any]:
    return {"model": request["model"], "max_tokens": request["max_tokens"], "temperature": 0,
            "messages": [{"role": "user", "content": request["messages"][0]["content"]}]}


@pytest.mark.requires("messages")
def test_messages_answer_matches_chat(api: httpx.Client, endpoint: Endpoint) -> None:
    request = body(endpoint)
    call = openai_calls.post(api, MESSAGES, request)
    message = answered(call)
    chat = openai_calls.post(api, CHAT, as_chat(request))
    assert chat.status == 200, chat.why("200 from chat, to compare with")
    expected, usage = chat.json["choices"][0]["message"]["content"], chat.json["usage"]
    assert text_of(message) == expected, call.why(f"the text chat gives for the same greedy request: {expected!r}")
    counts = (message["usage"]["input_tokens"], message["usage"]["output_tokens"])
    assert counts == (usage["prompt_tokens"], usage["completion_tokens"]), call.why(
        f"input/output tokens as chat counts them: {usage['prompt_tokens']}/{usage['completion_tokens']}")


@pytest.mark.requires("messages")
def test_messages_max_tokens_stops_with_max_tokens(api: httpx.Client, endpoint: Endpoint) -> None:
    request = body(endpoint, max_tokens=3)
    chat = openai_calls.post(api, CHAT, as_chat(request))
    if chat.status != 200 or chat.json["choices"][0]["finish_reason"] != "length":
        pytest.skip(f"chat did not run to max_tokens on this prompt ({chat.why('finish_reason length')}): "
                    "nothing to cut")
    message = answered(openai_calls.post(api, MESSAGES, request))
    assert (message["stop_reason"], message["usage"]["output_tokens"]) == ("max_tokens", 3), (
        f"stop_reason 'max_tokens' after 3 output tokens; got {message['stop_reason']!r}, "
        f"{message['usage']['output_tokens']} tokens: {trim(message)}")


@pytest.mark.requires("messages")
@pytest.mark.parametrize("max_tokens", [pytest.param(12, id="answer"), pytest.param(3, id="cut")])
def test_messages_stream_in_order_adds_up(api: httpx.Client, endpoint: Endpoint, max_tokens: int) -> None:
    request = body(endpoint, max_tokens=max_tokens)
    plain = answered(openai_calls.post(api, MESSAGES, request))
    call = openai_calls.stream(api, MESSAGES, request)
    assert call.status == 200 and call.messages is not None, call.why("200 with an event stream")
    events = call.messages
    assert not events.violations and events.error is None, call.why("named events whose data type is their name")
    problems = events.order_problems()
    assert not problems, call.why(f"Anthropic's event order; problems: {problems}")
    start = events.of("message_start")[0].get("message")
    assert isinstance(start, dict) and start.get("type") == "message" and start.get("role") == "assistant", (
        call.why("message_start carrying a message object (type 'message', role 'assistant')"))
    assert events.text() == text_of(plain) and events.stop_reason == plain["stop_reason"], call.why(
        f"the unstreamed answer: {text_of(plain)!r}, stop_reason {plain['stop_reason']!r}")
    usage = events.of("message_delta")[-1]["usage"]
    assert usage.get("output_tokens") == plain["usage"]["output_tokens"], call.why(
        f"message_delta.usage.output_tokens {plain['usage']['output_tokens']}, as unstreamed")


@pytest.mark.requires("messages")
def test_messages_count_tokens_matches_usage(api: httpx.Client, endpoint: Endpoint) -> None:
    request = body(endpoint)
    message = answered(openai_calls.post(api, MESSAGES, request))
    call = openai_calls.post(api, f"{MESSAGES}/count_tokens", {"model": request["model"],
                                                               "messages": request["messages"]})
    assert call.status == 200 and isinstance(call.json, dict), call.why("200 with {input_tokens}")
    assert call.json.get("input_tokens") == message["usage"]["input_tokens"], call.why(
        f"input_tokens {message['usage']['input_tokens']}, as the message's usage counts them")


def image_block(png: bytes) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                        "data": base64.b64encode(png).decode()}}


def ask_image(api: httpx.Client, endpoint: Endpoint, block: dict[str, Any]) -> tuple[str, Call]:
    call = openai_calls.post(api, MESSAGES, body(endpoint, [block, {"type": "text", "text": "What is this?"}]))
    return text_of(answered(call)), call


@pytest.mark.requires("messages", "vision")
def test_messages_images_reach_the_model(api: httpx.Client, endpoint: Endpoint) -> None:
    images = {"checkerboard": imagegen.checkerboard(), "gradient": imagegen.gradient(), "shapes": imagegen.shapes()}
    answers: dict[str, str] = {}
    for label, picture in images.items():
        answers[label], call = ask_image(api, endpoint, image_block(imagegen.encode(picture)))
        chat = openai_calls.post(api, CHAT, {
            "model": endpoint.model, "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": imagegen.data_url(picture)}},
                {"type": "text", "text": "What is this?"}]}]})
        assert chat.status == 200, chat.why("200 from chat, to compare with")
        expected = chat.json["choices"][0]["message"]["content"]
        assert answers[label] == expected, call.why(f"the {label} image answered as chat answers it: {expected!r}")
    assert len(set(answers.values())) > 1, f"three different images, one answer: {answers}"


@pytest.mark.requires("messages", "vision")
def test_messages_image_by_url_answers_as_base64(api: httpx.Client, endpoint: Endpoint,
                                                 media_server: MediaServer) -> None:
    png = imagegen.encode(imagegen.gradient())
    url = media_server.publish(png, "image/png")
    fetched, call = ask_image(api, endpoint, {"type": "image", "source": {"type": "url", "url": url}})
    assert any(path in url for path in media_server.requests), call.why(f"the server fetching {url}")
    inline, _ = ask_image(api, endpoint, image_block(png))
    assert fetched == inline, call.why(f"the answer the same PNG gets as base64: {inline!r}")


@pytest.mark.requires("messages", "tools")
@pytest.mark.parametrize("streamed", [pytest.param(False, id="plain"), pytest.param(True, id="stream")])
def test_messages_forced_tool_is_a_tool_use_block(api: httpx.Client, endpoint: Endpoint, streamed: bool) -> None:
    tools = [{"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER, "strict": True}]
    request = body(endpoint, max_tokens=200, tools=tools, tool_choice={"type": "tool", "name": "get_weather"})
    if streamed:
        call = openai_calls.stream(api, MESSAGES, request)
        assert call.status == 200 and call.messages is not None, call.why("200 with an event stream")
        problems = call.messages.violations + call.messages.order_problems()
        assert not problems, call.why(f"Anthropic's event order; problems: {problems}")
        blocks, stop = call.messages.blocks(), call.messages.stop_reason
    else:
        call = openai_calls.post(api, MESSAGES, request)
        message = answered(call)
        blocks, stop = message["content"], message["stop_reason"]
    uses = [b for b in blocks if b.get("type") == "tool_use"]
    assert len(uses) == 1 and isinstance(uses[0].get("id"), str) and uses[0].get("name") == "get_weather", call.why(
        "one tool_use block of get_weather with an id")
    as_call = {"function": {"name": uses[0]["name"], "arguments": _json(uses[0].get("input"))}}
    problem = tool_calls.schema_problem(as_call, [{"function": {"name": "get_weather", "parameters": WEATHER}}])
    assert problem is None, call.why(problem or "")
    assert stop == "tool_use", call.why("stop_reason 'tool_use'")


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


BAD = {
    "unknown-model": dict(model="no-such-model"),
    "no-max-tokens": dict(max_tokens=None),
    "negative-max-tokens": dict(max_tokens=-1),
    "bad-role": dict(messages=[{"role": "robot", "content": PROMPT}]),
}


@pytest.mark.requires("messages")
@pytest.mark.parametrize("overrides", [pytest.param(v, id=k) for k, v in BAD.items()])
def test_messages_error_in_anthropic_shape(api: httpx.Client, endpoint: Endpoint, overrides: dict[str, Any],
                                           record_property: Any) -> None:
    call = openai_calls.post(api, MESSAGES, body(endpoint, **overrides))
    record_property(observed.STATUS, call.status)  # a fact for the expected-failure matcher
    error = call.json.get("error") if isinstance(call.json, dict) else None
    assert 400 <= call.status < 500 and call.json.get("type") == "error" and isinstance(error, dict) and all(
        isinstance(error.get(k), str) and error[k] for k in ("type", "message")), call.why(
        'a 4xx with Anthropic\'s error shape {"type": "error", "error": {"type": ..., "message": ...}}')


@pytest.fixture(scope="module")
def anthropic_client(endpoint: Endpoint) -> Any:
    """The official `anthropic` client on the server (no retries: a retry would hide a failure)."""
    anthropic = pytest.importorskip("anthropic", reason="the official anthropic client is not installed "
                                                        "(pip install anthropic, or the harness's dev extra)")
    return anthropic.Anthropic(base_url=endpoint.base_url, api_key=endpoint.api_key or "none", max_retries=0,
                               default_headers=endpoint.headers, timeout=120)


@pytest.mark.requires("messages")
def test_client_messages_create_stream_and_count(anthropic_client: Any, endpoint: Endpoint) -> None:
    # greedy through extra_body: anthropic 2.x's create() has no temperature argument
    request = {**body(endpoint, temperature=None), "extra_body": {"temperature": 0}}
    plain = anthropic_client.messages.create(**request)
    why = f"\n  sent: {trim(request)}\n  got:  {trim(plain.to_json())}"
    assert plain.type == "message" and plain.role == "assistant" and plain.content[0].type == "text", why
    with anthropic_client.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == plain.content[0].text and final.stop_reason == plain.stop_reason, (
        why + f"\n  expected: the stream's final message the same; got {trim(final.to_json())}")
    assert final.usage.output_tokens == plain.usage.output_tokens, why + "\n  expected: the same output_tokens"
    counted = anthropic_client.messages.count_tokens(model=request["model"], messages=request["messages"])
    assert counted.input_tokens == plain.usage.input_tokens, (
        why + f"\n  expected: count_tokens {plain.usage.input_tokens}; got {counted.input_tokens}")


@pytest.mark.requires("messages")
def test_client_messages_unknown_model_raises_not_found(anthropic_client: Any, endpoint: Endpoint) -> None:
    import anthropic

    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.messages.create(**body(endpoint, model="no-such-model-harness", temperature=None))
    assert caught.value.message.strip(), f"a NotFoundError with a message; got {caught.value!r}"
