"""The readers behind the tools and Messages checks: streamed tool-call deltas assembled (and what is wrong
with them), and Anthropic's event order judged, on hand-written streams."""

from __future__ import annotations

import json
from typing import Any

from harness.checks import messages_stream, sse, tool_calls

WEATHER = {"type": "object", "properties": {"city": {"enum": ["Oslo"]}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]


def chat_stream(*pieces: list[dict[str, Any]]) -> sse.Stream:
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": p}}]} for p in pieces]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return sse.read([body.encode()])


def first(index: int, ident: str, name: str, arguments: str = "") -> dict[str, Any]:
    return {"index": index, "id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


def more(index: int, arguments: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": arguments}}


def test_pieces_assemble_into_calls() -> None:
    built = tool_calls.assemble(chat_stream([first(0, "a", "get_weather")], [more(0, '{"city": ')],
                                            [more(0, '"Oslo"}')], [first(1, "b", "get_time", "{}")]))
    assert not built.problems and built.deltas == 4
    assert tool_calls.summary(built.calls) == [("get_weather", {"city": "Oslo"}), ("get_time", {})]
    assert tool_calls.schema_problem(built.calls[0], TOOLS) is None
    assert "get_weather" in (tool_calls.schema_problem(built.calls[1], TOOLS) or "")


def test_a_whole_call_in_one_delta_assembles() -> None:
    built = tool_calls.assemble(chat_stream([first(0, "a", "get_weather", '{"city": "Oslo"}')]))
    assert not built.problems and tool_calls.summary(built.calls) == [("get_weather", {"city": "Oslo"})]


def test_broken_deltas_are_named() -> None:
    problems = tool_calls.assemble(chat_stream([first(1, "a", "f")], [{"index": 1, "id": "z"}],
                                               [{"index": 2, "function": {"arguments": "{}"}}])).problems
    assert any("index 1 appeared where index 0" in p for p in problems)
    assert any("second id 'z'" in p for p in problems)
    assert any("lacks its id" in p for p in problems)


def test_invalid_arguments_are_a_schema_problem() -> None:
    call = {"function": {"name": "get_weather", "arguments": '{"city": "Lima"}'}}
    assert "valid against" in (tool_calls.schema_problem(call, TOOLS) or "")
    call["function"]["arguments"] = "{not json"
    assert "valid against" in (tool_calls.schema_problem(call, TOOLS) or "")


def anthropic(*events: dict[str, Any], name: str | None = None) -> messages_stream.MessageStream:
    body = "".join(f"event: {name or e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return messages_stream.read([body.encode()])


START = {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": []}}
TEXT = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 0}]
TOOL = [{"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f",
                                                                      "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a"'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ": 1}"}},
        {"type": "content_block_stop", "index": 1}]
END = [{"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
       {"type": "message_stop"}]


def test_a_stream_in_anthropics_order_has_no_problems() -> None:
    stream = anthropic(START, {"type": "ping"}, *TEXT, *TOOL, *END)
    assert not stream.violations and not stream.order_problems()
    assert stream.text() == "Hello" and stream.stop_reason == "tool_use"
    assert stream.blocks()[1] == {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}


def test_each_broken_rule_is_named() -> None:
    assert any("message_start" in p for p in anthropic(*TEXT, *END).order_problems())
    assert any("message_stop" in p for p in anthropic(START, *TEXT, END[0]).order_problems())
    assert any("message_delta" in p for p in anthropic(START, *TEXT, END[1]).order_problems())
    assert any("still open" in p for p in anthropic(START, *TEXT[:3], *END).order_problems())
    assert any("index 1 where block 0" in p for p in anthropic(START, *TOOL, *END).order_problems())
    assert any("'text_delta' in a 'tool_use'" in p for p in anthropic(
        START, TOOL[0] | {"index": 0}, TEXT[1], {"type": "content_block_stop", "index": 0}, *END).order_problems())
    stop = [{"type": "message_delta", "delta": {"stop_reason": "done"}, "usage": {}}, END[1]]
    assert len(anthropic(START, *TEXT, *stop).order_problems()) == 2


def test_framing_violations_are_collected() -> None:
    assert any("event name" in v for v in anthropic(START, name="message").violations)
    done = messages_stream.read([b"event: message_stop\ndata: {\"type\": \"message_stop\"}\n\ndata: [DONE]\n\n"])
    assert any("[DONE]" in v for v in done.violations)
