"""Streaming requests kept in flight on threads, for checks that do something to the server while it
is busy (SIGTERM it, poll its /health) and then judge how each request ended.

    with InFlight(endpoint, "/v1/chat/completions", payload, count=4) as flights:
        flights.wait_streaming(timeout=120)      # every request has its first token
        ... disturb the server ...
        still_open = flights.wait_ended(deadline)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from harness.checks import sse
from harness.checks.openai_calls import chat_payload, completion_payload
from harness.server.endpoint import Endpoint

COMPLETED = "completed"  # the stream ended with data: [DONE]
# the body ended cleanly and every choice has its finish_reason, but no data: [DONE] came: the answer is
# whole, the framing deviates (test_conformance_streaming judges that), so it is not "cut short"
WITHOUT_DONE = "completed without [DONE]"
ANSWERED = (COMPLETED, WITHOUT_DONE)


@dataclass
class Flight:
    """One streaming request: when it got its first token, when and how it ended."""

    index: int
    first_chunk: threading.Event = field(default_factory=threading.Event)
    chunks: int = 0
    ended: float | None = None  # time.monotonic()
    outcome: str = ""  # COMPLETED, WITHOUT_DONE, "cut short after N chunks", "HTTP 503", or the exception's type

    @property
    def open(self) -> bool:
        return self.ended is None

    @property
    def answered(self) -> bool:
        """The whole answer arrived, with or without the final [DONE]."""
        return self.outcome in ANSWERED


class InFlight:
    def __init__(self, endpoint: Endpoint, path: str, payload: dict[str, Any], count: int, *,
                 read_timeout: float = 300.0) -> None:
        self.endpoint = endpoint
        self.path = path
        self.payload = {**payload, "stream": True}
        self.flights = [Flight(i) for i in range(count)]
        self.read_timeout = read_timeout
        self._threads: list[threading.Thread] = []

    def _run(self, flight: Flight) -> None:
        timeout = httpx.Timeout(30.0, read=self.read_timeout)
        try:
            with self.endpoint.client(timeout=30.0) as client, \
                    client.stream("POST", self.path, json=self.payload, timeout=timeout) as response:
                if response.status_code != 200:
                    flight.outcome = f"HTTP {response.status_code}"
                    return
                decoder, stream = sse.Decoder(), sse.Stream()
                for raw in response.iter_raw():
                    sse.parse_events(decoder.feed(raw), stream)
                    flight.chunks = len(stream.chunks)
                    if stream.chunks:
                        flight.first_chunk.set()
                sse.parse_events(decoder.close(), stream)
                flight.chunks = len(stream.chunks)
                flight.outcome = ending(stream)
        except httpx.HTTPError as exc:
            flight.outcome = type(exc).__name__
        except UnicodeDecodeError:
            flight.outcome = "a stream that is not UTF-8"
        finally:
            flight.ended = time.monotonic()
            flight.first_chunk.set()  # a request that failed before its first token wakes the waiter too

    def __enter__(self) -> InFlight:
        for flight in self.flights:
            thread = threading.Thread(target=self._run, args=(flight,), name=f"in-flight-{flight.index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Nothing to wait for: the threads are daemons, so one stuck on a hung server cannot hold the run;
        they end when the server (stopped by its owner) closes their connections."""

    def wait_streaming(self, timeout: float) -> bool:
        """True when every request has its first token (or already ended) within `timeout`."""
        deadline = time.monotonic() + timeout
        return all(f.first_chunk.wait(max(0.0, deadline - time.monotonic())) for f in self.flights)

    def wait_ended(self, deadline: float) -> list[Flight]:
        """Wait until every request ended or `deadline` (time.monotonic()) passed; return those still open."""
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return [f for f in self.flights if f.open]

    @property
    def open(self) -> list[Flight]:
        return [f for f in self.flights if f.open]

    def outcomes(self) -> list[str]:
        return [f.outcome or "still open" for f in self.flights]


def ending(stream: sse.Stream) -> str:
    """How a stream whose body ended cleanly ended: with [DONE], whole without it, or cut short."""
    if stream.done:
        return COMPLETED
    choices = {c.get("index") for chunk in stream.chunks for c in chunk.get("choices") or []}
    if stream.error is None and choices and all(stream.finish_reasons(i) for i in choices):
        return WITHOUT_DONE
    return f"cut short after {len(stream.chunks)} chunks"


def long_request(endpoint: Endpoint, exact_length: dict[str, Any], max_tokens: int) -> tuple[str, dict[str, Any]]:
    """A request that keeps the server generating for a while: (path, payload), chat where the server has it."""
    if endpoint.capabilities.has("chat"):
        return "/v1/chat/completions", chat_payload(
            endpoint.model, messages=[{"role": "user", "content": "Count slowly."}], max_tokens=max_tokens,
            **exact_length)
    return "/v1/completions", completion_payload(endpoint.model, prompt="Count slowly:", max_tokens=max_tokens,
                                                 **exact_length)
