"""`Telemetry`: the samplers of a run, each polled in its own thread (a slow /metrics scrape must not
delay GPU samples), every row appended to `telemetry.csv` at once, and the sampler's own cost measured.

    with Telemetry(run_dir, endpoint, container_id=cid) as telemetry:
        ... drive load ...
    telemetry.summary()   # GPU names/driver, peaks, achieved rate, sampler overhead
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import docker

from harness.server.endpoint import Endpoint
from harness.telemetry.container import ContainerStats
from harness.telemetry.gpu import Row, open_gpu_sampler
from harness.telemetry.server_metrics import MetricsSampler

HEADER = ("t", "source", "metric", "value")


class _Polled(Protocol):
    name: str
    finished: bool  # set by a sampler that has nothing (more) to give

    def sample(self) -> list[Row]: ...

    def close(self) -> None: ...


class _PollLoop:
    """Polls one sampler at a fixed rate without drift; records how much time and CPU it spends."""

    def __init__(self, sampler: _Polled, hz: float, emit: Any) -> None:
        self.sampler, self.interval, self.emit = sampler, 1.0 / hz, emit
        self.ticks = 0
        self.busy_seconds = 0.0
        self.cpu_seconds = 0.0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"telemetry-{sampler.name}", daemon=True)

    def _run(self) -> None:
        due = time.perf_counter()
        while not self._stop.wait(max(0.0, due - time.perf_counter())) and not self.sampler.finished:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                self.emit(self.sampler.sample())
            except Exception:  # a driver hiccup must not end the run; the gap shows in the data
                self.errors += 1
            self.busy_seconds += time.perf_counter() - started
            self.cpu_seconds += time.thread_time() - cpu
            self.ticks += 1
            due = max(due + self.interval, time.perf_counter())  # never burst to catch up

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sampler.close()


class Telemetry:
    def __init__(self, run_dir: Path, endpoint: Endpoint | None = None, *, container_id: str | None = None,
                 docker_client: docker.DockerClient | None = None, hz: float = 4.0,
                 gpu_vendor: str | None = None) -> None:
        self.path = run_dir / "telemetry.csv"
        self.endpoint, self.container_id, self.docker_client = endpoint, container_id, docker_client
        self.hz, self.gpu_vendor = hz, gpu_vendor
        self.gpu: dict[str, Any] = {"backend": "none"}
        self.peaks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loops: list[_PollLoop] = []
        self._stats: ContainerStats | None = None
        self._started = self._ended = 0.0

    def _emit(self, rows: list[Row]) -> None:
        if not rows:
            return
        with self._lock:
            self._writer.writerows(rows)
            self._file.flush()
            for _, source, metric, value in rows:
                if metric.startswith(("memory_used_bytes", "process_memory_bytes")):
                    key = f"{source}:{metric}"
                    self.peaks[key] = max(self.peaks.get(key, 0.0), value)

    def __enter__(self) -> Telemetry:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(HEADER)
        gpu, why = open_gpu_sampler(self.gpu_vendor)
        if gpu is None:
            self.gpu = {"backend": "none", "reason": why}
        else:
            self.gpu = gpu.describe()
            self._loops.append(_PollLoop(gpu, self.hz, self._emit))
        if self.endpoint is not None:
            self._loops.append(_PollLoop(MetricsSampler(self.endpoint.base_url, self.endpoint.headers),
                                         self.hz, self._emit))
        if self.container_id and self.docker_client is not None:
            self._stats = ContainerStats(self.docker_client, self.container_id, self._emit)
            self._stats.start()
        self._started = time.perf_counter()
        for loop in self._loops:
            loop.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for loop in self._loops:
            loop.stop()
        if self._stats is not None:
            self._stats.close()
        self._ended = time.perf_counter()
        with self._lock:
            self._file.close()

    def summary(self) -> dict[str, Any]:
        duration = max((self._ended or time.perf_counter()) - self._started, 1e-9)
        gpu_peaks = {k: v for k, v in self.peaks.items() if k.startswith("gpu")}
        return {
            "gpu": self.gpu,
            "peak_gpu_memory_bytes": max((v for k, v in gpu_peaks.items() if k.endswith(":memory_used_bytes")),
                                         default=None),
            "peaks": self.peaks,
            "samplers": {loop.sampler.name: {
                "target_hz": self.hz,
                "achieved_hz": round(loop.ticks / duration, 2),
                "errors": loop.errors,
                "busy_ms_per_sample": round(1000 * loop.busy_seconds / max(loop.ticks, 1), 3),
                # the sampler's CPU as a share of one core over the run: its overhead on the host
                "cpu_pct_of_one_core": round(100 * loop.cpu_seconds / duration, 3),
                "stopped_early": loop.sampler.finished,
            } for loop in self._loops},
        }
