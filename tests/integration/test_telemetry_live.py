"""Telemetry against real servers: the stub container's docker stats, and real vLLM's /metrics moving
while requests are served."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pandas as pd
import pytest

from harness.server.endpoint import Endpoint
from harness.telemetry import Telemetry

pytestmark = pytest.mark.integration


def _wait_for_tokens(path: Path, done: Callable[[list[float]], bool], what: str) -> list[float]:
    """The generation_tokens_total values scraped so far, once `done` says so (10 s bound)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            frame = pd.read_csv(path)
            seen = frame[(frame.source == "server") & (frame.metric == "generation_tokens_total")]["value"].tolist()
        except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError, AttributeError):
            seen = []  # not written yet, or caught mid-line
        if seen and done(seen):
            return seen
        assert time.monotonic() < deadline, f"telemetry: no {what} within 10 s (seen {seen[-3:]})"
        time.sleep(0.1)


def test_vllm_metrics_and_container_stats_on_one_clock(cpu_tiny: Endpoint, docker_client: docker.DockerClient,
                                                       tmp_path: Path) -> None:
    assert cpu_tiny.container_id, "the shared cpu-tiny runs in Docker"
    before = time.time()
    with Telemetry(tmp_path, cpu_tiny, container_id=cpu_tiny.container_id, docker_client=docker_client,
                   hz=4) as telemetry:
        # the first scrape must come before the requests, or six fast requests can all land before it
        # (seen: the counter "did not move" because both samples followed the requests)
        first = _wait_for_tokens(tmp_path / "telemetry.csv", lambda seen: bool(seen), "a first /metrics sample")
        with httpx.Client(base_url=cpu_tiny.base_url, timeout=60) as http:
            for i in range(6):
                response = http.post("/v1/completions", json={"model": cpu_tiny.model, "prompt": f"count {i}",
                                                              "max_tokens": 16, "temperature": 0})
                assert response.status_code == 200
        _wait_for_tokens(tmp_path / "telemetry.csv", lambda seen: max(seen) > first[0],
                         "vllm:generation_tokens_total to move after 6 completions")
        # the engine's stats stream yields about once a second: wait for its first sample, not a fixed time
        deadline = time.monotonic() + 10
        while "container:memory_used_bytes" not in telemetry.peaks and time.monotonic() < deadline:
            time.sleep(0.1)
    frame = pd.read_csv(tmp_path / "telemetry.csv")
    assert frame["t"].between(before, time.time()).all(), "telemetry is not on the wall clock of the run"
    server = frame[frame.source == "server"]
    tokens = server[server.metric == "generation_tokens_total"]["value"]
    assert tokens.iloc[-1] - tokens.iloc[0] > 0, "vllm:generation_tokens_total did not move while serving"
    assert {"num_requests_running", "kv_cache_usage_perc"} <= set(server.metric)
    assert (frame[(frame.source == "container") & (frame.metric == "memory_used_bytes")]["value"] > 1e8).all()
    summary = telemetry.summary()
    assert summary["gpu"]["backend"] == "none"
    # the achieved rate is a number to read (benchmarks), not to assert: a loaded 2-core host slows scrapes
    assert summary["samplers"]["server"]["achieved_hz"] > 0 and not summary["samplers"]["server"]["errors"], summary
    print(f"\nsampler overhead: {summary['samplers']}")
