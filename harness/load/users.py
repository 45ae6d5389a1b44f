"""What the simulated users of one load process do and share: the level's `Dispenser` (which request
comes next, and when), the `State` the users read, and one locust user class per kind (`USER_CLASSES`).
Imported by the agent process only (locust patches it with gevent)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import numpy as np
from locust import User, constant, task

from harness.load.client import StreamClient
from harness.load.config import LoadConfig
from harness.load.prompts import ImageMaker, body, prompt_words
from harness.load.records import Record, csv_line
from harness.load.shapes import Quota, arrival_offsets
from harness.load.trace import TraceEntry
from harness.load.workload import Conversation, prefix_group, shared_prefix, think_seconds, trace_text, with_prefix
from harness.server.transport import auth_headers

EXHAUSTED = object()


@dataclass(frozen=True)
class Ticket:
    """One request handed out: when the schedule wanted it sent (None: closed loop), its index in this
    process's share of the level, and (trace replay) its trace line."""

    scheduled: float | None
    index: int
    entry: TraceEntry | None = None


class Dispenser:
    """Hands out this process's requests of one level: when (open loop or trace) and how many. Its `done`
    is set once the quota is used up (or the deadline passed) and nothing is in flight."""

    def __init__(self, config: LoadConfig, level: int, share: int, quota: Quota) -> None:
        label, users, rate = config.levels()[level]
        self.label, self.users, self.rate = label, users, rate  # the level's, for the records
        self.level, self.share = level, share
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + config.duration if config.duration else None
        self.limit = 0 if quota.users == 0 else quota.limit
        rng = np.random.default_rng([config.seed, level, share])
        self.arrivals = (arrival_offsets(quota.rate, config.burstiness, rng, config.ramp_up)
                         if quota.rate else None)
        self.entries = State.trace if config.trace is not None and quota.users else None
        if self.entries is not None:  # the trace's own arrivals and length
            self.arrivals = iter([e.timestamp for e in self.entries])
            self.limit = len(self.entries)
        self.taken = 0
        self.in_flight = 0
        self.exhausted = False
        self.done = gevent.event.Event()
        if self.limit == 0:
            self._exhaust()
        elif config.duration:  # ends on time even if no user comes back to ask
            gevent.spawn_later(config.duration, self._exhaust)

    def take(self) -> Ticket | object:
        """The next request's Ticket, after waiting for its scheduled time; or EXHAUSTED."""
        if self.exhausted:
            return EXHAUSTED
        index = self.taken
        if self.limit is not None and index >= self.limit:
            self._exhaust()
            return EXHAUSTED
        scheduled = None if self.arrivals is None else self.t0 + next(self.arrivals)
        if self.deadline is not None and (scheduled or time.perf_counter()) > self.deadline:
            self._exhaust()
            return EXHAUSTED
        self.taken += 1
        self.in_flight += 1
        if scheduled is not None:
            gevent.sleep(max(0.0, scheduled - time.perf_counter()))
        return Ticket(scheduled, index, self.entries[index] if self.entries is not None else None)

    def release(self) -> None:
        self.in_flight -= 1
        if self.exhausted and self.in_flight == 0:
            self.done.set()

    def _exhaust(self) -> None:
        if self.exhausted:
            return
        self.exhausted = True
        if State.dispenser is self:
            State.fresh.clear()
        if self.in_flight == 0:
            self.done.set()


class State:
    """What the users of this process share (locust creates users; they read this)."""

    config: LoadConfig
    worker = 0
    dispenser: Dispenser | None = None
    fresh = gevent.event.Event()  # set while `dispenser` has requests to hand out
    sink: Callable[[str], None] = print
    ids = itertools.count()
    images: ImageMaker | None = None
    trace: list[TraceEntry] | None = None
    main: Any = None  # the greenlet SIGTERM and a vanished parent stop

    @classmethod
    def install(cls, dispenser: Dispenser) -> Dispenser:
        cls.dispenser = dispenser
        if not dispenser.exhausted:
            cls.fresh.set()
        return dispenser


class LoadUser(User):
    abstract = True
    kind = "chat"
    wait_time = constant(0)

    def on_start(self) -> None:
        cfg = State.config
        headers = auth_headers(os.environ.get("VLLM_HARNESS_API_KEY"))
        self.stream = StreamClient(cfg.base_url, headers, cfg.timeout, cfg.stamp_field, cfg.kernel_timestamps)
        self.rng = np.random.default_rng([cfg.seed, State.worker, next(State.ids), 7])

    def on_stop(self) -> None:
        self.stream.close()

    @staticmethod
    def next_ticket() -> tuple[Dispenser, Ticket]:
        while True:  # between levels (or before this process hears its quota) users wait; locust stops them
            State.fresh.wait()
            dispenser = State.dispenser
            assert dispenser is not None
            ticket = dispenser.take()
            if isinstance(ticket, Ticket):
                return dispenser, ticket

    def record(self, dispenser: Dispenser, ticket: Ticket) -> Record:
        return Record(id=f"{State.worker}-{next(State.ids)}", worker=State.worker, level=dispenser.label,
                      users=dispenser.users, rate=dispenser.rate, phase="measure", kind=self.kind,
                      start=0.0, start_wall=0.0, scheduled=ticket.scheduled)

    def request_body(self, dispenser: Dispenser, ticket: Ticket) -> tuple[str, bytes]:
        cfg = State.config
        if ticket.entry is not None:
            entry = ticket.entry
            kind = "vision" if entry.images and self.kind != "completions" else self.kind
            return body(kind, cfg, self.rng, State.images, text=trace_text(cfg, entry, self.rng),
                        output_len=entry.output_length, image_count=entry.images if kind == "vision" else None)
        if cfg.prefix_tokens:
            prefix = shared_prefix(cfg, prefix_group(cfg, dispenser.level, dispenser.share, ticket.index))
            text = with_prefix(prefix, prompt_words(self.rng, cfg.input_len, cfg.word_costs))
            return body(self.kind, cfg, self.rng, State.images, text=text)
        return body(self.kind, cfg, self.rng, State.images)

    @task
    def one_request(self) -> None:
        self.send()  # the one task (locust collects tasks over the class tree: subclasses override send)

    def send(self) -> None:
        dispenser, ticket = self.next_ticket()
        try:
            path, payload = self.request_body(dispenser, ticket)
            record = self.stream.stream(path, payload, self.record(dispenser, ticket))
            State.sink(csv_line(record.row()))
        finally:
            dispenser.release()


class ChatUser(LoadUser):
    """Streaming chat completions of text prompts."""

    kind = "chat"


class VisionUser(LoadUser):
    """Streaming chat completions with one image each, never the same image twice."""

    kind = "vision"


class VideoUser(LoadUser):
    """Streaming chat completions with one short clip each (JPEG frames), never the same clip twice."""

    kind = "video"


class AudioUser(LoadUser):
    """Streaming chat completions with one second of sound each (WAV), never the same sound twice."""

    kind = "audio"


class CompletionsUser(LoadUser):
    """Streaming text completions."""

    kind = "completions"


class ConversationUser(LoadUser):
    """Multi-turn chat sessions: each turn resends the whole conversation (the answers included) plus a
    new message, after a think time; a session is this user's unit of concurrency."""

    kind = "conversation"
    session: Conversation | None = None

    def new_session(self, dispenser: Dispenser, ticket: Ticket) -> Conversation:
        cfg = State.config
        prefix = (shared_prefix(cfg, prefix_group(cfg, dispenser.level, dispenser.share, ticket.index))
                  if cfg.prefix_tokens else "")
        return Conversation(f"{State.worker}-s{next(State.ids)}", cfg.turns, prefix)

    def send(self) -> None:
        cfg = State.config
        if self.session is not None and not self.session.over and self.session.turn > 0:
            gevent.sleep(think_seconds(cfg, self.rng))
        dispenser, ticket = self.next_ticket()
        try:
            if self.session is None or self.session.over or self.session.level != dispenser.level:
                self.session = self.new_session(dispenser, ticket)
                self.session.level = dispenser.level
            session = self.session
            text = session.message(cfg, self.rng)
            path, payload = body("chat", cfg, self.rng, State.images, text=text, history=session.history)
            record = self.record(dispenser, ticket)
            record.session, record.turn, record.answer = session.session, session.turn, []
            self.stream.stream(path, payload, record)
            session.answered(text, "".join(record.answer) if record.ok else None)
            State.sink(csv_line(record.row()))
        finally:
            dispenser.release()


USER_CLASSES: dict[str, type[LoadUser]] = {"chat": ChatUser, "vision": VisionUser, "video": VideoUser,
                                           "audio": AudioUser, "completions": CompletionsUser,
                                           "conversation": ConversationUser}
