"""Conformance, tool calling (capability `tools`): `tool_choice` named or "required" makes the server call a
declared function with arguments valid against its schema (`strict: true` tools, so even a random-weight
model's constrained call is short and checkable), a stream's deltas assemble into the unstreamed call,
"none" never calls, a tool result carried back is answered, bad tool declarations are refused.

With `tool_choice: "auto"` the tool parser itself must find the call in the text. A random model never
writes one, so where the server is vLLM and its parser's format is known (the variant serves
`--tool-call-parser hermes`), vLLM's `structured_outputs.regex` makes it write exactly that format and the
parser must turn the text into `tool_calls`."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes, refusals, tool_calls
from harness.checks.openai_calls import Call, ServerFacts
from harness.server.endpoint import Endpoint

PATH = "/v1/chat/completions"
WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "rainy": {"type": "boolean"}},
    "required": ["city", "rainy"],
    "additionalProperties": False,
}
CLOCK: dict[str, Any] = {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"],
                         "additionalProperties": False}


def tool(name: str, schema: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": f"{name} for a place", "parameters": schema,
                                             "strict": True}}


TOOLS = [tool("get_weather", WEATHER), tool("get_time", CLOCK)]
NAMED = {"type": "function", "function": {"name": "get_time"}}
ROOM = 200  # tokens: far more than any call the schemas allow


def literal(text: str) -> str:
    """`text` as a regex matching only itself (only the metacharacters escaped: the pattern reads as the text)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


# vLLM's parsers by the text they find a call in, each as a regex that writes the given calls exactly; compact
# JSON and no newline between calls: the parser must not need whitespace (cpu-tiny's tokenizer has none)
CALL_FORMATS = {"hermes": lambda calls: literal("".join(
    f"<tool_call>{json.dumps({'name': name, 'arguments': args}, separators=(',', ':'))}</tool_call>"
    for name, args in calls))}
ONE_CALL = [("get_weather", {"city": "Oslo", "rainy": True})]
TWO_CALLS = [*ONE_CALL, ("get_time", {"zone": "CET"})]


def request(endpoint: Endpoint, **overrides: Any) -> dict[str, Any]:
    body = openai_calls.chat_payload(endpoint.model, **{"max_tokens": ROOM, "tools": TOOLS, **overrides})
    body["messages"] = [{"role": "user", "content": "What is the weather in Oslo, and the time there?"}]
    return body


def answered(call: Call) -> dict[str, Any]:
    assert call.status == 200, call.why("200 with a chat.completion")
    problems = openai_shapes.chat_completion(call.json)
    assert not problems, call.why(f"an OpenAI chat.completion; problems: {problems}")
    return call.json["choices"][0]  # type: ignore[no-any-return]


def valid_calls(call: Call, calls: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each call a function call of one of `tools` with an id and arguments valid against its schema."""
    assert isinstance(calls, list) and calls, call.why("message.tool_calls with at least one call")
    for made in calls:
        assert made.get("type") == "function" and isinstance(made.get("id"), str) and made["id"], call.why(
            f"each call of type 'function' with an id; got {made}")
        problem = tool_calls.schema_problem(made, tools)
        assert problem is None, call.why(problem or "")
    ids = [made["id"] for made in calls]
    assert len(set(ids)) == len(ids), call.why(f"a distinct id per call; got {ids}")
    return calls


def auto_format(endpoint: Endpoint, server: ServerFacts) -> Any:
    """The regex writer for the variant's parser, or skip: only a known format can be forced."""
    if not server.vllm_like:
        pytest.skip("forcing a call's text needs vLLM's structured_outputs (the server has no vLLM /version)")
    args = endpoint.variant.serve.extra_args if endpoint.variant is not None else ()
    parser = next((b for a, b in itertools.pairwise(args) if a == "--tool-call-parser"), None)
    if parser not in CALL_FORMATS:
        pytest.skip(f"the variant's tool parser ({parser or 'none declared'}) has no known text format here; "
                    f"known: {', '.join(CALL_FORMATS)}")
    return CALL_FORMATS[parser]


@pytest.mark.requires("chat", "tools")
def test_tools_named_choice_calls_that_function(api: httpx.Client, endpoint: Endpoint) -> None:
    call = openai_calls.post(api, PATH, request(endpoint, tool_choice=NAMED))
    choice = answered(call)
    calls = valid_calls(call, choice["message"].get("tool_calls"), TOOLS)
    assert [c["function"]["name"] for c in calls] == ["get_time"], call.why("exactly one call, of get_time (named)")
    # OpenAI ends a forced named call with 'stop', vLLM too; 'tool_calls' is as fair
    assert choice["finish_reason"] in ("stop", "tool_calls"), call.why("finish_reason 'stop' or 'tool_calls'")


@pytest.mark.requires("chat", "tools")
def test_tools_required_choice_calls_declared_functions(api: httpx.Client, endpoint: Endpoint) -> None:
    # one call: a random model forced into "a call" may write calls until max_tokens
    call = openai_calls.post(api, PATH, request(endpoint, tool_choice="required", parallel_tool_calls=False))
    choice = answered(call)
    valid_calls(call, choice["message"].get("tool_calls"), TOOLS)
    assert choice["finish_reason"] == "tool_calls", call.why("finish_reason 'tool_calls' (tool_choice 'required')")


@pytest.mark.requires("chat", "tools")
def test_tools_call_ids_differ_between_answers(api: httpx.Client, endpoint: Endpoint) -> None:
    first, second = (openai_calls.post(api, PATH, request(endpoint, tool_choice=NAMED)) for _ in range(2))
    ids = [c.get("id") for call in (first, second) for c in answered(call)["message"].get("tool_calls") or []]
    assert len(ids) == 2 and len(set(ids)) == 2, second.why(f"two answers' calls with distinct ids; got {ids}")


def compare_streamed(api: httpx.Client, body: dict[str, Any], record_property: Any) -> None:
    plain = openai_calls.post(api, PATH, body)
    expected = answered(plain)
    streamed = openai_calls.stream(api, PATH, body)
    assert streamed.status == 200 and streamed.stream is not None, streamed.why("200 with a stream")
    built = tool_calls.assemble(streamed.stream)
    record_property("tool_call_deltas", built.deltas)  # 1 per call: each arrived whole (a long --stream-interval)
    assert not built.problems, streamed.why(f"tool-call deltas as OpenAI streams them; problems: {built.problems}")
    want = tool_calls.summary(expected["message"].get("tool_calls") or [])
    assert want, plain.why("an unstreamed answer with tool_calls to compare with")
    assert tool_calls.summary(built.calls) == want, streamed.why(
        f"the deltas assembling into the unstreamed calls {want}; assembled {tool_calls.summary(built.calls)}")
    assert streamed.stream.finish_reasons() == [expected["finish_reason"]], streamed.why(
        f"one finish_reason, {expected['finish_reason']!r} as unstreamed")


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("tool_choice", [pytest.param(NAMED, id="named"), pytest.param("required", id="required")])
def test_tools_stream_assembles_into_the_unstreamed_call(api: httpx.Client, endpoint: Endpoint,
                                                         tool_choice: Any, record_property: Any) -> None:
    compare_streamed(api, request(endpoint, tool_choice=tool_choice, parallel_tool_calls=False), record_property)


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("written", [pytest.param(ONE_CALL, id="one"), pytest.param(TWO_CALLS, id="parallel")])
def test_tools_auto_parser_finds_the_written_calls(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                                   written: list[tuple[str, Any]]) -> None:
    body = request(endpoint, tool_choice="auto", structured_outputs={"regex": auto_format(endpoint, server)(written)})
    call = openai_calls.post(api, PATH, body)
    choice = answered(call)
    calls = valid_calls(call, choice["message"].get("tool_calls"), TOOLS)
    assert tool_calls.summary(calls) == written, call.why(f"the parser finding exactly the calls written: {written}")
    assert choice["finish_reason"] == "tool_calls", call.why("finish_reason 'tool_calls'")
    assert not (choice["message"].get("content") or "").strip(), call.why("no call text left in content")


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("written", [pytest.param(ONE_CALL, id="one"), pytest.param(TWO_CALLS, id="parallel")])
def test_tools_auto_stream_assembles_into_the_unstreamed_calls(api: httpx.Client, endpoint: Endpoint,
                                                              server: ServerFacts,
                                                              written: list[tuple[str, Any]],
                                                              record_property: Any) -> None:
    compare_streamed(api, request(endpoint, tool_choice="auto",
                                  structured_outputs={"regex": auto_format(endpoint, server)(written)}),
                     record_property)


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("written", [pytest.param(ONE_CALL, id="one"), pytest.param(TWO_CALLS, id="parallel")])
def test_tools_whole_calls_in_one_delta_are_kept(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                                 written: list[tuple[str, Any]], record_property: Any) -> None:
    """vLLM #47907: a parser must not lose a call that reaches it whole. Observable only where the server
    sends each call in one delta (vLLM's --stream-interval longer than the call: images/cpu-tiny-tools). A
    forced call is not among these: vLLM flushes the first token alone, and a forced call starts with it."""
    body = request(endpoint, tool_choice="auto", structured_outputs={"regex": auto_format(endpoint, server)(written)})
    streamed = openai_calls.stream(api, PATH, body)
    assert streamed.status == 200 and streamed.stream is not None, streamed.why("200 with a stream")
    built = tool_calls.assemble(streamed.stream)
    if built.calls and built.deltas > len(built.calls):
        pytest.skip(f"the server streamed {len(built.calls)} call(s) in {built.deltas} deltas: no call arrived "
                    "whole (vLLM sends whole calls with a long --stream-interval, e.g. images/cpu-tiny-tools)")
    compare_streamed(api, body, record_property)


@pytest.mark.requires("chat", "tools")
def test_tools_choice_none_never_calls(api: httpx.Client, endpoint: Endpoint) -> None:
    call = openai_calls.post(api, PATH, request(endpoint, tool_choice="none", max_tokens=8))
    message = answered(call)["message"]
    assert not message.get("tool_calls") and isinstance(message.get("content"), str), call.why(
        "a text answer and no tool_calls (tool_choice 'none')")


@pytest.mark.requires("chat", "tools")
def test_tools_result_carried_back_is_answered(api: httpx.Client, endpoint: Endpoint) -> None:
    body = request(endpoint, max_tokens=8, tool_choice="none")
    made = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps(ONE_CALL[0][1])}}
    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [made]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"celsius": 12})}]
    call = openai_calls.post(api, PATH, body)
    message = answered(call)["message"]
    assert isinstance(message.get("content"), str), call.why("a text answer to the tool's result")


BAD_TOOLS = {
    "parameters-not-a-schema": dict(tools=[tool("get_weather", "not a schema")], tool_choice="required"),
    "schema-not-an-object": dict(tools=[tool("get_weather", {"type": "string"})], tool_choice="required"),
    "duplicate-names": dict(tools=[tool("get_weather", WEATHER), tool("get_weather", CLOCK)], tool_choice="required"),
    "unknown-function": dict(tool_choice={"type": "function", "function": {"name": "get_news"}}),
    "choice-without-tools": dict(tools=None, tool_choice="required"),
}


@pytest.mark.requires("chat", "tools")
@pytest.mark.parametrize("overrides", [pytest.param(v, id=k) for k, v in BAD_TOOLS.items()])
def test_tools_bad_declaration_is_refused(api: httpx.Client, endpoint: Endpoint, overrides: dict[str, Any],
                                          record_property: Any) -> None:
    call = openai_calls.post(api, PATH, request(endpoint, **overrides))
    refusals.rejected_and_still_serving(call, record_property, api, endpoint)
