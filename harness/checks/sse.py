"""A strict parser for OpenAI-style Server-Sent Event streams, shared by the conformance suite, the
multimodal suite and the load generator (which needs the arrival time of every event).

Strict means: every line of an event is a `data: ` field (or an SSE comment), each data payload is
JSON or the terminal `[DONE]`, nothing follows `[DONE]`, and a stream that ends without `[DONE]` is
reported. Violations are collected, not raised, so one read tells a check everything that was wrong.
The Responses API names its events (`event: ` lines before the data, no `[DONE]`): `Decoder(named=True)`
frames those, and harness.checks.responses_stream judges them.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


@dataclass(frozen=True)
class Event:
    data: str
    at: float  # time.perf_counter() when the event's last byte arrived
    name: str | None = None  # the `event: ` field, for named-event streams


class Decoder:
    """Incremental: feed bytes as they arrive, get complete events back."""

    def __init__(self, *, named: bool = False) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._named = named  # `event: ` lines allowed (Responses API streams)
        self._name: str | None = None
        self.violations: list[str] = []
        # a UTF-8 character may be split across two network chunks
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")

    def feed(self, chunk: bytes, at: float | None = None) -> list[Event]:
        at = time.perf_counter() if at is None else at
        text = self._buffer + self._utf8.decode(chunk)
        if "\r" in text:  # SSE allows \r\n, \r and \n line ends; normalise the complete lines only
            text = text.replace("\r\n", "\n")
        *lines, self._buffer = text.split("\n")  # one split per read: the load generator's hot path
        events: list[Event] = []
        plain = "\r" not in text
        for line in lines:
            # the two lines of nearly every event, inline (the load generator's hot path); the rest by _line
            if plain and line.startswith("data: "):
                self._data.append(line[6:])
            elif plain and not line and self._data and self._name is None:
                pending, self._data = self._data, []
                events.append(Event(pending[0] if len(pending) == 1 else "\n".join(pending), at))
            else:
                event = self._line(line.rstrip("\r"), at)
                if event is not None:
                    events.append(event)
        return events

    def _line(self, line: str, at: float) -> Event | None:
        if line == "":
            if not self._data:
                if self._name is not None:
                    self.violations.append(f"an event '{self._name}' without data")
                    self._name = None
                return None
            data, self._data = "\n".join(self._data), []
            name, self._name = self._name, None
            return Event(data, at, name)
        if line.startswith(":"):
            return None  # an SSE comment (keep-alive)
        if self._named and line.startswith("event: "):
            if self._name is not None or self._data:
                self.violations.append(f"an 'event: ' line inside an event: {line[:80]!r}")
            self._name = line[len("event: "):]
            return None
        if line.startswith("data: "):
            self._data.append(line[len("data: "):])
        elif line.startswith("data:"):
            self.violations.append(f"'data:' without the space OpenAI clients expect: {line[:80]!r}")
            self._data.append(line[len("data:"):])
        else:
            fields = "an 'event: ' or 'data: '" if self._named else "a 'data: '"
            self.violations.append(f"a line that is not {fields} field: {line[:80]!r}")
        return None

    def close(self, at: float | None = None) -> list[Event]:
        """The stream ended: an unterminated last event still counts, but is a violation."""
        if self._buffer.strip() or self._data:
            self.violations.append("the stream ended in the middle of an event (no blank line after it)")
            rest = self._buffer
            self._buffer = ""
            event = self._line(rest, at or time.perf_counter()) if rest else None
            tail = self._line("", at or time.perf_counter())
            return [e for e in (event, tail) if e is not None]
        return []


class DataSplitter:
    """The load generator's framing: the data payloads (bytes, for orjson) of the events in each read,
    at ~1/3 of Decoder's cost per event. The common event, one `data: ` line and a blank line, is cut
    out of the bytes directly; any other event (comments, several data lines, `event: ` names, \\r line
    ends) goes through a strict Decoder, so both frame a stream the same way. Violations are not judged
    here: conformance does that."""

    def __init__(self) -> None:
        self._rest = b""
        self._strict: Decoder | None = None  # once a stream uses \r line ends: every read goes to it

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._strict is None and b"\r" in chunk:
            self._strict = Decoder()
            chunk, self._rest = self._rest + chunk, b""
        if self._strict is not None:
            return [event.data.encode() for event in self._strict.feed(chunk, 0.0)]
        *events, self._rest = (self._rest + chunk).split(b"\n\n")
        found = []
        for event in events:
            if event.startswith(b"data: ") and b"\n" not in event:
                found.append(event[6:])
            elif event:  # the rare shapes: exactly as the strict decoder frames them
                found.extend(e.data.encode() for e in Decoder().feed(event + b"\n\n", 0.0))
        return found


@dataclass
class Stream:
    """One parsed completion stream."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # arrival time of each chunk
    done: bool = False
    error: Any = None  # the payload of an in-stream error event, if any
    violations: list[str] = field(default_factory=list)
    started: float = 0.0  # perf_counter when the request was sent

    def choice_deltas(self, index: int = 0) -> list[dict[str, Any]]:
        """The delta (chat) or the choice itself (completions) of each chunk that carries choice `index`."""
        found = []
        for chunk in self.chunks:
            for choice in chunk.get("choices") or []:
                if choice.get("index") == index:
                    found.append(choice)
        return found

    def text(self, index: int = 0) -> str:
        parts = []
        for choice in self.choice_deltas(index):
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(piece, str):
                parts.append(piece)
        return "".join(parts)

    def content_times(self, index: int = 0) -> list[float]:
        """Arrival times of the chunks that carried non-empty text for choice `index`."""
        found = []
        for chunk, at in zip(self.chunks, self.times, strict=True):
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta")
                piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
                if choice.get("index") == index and piece:
                    found.append(at)
        return found

    def finish_reasons(self, index: int = 0) -> list[str]:
        return [c["finish_reason"] for c in self.choice_deltas(index) if c.get("finish_reason") is not None]

    @property
    def usage(self) -> dict[str, Any] | None:
        for chunk in reversed(self.chunks):
            if chunk.get("usage"):
                return chunk["usage"]  # type: ignore[no-any-return]
        return None


def json_object(event: Event, violations: list[str]) -> dict[str, Any] | None:
    """The event's data as a JSON object, or None with the violation recorded."""
    try:
        payload = json.loads(event.data)
    except ValueError:
        violations.append(f"an event whose data is not JSON: {event.data[:80]!r}")
        return None
    if not isinstance(payload, dict):
        violations.append(f"an event whose data is not a JSON object: {event.data[:80]!r}")
        return None
    return payload


def parse_events(events: Iterable[Event], stream: Stream) -> Stream:
    for event in events:
        if stream.done:
            stream.violations.append(f"data after [DONE]: {event.data[:80]!r}")
            continue
        if event.data == DONE:
            stream.done = True
            continue
        payload = json_object(event, stream.violations)
        if payload is None:
            continue
        if "error" in payload and "choices" not in payload:
            stream.error = payload["error"]
        stream.chunks.append(payload)
        stream.times.append(event.at)
    return stream


def feed_all(byte_chunks: Iterable[bytes], decoder: Decoder, take: Callable[[list[Event]], object]) -> list[str]:
    """Every chunk through `decoder`, its events handed to `take` as they complete; the framing violations."""
    try:
        for chunk in byte_chunks:
            take(decoder.feed(chunk))
    except UnicodeDecodeError as exc:
        decoder.violations.append(f"the stream is not UTF-8: {exc}")
    take(decoder.close())
    return decoder.violations


def read(byte_chunks: Iterable[bytes], started: float | None = None) -> Stream:
    """Parse a whole stream from an iterable of byte chunks (e.g. httpx's `response.iter_raw()`)."""
    stream = Stream(started=time.perf_counter() if started is None else started)
    stream.violations[:0] = feed_all(byte_chunks, Decoder(), lambda events: parse_events(events, stream))
    if not stream.done:
        stream.violations.append("the stream ended without 'data: [DONE]'")
    return stream
