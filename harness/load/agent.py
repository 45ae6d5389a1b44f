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
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gevent
import gevent.event
import locust  # noqa: F401  (patches the interpreter with gevent: keep first)
import numpy as np
from locust.env import Environment
from locust.runners import MasterRunner

from harness.load.cache_counters import CounterLog
from harness.load.client import StreamClient
from harness.load.config import LoadConfig
from harness.load.prompts import ImageMaker, body
from harness.load.records import FILE, Record, RecordWriter, csv_line
from harness.load.shapes import Quota, quotas
from harness.load.trace import read_trace
from harness.load.users import USER_CLASSES, Dispenser, State
from harness.server.transport import auth_headers

CLIENT_FILE = "client.csv"
CLIENT_COLUMNS = ("t", "worker", "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "cpu_pct")
LAG_PROBE_S = 0.010
log = logging.getLogger("harness.load.agent")


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
    State.images = (ImageMaker(pool=config.image_pool, document=config.document_images, seed=config.seed,
                               repeat=config.image_repeat)
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
