"""Reasoning defects for the proxy: each breaks the split of an answer into `reasoning` and `content` the way
a parser could, and counts how often it really changed something (a defect that never fired proves nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.defects.proxy import Defect, Exchange, Reply, events

CHAT = "/v1/chat/completions"


class CountingDefect(Defect):
    def __init__(self) -> None:
        self.hits = 0


class ReasoningLeftInContent(CountingDefect):
    """The parser found nothing: the whole text, markers and all, comes back as content (unstreamed)."""

    def __init__(self, start: str, end: str) -> None:
        super().__init__()
        self.start, self.end = start, end

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        message = ((body or {}).get("choices") or [{}])[0].get("message") if isinstance(body, dict) else None
        if exchange.path == CHAT and isinstance(message, dict) and message.get("reasoning"):
            self.hits += 1
            message["content"] = f"{self.start}{message.pop('reasoning')}{self.end}{message.get('content') or ''}"
            message["reasoning"] = None
        return body


class DropsLastReasoningDelta(CountingDefect):
    """A stream loses the last delta that carried reasoning (vLLM #41691's symptom)."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if exchange.path != CHAT:
            yield from chunks
            return
        held: list[bytes] = list(events(chunks))
        last = max((i for i, e in enumerate(held) if b'"reasoning":"' in e.replace(b'": "', b'":"')), default=None)
        if last is not None:
            self.hits += 1
            del held[last]
        yield from held


class IgnoresIncludeReasoning(CountingDefect):
    """`include_reasoning: false` is dropped on the way: the reasoning comes back anyway."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if exchange.path == CHAT and isinstance(body, dict) and body.get("include_reasoning") is False:
            self.hits += 1
            del body["include_reasoning"]
            exchange.body = json.dumps(body).encode()
        return None
