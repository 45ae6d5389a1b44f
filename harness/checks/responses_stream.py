"""The strict reader of Responses API streams (`/v1/responses` with `stream: true`), shared by the
conformance and multimodal suites as harness.checks.sse is for chat.

A Responses stream is a sequence of named events (`event: response.output_text.delta` then `data: {...}`),
framed by harness.checks.sse's decoder. Strict means, beyond the framing: every payload is a JSON object whose
`type` equals its event name; `sequence_number`, where sent, increases; the first event is
`response.created`; exactly one terminal event (`response.completed`, `.incomplete` or `.failed`) ends
the stream; and there is no `[DONE]` (OpenAI documents none for this API). Violations are collected.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checks.responses_shapes import TERMINAL_EVENTS
from harness.checks.sse import Decoder, Event, feed_all, json_object

DELTA, TEXT_DONE = "response.output_text.delta", "response.output_text.done"


@dataclass
class EventStream:
    """One parsed Responses stream: the payloads in arrival order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # arrival time of each event
    violations: list[str] = field(default_factory=list)
    started: float = 0.0
    last_sequence: int | None = None  # the latest sequence_number seen, across network reads

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def text(self) -> str:
        """The output_text deltas, concatenated in arrival order."""
        return "".join(e["delta"] for e in self.of(DELTA) if isinstance(e.get("delta"), str))

    def delta_times(self) -> list[float]:
        return [at for e, at in zip(self.events, self.times, strict=True) if e.get("type") == DELTA and e.get("delta")]

    @property
    def final(self) -> dict[str, Any] | None:
        """The `response` object of the terminal event, if the stream had one."""
        for e in reversed(self.events):
            if e.get("type") in TERMINAL_EVENTS and isinstance(e.get("response"), dict):
                return e["response"]  # type: ignore[no-any-return]
        return None

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of("error")
        return errors[0] if errors else None

    def order_problems(self) -> list[str]:
        """The documented order: created first, one terminal event last, each text delta inside its item's
        output_item.added/.done, and each output_text.done carrying the text of its deltas."""
        kinds, problems = self.types(), []
        if not kinds or kinds[0] != "response.created":
            problems.append(f"the first event must be response.created, got {kinds[:1]}")
        terminal = [i for i, k in enumerate(kinds) if k in TERMINAL_EVENTS]
        if len(terminal) != 1 or terminal[0] != len(kinds) - 1:
            problems.append(f"exactly one terminal event ({', '.join(TERMINAL_EVENTS)}), last; events: {kinds[-4:]}")
        open_items: set[str] = set()
        deltas: dict[tuple[str, Any], str] = {}
        for e in self.events:
            kind, item = e.get("type"), e.get("item")
            item_id = item.get("id") if isinstance(item, dict) else e.get("item_id")
            if kind == "response.output_item.added":
                open_items.add(str(item_id))
            elif kind == "response.output_item.done":
                open_items.discard(str(item_id))
            elif kind in (DELTA, TEXT_DONE):
                if str(item_id) not in open_items:
                    problems.append(f"{kind} for item {item_id!r} outside its output_item.added/.done")
                key = (str(item_id), e.get("content_index"))
                if kind == DELTA:
                    deltas[key] = deltas.get(key, "") + str(e.get("delta"))
                elif e.get("text") != deltas.get(key, ""):
                    problems.append(f"output_text.done text {e.get('text')!r} is not its deltas joined "
                                    f"{deltas.get(key, '')!r}")
        return problems


def parse_events(events: Iterable[Event], stream: EventStream) -> EventStream:
    for event in events:
        if event.data == "[DONE]":
            stream.violations.append("'data: [DONE]' in a Responses stream (it ends with its terminal event)")
            continue
        payload = json_object(event, stream.violations)
        if payload is None:
            continue
        if event.name is None:
            stream.violations.append(f"an event without an 'event: ' line: {event.data[:80]!r}")
        elif event.name != payload.get("type"):
            stream.violations.append(f"'event: {event.name}' carries data of type {payload.get('type')!r}")
        sequence = payload.get("sequence_number")
        if isinstance(sequence, int):
            if stream.last_sequence is not None and sequence <= stream.last_sequence:
                stream.violations.append(f"sequence_number {sequence} after {stream.last_sequence} "
                                         f"({payload.get('type')})")
            stream.last_sequence = sequence
        stream.events.append(payload)
        stream.times.append(event.at)
    return stream


def read(byte_chunks: Iterable[bytes], started: float | None = None) -> EventStream:
    """Parse a whole Responses stream from byte chunks (e.g. httpx's `response.iter_raw()`)."""
    stream = EventStream(started=time.perf_counter() if started is None else started)
    stream.violations[:0] = feed_all(byte_chunks, Decoder(named=True), lambda events: parse_events(events, stream))
    return stream
