"""Conformance, structured output (`response_format`) and tools (`tool_choice`), where the variant declares
them: the output is validated against the schema that was asked for. The schemas leave the model no
free text (enums, booleans), so even a random-weight model's constrained answer is short and checkable."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import Call
from harness.server.endpoint import Endpoint

PATH = "/v1/chat/completions"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "rainy": {"type": "boolean"}},
    "required": ["city", "rainy"],
    "additionalProperties": False,
}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                         "parameters": SCHEMA}}
ROOM = 200  # tokens: far more than any answer the schema allows


def chat(api: httpx.Client, endpoint: Endpoint, **overrides: Any) -> Call:
    body = openai_calls.chat_payload(endpoint.model, **{"max_tokens": ROOM, **overrides})
    body["messages"] = [{"role": "user", "content": "What is the weather in Paris? Answer in JSON."}]
    call = openai_calls.post(api, PATH, body)
    assert call.status == 200, call.why("200 with a chat.completion")
    problems = openai_shapes.chat_completion(call.json)
    assert not problems, call.why(f"an OpenAI chat.completion; problems: {problems}")
    return call


def valid(call: Call, text: str, schema: dict[str, Any], what: str) -> Any:
    try:
        value = json.loads(text)
        jsonschema.validate(value, schema)
    except (ValueError, jsonschema.ValidationError) as exc:
        pytest.fail(call.why(f"{what} valid against {json.dumps(schema)} ({str(exc).splitlines()[0]})"),
                    pytrace=False)
    return value


@pytest.mark.requires("chat", "structured_output")
def test_response_format_json_schema_is_followed(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, response_format={"type": "json_schema",
                                                "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}})
    choice = call.json["choices"][0]
    assert choice["finish_reason"] == "stop", call.why(f"a complete answer within {ROOM} tokens (finish 'stop')")
    valid(call, choice["message"]["content"], SCHEMA, "content")


@pytest.mark.requires("chat", "structured_output")
def test_response_format_json_object_is_json(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, response_format={"type": "json_object"})
    choice = call.json["choices"][0]
    text = choice["message"]["content"]
    if choice["finish_reason"] == "length":  # free-form JSON may outgrow any limit: it must at least start so
        assert text.lstrip().startswith("{"), call.why("a JSON object (cut by max_tokens, but starting with '{')")
    else:
        valid(call, text, {"type": "object"}, "content")


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("tool_choice", [
    pytest.param({"type": "function", "function": {"name": "get_weather"}}, id="named"),
    pytest.param("required", id="required")])
def test_tool_choice_forces_a_valid_call(api: httpx.Client, endpoint: Endpoint, tool_choice: Any) -> None:
    call = chat(api, endpoint, tools=[TOOL], tool_choice=tool_choice)
    choice = call.json["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    assert calls and calls[0].get("type") == "function", call.why("message.tool_calls with a function call")
    function = calls[0].get("function") or {}
    assert function.get("name") == "get_weather" and isinstance(calls[0].get("id"), str), call.why(
        "a call of get_weather with an id")
    # OpenAI ends a forced named call with 'stop', a 'required' one with 'tool_calls'
    assert choice["finish_reason"] in ("stop", "tool_calls"), call.why("finish_reason 'stop' or 'tool_calls'")
    valid(call, function.get("arguments", ""), SCHEMA, "function.arguments")


@pytest.mark.requires("chat", "tools")
def test_tool_choice_none_answers_in_text(api: httpx.Client, endpoint: Endpoint) -> None:
    call = chat(api, endpoint, tools=[TOOL], tool_choice="none", max_tokens=8)
    message = call.json["choices"][0]["message"]
    assert not message.get("tool_calls") and isinstance(message.get("content"), str), call.why(
        "a text answer and no tool_calls (tool_choice 'none')")
