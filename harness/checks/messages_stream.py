"""The strict reader of Anthropic Messages streams (`POST /v1/messages` with `stream: true`), as
harness.checks.responses_stream is for the Responses API.

A Messages stream is a sequence of named events (`event: content_block_delta` then `data: {...}`), framed by
harness.checks.sse's decoder. Strict means, beyond the framing: every payload is a JSON object whose `type`
equals its event name, and the events come in Anthropic's documented order: `message_start` first; then
each content block as `content_block_start` (indices 0, 1, ... in turn), its deltas (of the block's kind:
`text_delta` for text, `input_json_delta` for tool_use, `thinking_delta`/`signature_delta` for thinking),
`content_block_stop`; then one `message_delta` carrying `stop_reason` and `usage`; `message_stop` last.
`ping` may come anywhere; there is no `[DONE]`. Violations are collected, never raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checks.sse import DONE, Decoder, Event, feed_all, json_object

DELTA_KINDS = {"text": {"text_delta"}, "tool_use": {"input_json_delta"},
               "thinking": {"thinking_delta", "signature_delta"}}
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")


@dataclass
class MessageStream:
    """One parsed Messages stream: the payloads in arrival order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    started: float = 0.0

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events if e.get("type") != "ping"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of("error")
        return errors[0] if errors else None

    @property
    def stop_reason(self) -> Any:
        deltas = self.of("message_delta")
        delta = deltas[-1].get("delta") if deltas else None
        return delta.get("stop_reason") if isinstance(delta, dict) else None

    def blocks(self) -> list[dict[str, Any]]:
        """The content blocks as a non-streamed message would carry them: each start's block with its deltas
        applied (text and thinking joined, a tool_use's `input` parsed from its joined partial_json; `input`
        is the string itself where it does not parse)."""
        built: dict[int, dict[str, Any]] = {}
        pieces: dict[int, list[str]] = {}
        for e in self.events:
            index = e.get("index")
            if not isinstance(index, int):
                continue
            if e.get("type") == "content_block_start" and isinstance(e.get("content_block"), dict):
                built[index], pieces[index] = dict(e["content_block"]), []
            elif e.get("type") == "content_block_delta" and index in built and isinstance(e.get("delta"), dict):
                delta, block = e["delta"], built[index]
                if delta.get("type") == "text_delta":
                    block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")
                elif delta.get("type") == "thinking_delta":
                    block["thinking"] = str(block.get("thinking") or "") + str(delta.get("thinking") or "")
                elif delta.get("type") == "input_json_delta":
                    pieces[index].append(str(delta.get("partial_json") or ""))
        for index, block in built.items():
            if block.get("type") == "tool_use" and pieces[index]:
                joined = "".join(pieces[index])
                try:
                    block["input"] = json.loads(joined)
                except ValueError:
                    block["input"] = joined
        return [built[i] for i in sorted(built)]

    def text(self) -> str:
        return "".join(str(b.get("text") or "") for b in self.blocks() if b.get("type") == "text")

    def order_problems(self) -> list[str]:
        """Anthropic's documented order (module docstring), one problem per broken rule."""
        kinds, problems = self.types(), []
        if not kinds or kinds[0] != "message_start" or kinds.count("message_start") != 1:
            problems.append(f"exactly one message_start, first; events: {kinds[:3]}")
        if not kinds or kinds[-1] != "message_stop" or kinds.count("message_stop") != 1:
            problems.append(f"exactly one message_stop, last; events: {kinds[-3:]}")
        if kinds.count("message_delta") != 1 or kinds[-2:-1] != ["message_delta"]:
            problems.append(f"exactly one message_delta, right before message_stop; events: {kinds[-4:]}")
        problems += self._block_problems()
        for delta in self.of("message_delta"):
            inner = delta.get("delta") if isinstance(delta.get("delta"), dict) else {}
            if inner.get("stop_reason") not in STOP_REASONS:
                problems.append(f"message_delta.delta.stop_reason one of {STOP_REASONS}, "
                                f"got {inner.get('stop_reason')!r}")
            usage = delta.get("usage")
            if not isinstance(usage, dict) or not isinstance(usage.get("output_tokens"), int):
                problems.append(f"message_delta.usage with integer output_tokens, got {usage!r}")
        return problems

    def _block_problems(self) -> list[str]:
        problems: list[str] = []
        open_kind: str | None = None
        open_index, next_index = -1, 0
        after_blocks = False
        for e in self.events:
            kind, index = e.get("type"), e.get("index")
            if kind in ("message_delta", "message_stop"):
                after_blocks = True
                if open_kind is not None:
                    problems.append(f"{kind} while content block {open_index} is still open")
                    open_kind = None
            elif kind == "content_block_start":
                block = e.get("content_block") if isinstance(e.get("content_block"), dict) else {}
                if after_blocks or open_kind is not None or index != next_index:
                    problems.append(f"content_block_start index {index!r} where block {next_index} may start"
                                    f"{' (another is open)' if open_kind is not None else ''}"
                                    f"{' (after message_delta)' if after_blocks else ''}")
                open_kind, open_index, next_index = str(block.get("type")), index if isinstance(index, int) else -1, (
                    index + 1 if isinstance(index, int) else next_index + 1)
            elif kind == "content_block_delta":
                delta = e.get("delta") if isinstance(e.get("delta"), dict) else {}
                if open_kind is None or index != open_index:
                    problems.append(f"content_block_delta for block {index!r} outside its start/stop")
                elif delta.get("type") not in DELTA_KINDS.get(open_kind, {delta.get("type")}):
                    problems.append(f"a {delta.get('type')!r} in a {open_kind!r} block {index}")
            elif kind == "content_block_stop":
                if open_kind is None or index != open_index:
                    problems.append(f"content_block_stop for block {index!r} that is not open")
                open_kind = None
        return problems


def take(events: Iterable[Event], stream: MessageStream) -> None:
    for event in events:
        if event.data == DONE:
            stream.violations.append("a 'data: [DONE]' line: Anthropic's Messages streams have none")
            continue
        payload = json_object(event, stream.violations)
        if payload is None:
            continue
        if event.name is None or event.name != payload.get("type"):
            stream.violations.append(f"event name {event.name!r} is not the payload's type {payload.get('type')!r}")
        stream.events.append(payload)


def read(byte_chunks: Iterable[bytes], started: float | None = None) -> MessageStream:
    """Parse a whole stream from an iterable of byte chunks (e.g. httpx's `response.iter_raw()`)."""
    stream = MessageStream(started=time.perf_counter() if started is None else started)
    stream.violations[:0] = feed_all(byte_chunks, Decoder(named=True), lambda events: take(events, stream))
    return stream
