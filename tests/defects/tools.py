"""Tool-calling, Anthropic Messages and operations-route defects for the proxy: each breaks one thing a
server (or its tool parser) could, and counts how often it really changed something (a defect that never
fired proves nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from tests.defects.proxy import Defect, Exchange, Reply, events

CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"


class CountingDefect(Defect):
    path = CHAT
    # the stream shape the defect needs, where the server may not send it (vLLM's CPU build on a busy host
    # sometimes sends a whole answer at once): without it the proof is inconclusive, not failed
    needs: str | None = None

    def __init__(self) -> None:
        self.hits = 0

    def mine(self, exchange: Exchange) -> bool:
        return exchange.path.split("?")[0] == self.path

    def rewrite_request(self, exchange: Exchange, change: Callable[[dict[str, Any]], bool]) -> None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and change(body):
            self.hits += 1
            exchange.body = json.dumps(body).encode()


class CrashingDefect(CountingDefect):
    """A request that `crashes` picks is answered 500 (a crash's error) instead of being refused."""

    def crashes(self, body: dict[str, Any]) -> bool:
        return False

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and self.crashes(body):
            self.hits += 1
            return Reply(500, json.dumps({"error": {"message": "IndexError: list index out of range",
                                                    "type": "InternalServerError", "code": 500}}).encode())
        return None

    def each_event(self, exchange: Exchange, chunks: Iterator[bytes],
                   change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Iterator[bytes]:
        """Every `data: {json}` event through `change` (None drops it), the rest as it came."""
        if not self.mine(exchange):
            yield from chunks
            return
        for event in events(chunks):
            lines = event.decode().split("\n")
            data = next((i for i, line in enumerate(lines) if line.startswith("data: {")), None)
            if data is None:
                yield event
                continue
            payload = change(json.loads(lines[data][6:]))
            if payload is None:
                continue
            lines[data] = "data: " + json.dumps(payload)
            yield "\n".join(lines).encode()


def pieces(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("tool_calls") or []


# --- chat tool calls ----------------------------------------------------------------------------------------


class BreaksArguments(CountingDefect):
    """Unstreamed calls get arguments their schema refuses."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for choice in (body.get("choices") or []) if self.mine(exchange) and isinstance(body, dict) else []:
            for call in choice.get("message", {}).get("tool_calls") or []:
                call["function"]["arguments"] = json.dumps({"city": "Atlantis"})
                self.hits += 1
        return body


class ReusesOneId(CountingDefect):
    """Every call, in every answer, has the id `call_0`."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for choice in (body.get("choices") or []) if self.mine(exchange) and isinstance(body, dict) else []:
            for call in choice.get("message", {}).get("tool_calls") or []:
                call["id"] = "call_0"
                self.hits += 1
        return body


class DropsWholeCallDelta(CountingDefect):
    """#47907's shape: the stream is cut as a long --stream-interval cuts it (each call's pieces merged into one
    delta, still a faithful stream), and then a delta that carries a whole call is lost."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange):
            yield from chunks
            return
        for event in merged_calls(list(events(chunks))):
            chunk = json.loads(event[6:]) if event.startswith(b"data: {") else None
            whole = [p for p in pieces(chunk) if p.get("id")] if chunk is not None else []
            if chunk is not None and whole and all((p.get("function") or {}).get("arguments") for p in whole):
                del chunk["choices"][0]["delta"]["tool_calls"]
                self.hits += 1
                event = f"data: {json.dumps(chunk)}\n\n".encode()
            yield event


def merged_calls(stream: list[bytes]) -> list[bytes]:
    """The tool-call pieces of a chat stream merged into the chunk of each call's first piece."""
    out: list[bytes | dict[str, Any]] = []
    first: dict[int, dict[str, Any]] = {}  # index -> the piece its later pieces are merged into
    for event in stream:
        chunk = json.loads(event[6:]) if event.startswith(b"data: {") else None
        if chunk is None or not pieces(chunk):
            out.append(event)
            continue
        kept = []
        for piece in pieces(chunk):
            if piece["index"] not in first:
                first[piece["index"]] = piece
                kept.append(piece)
            else:
                target = first[piece["index"]].setdefault("function", {})
                more = (piece.get("function") or {}).get("arguments") or ""
                target["arguments"] = (target.get("arguments") or "") + more
        chunk["choices"][0]["delta"]["tool_calls"] = kept
        if kept or chunk["choices"][0].get("finish_reason") is not None:
            out.append(chunk)
    return [e if isinstance(e, bytes) else f"data: {json.dumps(e)}\n\n".encode() for e in out]


class MergesCallDeltas(CountingDefect):
    """No defect, the control: each call's pieces merged into one delta, as a long --stream-interval sends
    them. The streaming checks must pass it."""

    needs = "a call streamed in several pieces"

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange):
            yield from chunks
            return
        stream = list(events(chunks))
        merged = merged_calls(stream)
        self.hits += len(stream) - len(merged)
        yield from merged


class NewIdEveryDelta(CountingDefect):
    """Each streamed argument piece comes with an id of its own."""

    needs = "a call streamed in several pieces"

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        def split(chunk: dict[str, Any]) -> dict[str, Any]:
            for n, piece in enumerate(pieces(chunk)):
                if not piece.get("id"):
                    piece["id"] = f"call_split_{self.hits}_{n}"
                    self.hits += 1
            return chunk

        yield from self.each_event(exchange, chunks, split)


class LosesLastArgumentPiece(CountingDefect):
    """#41691's shape: the last streamed piece of a call's arguments never reaches the client."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange):
            yield from chunks
            return
        stream = list(events(chunks))
        carrying = [i for i, e in enumerate(stream) if e.startswith(b"data: {") and any(
            (p.get("function") or {}).get("arguments") for p in pieces(json.loads(e[6:])))]
        if carrying:
            chunk = json.loads(stream[carrying[-1]][6:])
            for piece in pieces(chunk):
                piece.get("function", {}).pop("arguments", None)
            stream[carrying[-1]] = f"data: {json.dumps(chunk)}\n\n".encode()
            self.hits += 1
        yield from stream


class CallsLeftInContent(CountingDefect):
    """The parser finds nothing: an auto call stays text in `content`, finish_reason 'stop'."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for choice in (body.get("choices") or []) if self.mine(exchange) and isinstance(body, dict) else []:
            calls = choice.get("message", {}).pop("tool_calls", None)
            if calls:
                choice["message"]["content"] = "".join(
                    "<tool_call>" + json.dumps({"name": c["function"]["name"],
                                                "arguments": json.loads(c["function"]["arguments"])}) + "</tool_call>"
                    for c in calls)
                choice["finish_reason"] = "stop"
                self.hits += 1
        return body


class NoneStillCalls(CountingDefect):
    """tool_choice 'none' is served as 'required'."""

    def request(self, exchange: Exchange) -> Reply | None:
        def force(body: dict[str, Any]) -> bool:
            if body.get("tool_choice") == "none" and body.get("tools"):
                body["tool_choice"], body["max_tokens"] = "required", 200
                return True
            return False

        self.rewrite_request(exchange, force)
        return None


class AcceptsUnknownFunction(CountingDefect):
    """A tool_choice naming an undeclared function is served as 'required' instead of refused."""

    def request(self, exchange: Exchange) -> Reply | None:
        def accept(body: dict[str, Any]) -> bool:
            choice, names = body.get("tool_choice"), [t["function"]["name"] for t in body.get("tools") or []]
            if isinstance(choice, dict) and choice.get("function", {}).get("name") not in names:
                body["tool_choice"] = "required"
                return True
            return False

        self.rewrite_request(exchange, accept)
        return None


class RefusesToolResults(CountingDefect):
    """A conversation carrying a tool's result back is refused."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and any(
                m.get("role") == "tool" for m in body.get("messages") or []):
            self.hits += 1
            return Reply(400, json.dumps({"error": {"message": "role 'tool' is not supported", "code": 400}}).encode())
        return None
