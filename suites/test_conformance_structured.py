"""Conformance, structured output (`response_format`), where the variant declares it: the output is validated
against the schema that was asked for (tools: test_conformance_tools.py). The schemas leave the model no
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
