"""The container's CPU and memory from the engine's stats stream (about one sample a second: the
engine's own rate), read in its own thread because each read blocks until the next sample."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

Row = tuple[float, str, str, float]


def cpu_percent(stats: dict[str, Any]) -> float | None:
    """CPU use in percent of one core, as `docker stats` computes it."""
    cpu, pre = stats.get("cpu_stats", {}), stats.get("precpu_stats", {})
    try:
        used = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except KeyError:
        return None
    cores = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
    return 100.0 * used / system * cores if system > 0 else None


def stats_rows(stats: dict[str, Any], t: float) -> list[Row]:
    rows: list[Row] = []
    memory = stats.get("memory_stats", {})
    if "usage" in memory:
        # the cache pages the kernel can drop are not the process's memory (docker stats does the same)
        inactive = memory.get("stats", {}).get("inactive_file", memory.get("stats", {}).get("total_inactive_file", 0))
        rows.append((t, "container", "memory_used_bytes", float(memory["usage"] - inactive)))
    percent = cpu_percent(stats)
    if percent is not None:
        rows.append((t, "container", "cpu_pct", percent))
    return rows


class ContainerStats:
    def __init__(self, client: docker.DockerClient, container_id: str, emit: Callable[[list[Row]], None]) -> None:
        self.container = client.containers.get(container_id)
        self.emit = emit
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, name="docker-stats", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound, ValueError, OSError):
            self._stream = self.container.stats(stream=True, decode=True)
            for stats in self._stream:
                if self._stop.is_set():
                    break
                self.emit(stats_rows(stats, time.time()))

    def close(self) -> None:
        self._stop.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        self._thread.join(timeout=3)
