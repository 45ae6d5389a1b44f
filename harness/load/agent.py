"""The locust process: `python -m harness.load.agent RUN_DIR [--role local|master|worker]`.

Imported only here, locust patches this process with gevent; users are cooperative greenlets, each
driving its own `StreamClient`. Roles:

    local    one process runs every user (the default)
    master   runs warm-up, starts `workers` local worker processes (plus `--remote-workers` started by
             hand on other hosts), tells them each level, merges their records into one requests.csv
    worker   runs its share of users and of the level's requests/rate; ships each record to the master

Besides requests.csv the agent writes client.csv: once a second, per process, how late a 10 ms gevent
sleep woke up (event-loop lag) and the process's CPU use — the evidence for the client self-check.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust  # noqa: F401  (patches the interpreter with gevent: keep first)
import numpy as np
from locust import User, constant, task
from locust.env import Environment
from locust.runners import MasterRunner

from harness.load.cache_counters import CounterLog
from harness.load.client import StreamClient
from harness.load.config import LoadConfig
from harness.load.prompts import ImageMaker, body, prompt_words
from harness.load.records import FILE, Record, RecordWriter, csv_line
from harness.load.shapes import Quota, arrival_offsets, quotas
from harness.load.trace import TraceEntry, read_trace
from harness.load.workload import Conversation, prefix_group, shared_prefix, think_seconds, trace_text, with_prefix
from harness.server.transport import auth_headers

CLIENT_FILE = "client.csv"
CLIENT_COLUMNS = ("t", "worker", "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "cpu_pct")
LAG_PROBE_S = 0.010
EXHAUSTED = object()
log = logging.getLogger("harness.load.agent")


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


def monitor(emit: Callable[[str], None]) -> None:
    """Event-loop lag and CPU, one row a second (labelled with this process's `State.worker`), until killed."""
    lags: list[float] = []
    last_wall, last_cpu = time.perf_counter(), time.process_time()
    while True:
        before = time.perf_counter()
        gevent.sleep(LAG_PROBE_S)
        now = time.perf_counter()
        lags.append((now - before - LAG_PROBE_S) * 1e3)
        if now - last_wall >= 1.0:
            cpu = time.process_time()
            values = np.asarray(lags)
            emit(csv_line([f"{time.time():.3f}", State.worker, f"{np.median(values):.3f}",
                           f"{np.percentile(values, 99):.3f}", f"{values.max():.3f}",
                           f"{(cpu - last_cpu) / (now - last_wall) * 100:.1f}"]))
            lags.clear()
            last_wall, last_cpu = now, cpu


def warmup(config: LoadConfig, sink: Callable[[str], None]) -> None:
    """Requests one at a time before measuring; the first is the server's cold start (kernel warm-up)."""
    if config.warmup == 0:
        return
    headers = auth_headers(os.environ.get("VLLM_HARNESS_API_KEY"))
    client = StreamClient(config.base_url, headers, config.timeout, config.stamp_field, config.kernel_timestamps)
    rng = np.random.default_rng([config.seed, 99])
    try:
        for i in range(config.warmup):
            kind = config.kinds[i % len(config.kinds)]
            path, payload = body(kind, config, rng, State.images)
            record = Record(id=f"warmup-{i}", worker=0, level="warmup", users=1, rate=None, phase="warmup",
                            kind=kind, start=0.0, start_wall=0.0)
            sink(csv_line(client.stream(path, payload, record).row()))
    finally:
        client.close()


def _environment(config: LoadConfig) -> Environment:
    State.config = config
    State.trace = read_trace(Path(config.trace), config.time_scale) if config.trace is not None else None
    State.images = (ImageMaker(pool=config.image_pool, document=config.document_images, seed=config.seed)
                    if {"vision", "video"} & set(config.kinds) or config.trace is not None else None)
    return Environment(user_classes=[USER_CLASSES[k] for k in config.kinds])


def _spawn_rate(users: int, config: LoadConfig) -> float:
    return users / config.ramp_up if config.ramp_up > 0 and not config.open_loop else 1e6


def wait_level(dispensed: gevent.event.Event, config: LoadConfig, label: str, progress: Callable[[], float],
               pending: Callable[[], str], broken: Callable[[], bool] = lambda: False) -> None:
    """Wait for a level to end, bounded: when a process it needs is gone, or nothing has progressed (no
    request ended, no process reported) for longer than one request may take, the run cannot progress
    and ends with the reason."""
    stall = config.timeout + 30.0
    while not dispensed.wait(timeout=1.0):
        if broken():
            raise SystemExit(f"level {label} cannot finish: {pending()}")
        idle = time.monotonic() - progress()
        if idle > stall:
            raise SystemExit(f"level {label} made no progress for {idle:.0f} s (a request may take "
                             f"{config.timeout:g} s): {pending()}")


def run_local(config: LoadConfig, run_dir: Path) -> None:
    records = RecordWriter(run_dir / FILE)
    client_rows = _client_writer(run_dir)
    last = [time.monotonic()]

    def sink(line: str) -> None:
        records.write_line(line)
        last[0] = time.monotonic()

    State.sink = sink
    env = _environment(config)
    runner = env.create_local_runner()
    watcher = gevent.spawn(monitor, client_rows)
    counters = _counters(config, run_dir)
    try:
        warmup(config, records.write_line)
        for level, (label, users, _) in enumerate(config.levels()):
            counters.mark(label, "before")
            dispenser = State.install(Dispenser(config, level, 0, quotas(config, level, [users])[0]))
            log.info("local: level %s: %d users", label, users)
            last[0] = time.monotonic()
            runner.start(users, spawn_rate=_spawn_rate(users, config))
            in_flight = functools.partial(lambda d: f"{d.in_flight} request(s) still in flight", dispenser)
            wait_level(dispenser.done, config, label, lambda: last[0], in_flight)
            runner.stop()
            counters.mark(label, "after")
            log.info("local: level %s done: %d requests", label, dispenser.taken)
    finally:
        counters.close()
        watcher.kill()
        runner.quit()
        records.close()


def _counters(config: LoadConfig, run_dir: Path) -> CounterLog:
    return CounterLog(run_dir, config.base_url, auth_headers(os.environ.get("VLLM_HARNESS_API_KEY")))


def _client_writer(run_dir: Path) -> Callable[[str], None]:
    path = run_dir / CLIENT_FILE
    out = path.open("a", encoding="utf-8")
    if out.tell() == 0:
        out.write(csv_line(list(CLIENT_COLUMNS)))

    def write(line: str) -> None:
        out.write(line)
        out.flush()

    return write


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def planned_users(env: Environment, runner: MasterRunner, users: int) -> dict[str, int]:
    """How many users locust's dispatcher will give each connected worker for a level of `users`: the same
    dispatcher class over the same workers, run to its final state without waiting."""
    active = runner.clients.ready + runner.clients.running + runner.clients.spawning
    dispatcher = env.dispatcher_class(worker_nodes=active, user_classes=env.user_classes)
    dispatcher.new_dispatch(target_user_count=users, spawn_rate=float(max(users, 1)))
    final: dict[str, dict[str, int]] = {node.id: {} for node in active}
    for step in dispatcher:
        final = step
    return {node: sum(counts.values()) for node, counts in final.items()}


def _check_placement(runner: MasterRunner, plan: dict[str, int], label: str) -> None:
    """The quotas assume locust placed the users as planned; wait (bounded) for the workers' reports to say so."""
    deadline = time.monotonic() + 30
    while (placed := {node.id: node.user_count for node in runner.clients.all}) != plan:
        if time.monotonic() > deadline:
            raise SystemExit(f"level {label}: the workers report users {placed}, the quotas assumed {plan}; "
                             "run with --workers 0 and report this")
        gevent.sleep(0.05)


def run_master(config: LoadConfig, run_dir: Path, remote_workers: int, port: int | None) -> None:
    records = RecordWriter(run_dir / FILE)
    client_rows = _client_writer(run_dir)
    env = _environment(config)
    port = port or (5557 if remote_workers else _free_port())
    runner = env.create_master_runner("*" if remote_workers else "127.0.0.1", port)
    expected = config.workers + remote_workers
    counters = _counters(config, run_dir)
    finished: dict[int, set[str]] = {}
    level_done = gevent.event.Event()
    last = [time.monotonic()]

    def on_records(environment: Environment, msg: object, **_: object) -> None:
        for line in msg.data:  # type: ignore[attr-defined]
            records.write_line(line)
        last[0] = time.monotonic()

    def on_client(environment: Environment, msg: object, **_: object) -> None:
        client_rows(msg.data)  # type: ignore[attr-defined]

    def on_done(environment: Environment, msg: object, **_: object) -> None:
        done = finished.setdefault(msg.data["level"], set())  # type: ignore[attr-defined]
        done.add(msg.node_id)  # type: ignore[attr-defined]
        last[0] = time.monotonic()
        log.info("master: worker %s finished level %s (%d requests)", msg.node_id,  # type: ignore[attr-defined]
                 msg.data["label"], msg.data["taken"])  # type: ignore[attr-defined]
        if len(done) >= expected:
            level_done.set()

    runner.register_message("harness_records", on_records)
    runner.register_message("harness_client", on_client)
    runner.register_message("harness_done", on_done)
    workers = [subprocess.Popen([sys.executable, "-m", "harness.load.agent", str(run_dir), "--role", "worker",
                                 "--master-port", str(port)]) for _ in range(config.workers)]

    def pending(level: int) -> str:
        gone = [f"local worker {i + 1} exited with code {w.returncode}" for i, w in enumerate(workers)
                if w.poll() is not None]
        waiting = sorted(node.id for node in runner.clients.all if node.id not in finished.get(level, set()))
        missing = [node.id for node in runner.clients.missing]
        return "; ".join(gone + [f"waiting for {', '.join(waiting) or 'nobody'}"]
                         + ([f"missing (no heartbeat): {', '.join(missing)}"] if missing else []))

    try:
        deadline = time.monotonic() + 60
        while len(runner.clients.ready) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(runner.clients.ready)} of {expected} workers connected within 60 s")
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a local worker process exited before connecting")
            gevent.sleep(0.05)
        log.info("master: %d workers connected: %s", expected, ", ".join(n.id for n in runner.clients.all))
        warmup(config, records.write_line)
        for level, (label, users, _) in enumerate(config.levels()):
            level_done.clear()
            counters.mark(label, "before")
            plan = planned_users(env, runner, users)
            nodes = sorted(plan)
            shares = quotas(config, level, [plan[n] for n in nodes])
            for index, (node, quota) in enumerate(zip(nodes, shares, strict=True)):
                runner.send_message("harness_level", {"level": level, "share": index, "users": quota.users,
                                                      "limit": quota.limit, "rate": quota.rate}, client_id=node)
            log.info("master: level %s: %d users over %d workers %s", label, users, len(nodes), plan)
            last[0] = time.monotonic()
            runner.start(users, spawn_rate=_spawn_rate(users, config))
            _check_placement(runner, plan, label)
            wait_level(level_done, config, label, lambda: last[0], functools.partial(pending, level),
                       lambda: any(w.poll() is not None for w in workers) or bool(runner.clients.missing))
            runner.stop()
            counters.mark(label, "after")
            log.info("master: level %s done", label)
    finally:
        counters.close()
        runner.quit()
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        records.close()


def run_worker(config: LoadConfig, master_host: str, master_port: int) -> None:
    env = _environment(config)
    runner = env.create_worker_runner(master_host, master_port)
    batch: list[str] = []

    def ship(line: str) -> None:
        batch.append(line)

    def flush() -> None:
        if batch:
            runner.send_message("harness_records", list(batch))
            batch.clear()

    def flusher() -> None:
        # one message per 50 ms, not per request: the master's loop stays idle at high rates
        while True:
            gevent.sleep(0.05)
            flush()

    def on_level(environment: Environment, msg: object, **_: object) -> None:
        data = msg.data  # type: ignore[attr-defined]
        State.worker = runner.worker_index + 1  # 0 is the master (warm-up) or a lone process: ids stay unique
        quota = Quota(data["users"], data["limit"], data["rate"])
        dispenser = State.install(Dispenser(config, data["level"], data["share"], quota))
        log.info("worker %d: level %s: %s", State.worker, dispenser.label, quota)

        def report_done() -> None:
            dispenser.done.wait()
            flush()
            runner.send_message("harness_done", {"level": data["level"], "label": dispenser.label,
                                                 "taken": dispenser.taken})
            log.info("worker %d: level %s done: %d requests", State.worker, dispenser.label, dispenser.taken)

        gevent.spawn(report_done)

    State.sink = ship
    runner.register_message("harness_level", on_level)
    tasks = [gevent.spawn(flusher), gevent.spawn(monitor, lambda row: runner.send_message("harness_client", row))]
    try:
        runner.greenlet.join()
    finally:
        gevent.killall(tasks)


def watch_parent(parent: int) -> None:
    """End this process when the one that started it is gone (a killed runner must not leave load running)."""
    while os.getppid() == parent:
        gevent.sleep(1.0)
    log.info("the parent process %d is gone: stopping", parent)
    gevent.kill(State.main, SystemExit(143))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.load.agent")
    p.add_argument("run_dir", type=Path, help="the run folder holding load.json")
    p.add_argument("--role", choices=("local", "master", "worker"), default="local")
    p.add_argument("--master-host", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=None)
    p.add_argument("--remote-workers", type=int, default=0, help="master: workers started by hand elsewhere")
    args = p.parse_args(argv)
    logging.getLogger("locust").setLevel(logging.ERROR)  # e.g. its "spawn rate is very high" notice
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the /metrics reads around each level
    config = LoadConfig.read(args.run_dir / "load.json").resolved()
    # everything imported so far (locust, gevent, numpy: ~10^5 objects) lives until exit: keep it out of the
    # cyclic collector, whose full passes over it would otherwise stall every stream at once mid-run
    gc.freeze()
    # SIGTERM unwinds through the `finally` blocks (workers stopped, files closed)
    State.main = gevent.getcurrent()
    gevent.signal_handler(signal.SIGTERM, lambda: gevent.kill(State.main, SystemExit(143)))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    gevent.spawn(watch_parent, os.getppid())
    if args.role == "worker":
        run_worker(config, args.master_host, args.master_port or 5557)
    elif args.role == "master" or config.workers:
        run_master(config, args.run_dir, args.remote_workers, args.master_port)
    else:
        run_local(config, args.run_dir)
    json.dump({"finished": time.time()}, (args.run_dir / "agent.done").open("w"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
