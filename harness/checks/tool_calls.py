"""Tool calls as the chat API returns them: a streamed answer's `delta.tool_calls` pieces assembled into the
calls an unstreamed answer would carry, with what the assembly found wrong, and each call's arguments judged
against the schema of the tool it names.

OpenAI streams a call as deltas sharing its `index`: the first carries `id`, `type` and `function.name`,
the rest only pieces of `function.arguments`. So: an index's first delta must have the id and the name,
no later delta may bring another id or name, indices are 0, 1, ... in order of first appearance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from harness.checks.sse import Stream


@dataclass
class Assembled:
    calls: list[dict[str, Any]] = field(default_factory=list)  # as message.tool_calls, ordered by index
    problems: list[str] = field(default_factory=list)
    deltas: int = 0  # chunks that carried a call's id, name or argument text (not an empty closing piece)


def assemble(stream: Stream, choice: int = 0) -> Assembled:
    out = Assembled()
    by_index: dict[int, dict[str, Any]] = {}
    for delta_choice in stream.choice_deltas(choice):
        delta = delta_choice.get("delta")
        pieces = delta.get("tool_calls") if isinstance(delta, dict) else None
        if not pieces:
            continue
        out.deltas += any(_carries(piece) for piece in pieces)
        for piece in pieces:
            _take(piece, by_index, out.problems)
    out.calls = [by_index[i] for i in sorted(by_index)]
    return out


def _carries(piece: Any) -> bool:
    function = piece.get("function") if isinstance(piece, dict) and isinstance(piece.get("function"), dict) else {}
    return bool(isinstance(piece, dict) and (piece.get("id") or function.get("name") or function.get("arguments")))


def _take(piece: Any, by_index: dict[int, dict[str, Any]], problems: list[str]) -> None:
    index = piece.get("index") if isinstance(piece, dict) else None
    if not isinstance(index, int):
        problems.append(f"a tool_calls delta without an integer index: {piece!r}"[:200])
        return
    function = piece.get("function") if isinstance(piece.get("function"), dict) else {}
    if index not in by_index:
        if index != len(by_index):
            problems.append(f"tool call index {index} appeared where index {len(by_index)} was next")
        if not isinstance(piece.get("id"), str) or not isinstance(function.get("name"), str):
            problems.append(f"the first delta of tool call {index} lacks its id or function.name: {piece!r}"[:200])
        by_index[index] = {"id": piece.get("id"), "type": piece.get("type"),
                           "function": {"name": function.get("name"), "arguments": ""}}
    else:
        call = by_index[index]
        if piece.get("id") not in (None, call["id"]):
            problems.append(f"tool call {index} got a second id {piece.get('id')!r} after {call['id']!r}")
        if function.get("name") not in (None, call["function"]["name"]):
            problems.append(f"tool call {index} got a second name {function.get('name')!r}")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        by_index[index]["function"]["arguments"] += arguments


def schema_problem(call: dict[str, Any], tools: list[dict[str, Any]]) -> str | None:
    """Why `call` is not a call of one of `tools` with arguments valid against its parameters (None: it is)."""
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools}
    name = function.get("name")
    if name not in schemas:
        return f"a call of one of {sorted(schemas)}, got {name!r}"
    try:
        arguments = json.loads(function.get("arguments") or "")
        jsonschema.validate(arguments, schemas[name])
    except (ValueError, jsonschema.ValidationError) as exc:
        return f"{name}'s arguments as JSON valid against its parameters ({str(exc).splitlines()[0]})"
    return None


def summary(calls: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Each call as (name, parsed arguments): what a streamed and an unstreamed answer must agree on (ids
    are the server's to choose)."""
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        try:
            arguments = json.loads(function.get("arguments") or "")
        except ValueError:
            arguments = function.get("arguments")
        out.append((function.get("name"), arguments))
    return out
