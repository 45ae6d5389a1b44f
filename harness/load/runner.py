"""The parent side of a load run (CLI and pytest): write load.json, start the agent process, show
progress, stop it whatever happens, then build the report.

The agent runs in its own process group (locust patches its interpreter with gevent; this process stays
plain, so the telemetry thread is a real thread). Ctrl-C or SIGTERM here terminates that group — the
agent and any local workers it started — and waits for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import __version__
from harness.checks import openai_calls
from harness.errors import HarnessError
from harness.load.config import LoadConfig
from harness.load.prompts import word_costs
from harness.load.records import FILE
from harness.report.build import Report, build_report
from harness.server.endpoint import Endpoint
from harness.server.engine import connect
from harness.server.runtime_docker import exit_status_of
from harness.spec.variant_load import SloSpec
from harness.telemetry import Telemetry

AGENT_LOG = "agent.log"


class LoadError(HarnessError):
    """The load generator itself failed (not the server under test)."""


def server_version(endpoint: Endpoint) -> str | None:
    try:
        with endpoint.client(timeout=10) as client:
            return openai_calls.server_version(client)
    except httpx.HTTPError:
        return None


def _count_lines(path: Path, state: dict[str, int]) -> int:
    """Rows appended since the last call (reads only the new bytes)."""
    if not path.exists():
        return 0
    with path.open("rb") as f:
        f.seek(state.get("pos", 0))
        data = f.read()
    state["pos"] = state.get("pos", 0) + len(data)
    return data.count(b"\n")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the agent's process group (the agent and its local workers), then wait for it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def container_exit(client: docker.DockerClient, container_id: str) -> Callable[[], str | None]:
    """A check for the serving container: None while it runs, else how it ended."""

    def check() -> str | None:
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            return "the serving container was removed"
        status = exit_status_of(container, refresh=False)
        if status is None:
            return None
        return f"the serving container exited with code {status.code}{', OOM-killed' if status.oom_killed else ''}"

    return check


def port_refused(base_url: str) -> Callable[[], str | None]:
    """A check for a server the harness does not own: None while its port accepts connections. Only a
    refusal counts (the process is gone); a slow accept under load is not a death."""
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)

    def check() -> str | None:
        try:
            socket.create_connection((url.host, port), timeout=5).close()
        except ConnectionRefusedError:
            return f"the server at {base_url} refused connections (it is gone)"
        except OSError:
            return None
        return None

    return check


def run_agent(config: LoadConfig, run_dir: Path, api_key: str | None = None,
              on_rows: Callable[[int], None] | None = None,
              server_gone: Callable[[], str | None] | None = None) -> str | None:
    """Run the agent to completion; `on_rows(n)` hears of every n requests finished. When `server_gone`
    reports the server dead, the agent is stopped at once (its records are already on disk) and the
    reason returned: driving a dead port for the rest of the run would only add noise."""
    config = config.resolved()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "load.json").write_text(config.to_json())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if api_key:
        env["VLLM_HARNESS_API_KEY"] = api_key
    with (run_dir / AGENT_LOG).open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "harness.load.agent", str(run_dir)], stdout=log,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    state: dict[str, int] = {}
    gone: str | None = None
    try:
        while process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
            if on_rows is not None:
                on_rows(_count_lines(run_dir / FILE, state))
            gone = server_gone() if server_gone is not None and process.poll() is None else None
            if gone:
                break
    finally:
        _stop(process)
    if gone:
        return gone
    if process.returncode != 0:
        tail = "\n".join((run_dir / AGENT_LOG).read_text(errors="replace").splitlines()[-15:])
        raise LoadError(f"the load generator exited with status {process.returncode}; see {run_dir / AGENT_LOG}"
                        f"\n{tail}")
    return None


def run_load(endpoint: Endpoint, config: LoadConfig, run_dir: Path, slo: SloSpec | None = None,
             metadata: dict[str, Any] | None = None, console: Console | None = None) -> Report:
    """One whole load run against a ready endpoint: agent + telemetry + report."""
    config = config.check().resolved()
    if config.word_costs is None:
        config = dataclasses.replace(config, word_costs=word_costs(endpoint.base_url, endpoint.model,
                                                                   endpoint.headers))
    console = console or Console(stderr=True)
    levels = len(config.levels())
    total = (config.requests * levels + config.warmup) if config.requests else None
    meta: dict[str, Any] = {"variant": endpoint.variant.name if endpoint.variant else None,
                            "model": endpoint.model, "base_url": endpoint.base_url, "runtime": endpoint.runtime,
                            "vllm_version": server_version(endpoint), "harness_version": __version__,
                            "load": {k: v for k, v in config.__dict__.items()
                                     if k not in ("stamp_field", "word_costs")},
                            "prompt_lengths": ("tokenizer-filled (the server's /tokenize, +-2 at the joins)"
                                               if config.word_costs else "approximate (one word ~ one token)"),
                            **(metadata or {})}
    started = time.time()
    columns = [TextColumn("load {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(", ".join(label for label, _, _ in config.levels()), total=total)
        # container stats need the engine; GPU, /metrics and the load share the wall clock
        docker_client = connect() if endpoint.container_id else None
        vendor = endpoint.variant.gpu.vendor if endpoint.variant else None
        with Telemetry(run_dir, endpoint, container_id=endpoint.container_id, docker_client=docker_client,
                       gpu_vendor=vendor) as telemetry:
            watch = (container_exit(docker_client, endpoint.container_id) if docker_client and endpoint.container_id
                     else port_refused(endpoint.base_url))
            gone = run_agent(config, run_dir, endpoint.api_key, lambda n: progress.advance(task, n), watch)
        meta["telemetry"] = telemetry.summary()
        if gone:
            meta["incident"] = f"{gone} {time.time() - started:.1f} s into the load; the load was stopped there"
    meta["wall_seconds"] = round(time.time() - started, 2)
    return build_report(run_dir, meta, slo)
