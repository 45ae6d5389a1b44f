"""Anthropic Messages and operations-route defects for the proxy (tests/defects/tools.py's pattern): each
breaks one thing and counts how often it really changed something."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from harness.checks import imagegen
from tests.defects.proxy import Exchange, Reply, events
from tests.defects.tools import CountingDefect

WHITE_PNG = base64.b64encode(imagegen.encode(imagegen.solid((255, 255, 255)))).decode()


class MessagesDefect(CountingDefect):
    path = "/v1/messages"


class StopBeforeDelta(MessagesDefect):
    """message_stop sent before message_delta (the stop reason and usage come after the end)."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange):
            yield from chunks
            return
        held = None
        for event in events(chunks):
            if event.startswith(b"event: message_delta"):
                held = event
                continue
            yield event
            if held is not None and event.startswith(b"event: message_stop"):
                self.hits += 1
                yield held
                held = None


class LosesLastTextDelta(MessagesDefect):
    """The last text_delta of a stream never reaches the client (#41691's shape, on Messages)."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange):
            yield from chunks
            return
        stream = list(events(chunks))
        deltas = [i for i, e in enumerate(stream) if b'"text_delta"' in e]
        if deltas:
            del stream[deltas[-1]]
            self.hits += 1
        yield from stream


class MaxTokensAsEndTurn(MessagesDefect):
    """A message cut by max_tokens says it ended its turn."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict) and body.get("stop_reason") == "max_tokens":
            body["stop_reason"] = "end_turn"
            self.hits += 1
        return body

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self.mine(exchange) and b'"stop_reason":"max_tokens"' in chunk:
                self.hits += 1
                chunk = chunk.replace(b'"stop_reason":"max_tokens"', b'"stop_reason":"end_turn"')
            yield chunk


class WhitensImages(MessagesDefect):
    """Every base64 image block reaches the model as the same white PNG."""

    def request(self, exchange: Exchange) -> Reply | None:
        def whiten(body: dict[str, Any]) -> bool:
            blocks = [b for m in body.get("messages") or [] if isinstance(m.get("content"), list)
                      for b in m["content"] if b.get("type") == "image" and b["source"].get("type") == "base64"]
            for block in blocks:
                block["source"] = {"type": "base64", "media_type": "image/png", "data": WHITE_PNG}
            return bool(blocks)

        self.rewrite_request(exchange, whiten)
        return None


class OpenAIErrorShape(MessagesDefect):
    """Errors of /v1/messages answered in OpenAI's shape ({"error": {...}}) instead of Anthropic's."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict) and body.get("type") == "error":
            self.hits += 1
            return {"error": {"message": body["error"]["message"], "type": body["error"]["type"], "code": 404}}
        return body


class ToolUseAsText(MessagesDefect):
    """A forced tool call comes back as a text block holding its JSON, stop_reason end_turn."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict):
            for n, block in enumerate(body.get("content") or []):
                if block.get("type") == "tool_use":
                    body["content"][n] = {"type": "text", "text": json.dumps(block["input"])}
                    body["stop_reason"] = "end_turn"
                    self.hits += 1
        return body


class PingIs404(CountingDefect):
    path = "/ping"

    def request(self, exchange: Exchange) -> Reply | None:
        if self.mine(exchange):
            self.hits += 1
            return Reply(404, b'{"detail": "Not Found"}')
        return None


class LoadNeverCounts(CountingDefect):
    """/load keeps answering its first reading: a counter that never counts what is in flight."""

    path = "/load"

    def __init__(self) -> None:
        super().__init__()
        self.first: Any = None

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if not self.mine(exchange):
            return body
        if self.first is None:
            self.first = body
        elif body != self.first:
            self.hits += 1
        return self.first


class InvocationsAsCompletion(CountingDefect):
    """/invocations answers every body as a completion of its text (a router that took the wrong API)."""

    path = "/invocations"

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and "messages" in body:
            prompt = " ".join(str(m.get("content")) for m in body.pop("messages"))
            exchange.body = json.dumps({**body, "prompt": prompt}).encode()
            self.hits += 1
        return None
