"""The lanes check (suites/test_lanes.py) proven against a real switching deployment: tests/lanes/front.py,
an HTTP front that lists two lanes and swaps real cpu-tiny containers (real vLLM) in and out on demand.
It passes when the front queues requests across switches and reports each switch; it fails when the
front drops the requests that arrive during a switch (503)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.server.labels import SESSION

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BOOT_DEADLINE_S = 900.0


def _start_front(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], int, str]:
    front = subprocess.Popen([sys.executable, "-m", "tests.lanes.front", "--run-dir", str(tmp / "front"), *extra],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in front.stdout or []], daemon=True).start()
    deadline = time.monotonic() + BOOT_DEADLINE_S
    seen: list[str] = []
    while time.monotonic() < deadline and front.poll() is None:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("READY "):
            _, port, session = line.split()
            return front, int(port), session
    front.kill()
    raise AssertionError("the lanes front never became ready:\n" + "".join(seen[-30:]))


@pytest.fixture
def front_factory(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[object]:
    started: list[tuple[subprocess.Popen[str], str]] = []

    def start(*extra: str) -> int:
        front, port, session = _start_front(tmp_path, *extra)
        started.append((front, session))
        return port

    yield start
    for front, session in started:
        os.kill(front.pid, signal.SIGTERM)  # unwinds like Ctrl-C: the loaded lane is stopped and removed
        front.wait(timeout=60)
        left = docker_client.containers.list(all=True, filters={"label": f"{SESSION}={session}"})
        assert not left, f"the lanes front left {[c.name for c in left]}"


def _run_lanes_suite(port: int, reports: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_lanes.py", "--base-url", f"http://127.0.0.1:{port}",
         "--capabilities", "chat", "-p", "no:cacheprovider", "--reports-dir", str(reports), "-q", "-s",
         "--no-header"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    (run_dir,) = (reports / "runs").iterdir()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return result, records


def test_lanes_check_passes_on_a_front_that_queues_and_reports_switches(front_factory, tmp_path: Path) -> None:
    port = front_factory("--images-dir", str(REPO / "images"), "--variant", "cpu-tiny")
    result, records = _run_lanes_suite(port, tmp_path / "reports")
    assert result.returncode == 0, result.stdout[-4000:]
    (record,) = [r for r in records if r["test"].endswith("test_interleaved_lanes_lose_no_request_across_switches")]
    assert record["outcome"] == "passed"
    switches = record["properties"]["switches"]
    assert [(s["from"], s["to"]) for s in switches] == [("lane-a", "lane-b"), ("lane-b", "lane-a")], switches
    assert all(isinstance(s["seconds"], float) and s["steady_seconds"] is not None for s in switches)
    print("\nswitches:", ", ".join(f"{s['from']}->{s['to']} {s['seconds']:.1f}s (then {s['steady_seconds']:.2f}s)"
                                   for s in switches))


def test_lanes_check_fails_when_requests_are_dropped_during_a_switch(front_factory, tmp_path: Path) -> None:
    # what is proven is the check catching a front's drops, not the lanes' model: stub lanes (real containers
    # that boot in a second) keep this proof cheap; the real-vLLM lanes are proven above
    port = front_factory("--images-dir", str(REPO / "tests" / "fixtures"), "--variant", "stub-variant",
                         "--reject-while-switching")
    result, _ = _run_lanes_suite(port, tmp_path / "reports")
    assert result.returncode == 1, result.stdout[-4000:]
    assert "HTTP 503" in result.stdout and "switching lanes" in result.stdout, result.stdout[-3000:]
