"""Failed requests fail a load run, for real: the real load generator drives a real HTTP server that
answers 500, cuts its streams mid-way or drops the connection (harness.load.timed_server --fault), through
`vllm-harness load --base-url` and through `pytest suites/ -m load --base-url`. The CLI exits 4 naming the
error kinds, the pytest load test fails with them, the HTML page leads with the verdict, and successful
throughput stands apart from attempted. A variant that declares `[load.slo] max_error_rate` is allowed
that share. A run whose client was kept from running (SIGSTOP, so its own lag samples mark it invalid) still
fails on the server's 500s: an invalid run is not a pass for a broken server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.load.timed_server import running

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LOAD = ("--model", "timed", "--concurrency", "2", "--requests", "8", "--warmup", "0", "--kinds", "chat",
        "--output-len", "8")
KINDS = {"http-500": "http 500", "cut-stream": "stream broken", "drop": "connection dropped"}


Done = subprocess.CompletedProcess[str]


def harness_load(tmp_path: Path, *args: str, images: Path | None = None) -> tuple[Done, Path]:
    reports = tmp_path / "reports"
    where = ("--images-dir", str(images)) if images else ()
    done = subprocess.run([sys.executable, "-m", "harness", *where, "--reports-dir", str(reports), "load", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    found = list(reports.glob("runs/*/results.json"))
    assert len(found) == 1, (done.stdout + done.stderr)[-3000:]
    return done, found[0].parent


def results(run: Path) -> dict[str, Any]:
    return json.loads((run / "results.json").read_text())


@pytest.mark.parametrize("fault", list(KINDS))
def test_cli_exits_4_with_the_failures_by_kind(tmp_path: Path, fault: str) -> None:
    with running(2, 1, "--fault", fault, "--fault-every", "2") as url:  # every other request fails
        done, run = harness_load(tmp_path, "--base-url", url, *LOAD)
    output = done.stdout + done.stderr
    kind = KINDS[fault]
    assert done.returncode == 4 and "Traceback" not in output, output[-3000:]
    assert f"REQUESTS FAILED: c=2: 4 of 8 requests failed (50.0% > allowed 0.0%): {kind}: 4" in output, output[-3000:]
    assert "verdict: requests failed (exit 4)" in output, output[-3000:]
    report = results(run)
    (level,) = report["levels"]
    assert report["verdict"] == "requests failed", report["verdict"]
    assert level["completed"] == 4 and level["harness_failures"] == {kind: 4}, level
    # successful throughput counts the answered half only; attempted counts all that was sent
    assert level["request_throughput"] == pytest.approx(level["harness_attempted_throughput"] / 2)
    page = (run / "index.html").read_text()
    verdict, self_check = page.index("Verdict: requests failed"), page.index("client self-check")
    assert verdict < self_check and verdict < page.index("<th>completed</th>"), "the verdict must lead the page"
    assert f'<td class="bad">{kind}</td>' in page and "<th>attempted req/s</th>" in page


def test_all_requests_500_the_page_shows_no_latency_and_no_throughput(tmp_path: Path) -> None:
    with running(2, 1, "--fault", "http-500") as url:
        done, run = harness_load(tmp_path, "--base-url", url, *LOAD)
    assert done.returncode == 4, (done.stdout + done.stderr)[-3000:]
    (level,) = results(run)["levels"]
    assert level["completed"] == 0 and level["request_throughput"] == 0 and level["harness_attempted_throughput"] > 0
    page = (run / "index.html").read_text()
    assert "<th>TTFT p50 (ms)</th><td>-</td>" in page and "<th>successful req/s</th><td>0.00</td>" in page
    assert "injected fault: internal server error" in page  # the server's own words, first error of the kind


def write_variant(images: Path, max_error_rate: float | None) -> None:
    slo = "" if max_error_rate is None else f"\n[load.slo]\nmax_error_rate = {max_error_rate}\n"
    (images / "timed").mkdir(parents=True)
    (images / "timed" / "variant.toml").write_text(
        'description = "the timed server"\n\n[serve]\nmodel = "timed"\nserved_model_name = "timed"\n\n'
        '[capabilities]\nchat = true\n' + slo)


@pytest.mark.parametrize(("allowed", "code"), [(None, 4), (0.5, 0)])
def test_a_declared_max_error_rate_allows_its_share(tmp_path: Path, allowed: float | None, code: int) -> None:
    images = tmp_path / "images"
    write_variant(images, allowed)
    with running(2, 1, "--fault", "http-500", "--fault-every", "4") as url:  # 2 of 8 fail: 25 %
        done, run = harness_load(tmp_path, "timed", "--base-url", url, *LOAD, images=images)
    output = done.stdout + done.stderr
    assert done.returncode == code, output[-3000:]
    (level,) = results(run)["levels"]
    assert level["harness_failures"] == {"http 500": 2}, level
    assert ("REQUESTS FAILED" in output) == (code == 4), output[-3000:]


def test_pytest_load_test_fails_with_the_error_kinds(tmp_path: Path) -> None:
    with running(2, 1, "--fault", "cut-stream", "--fault-every", "2") as url:
        done = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-m", "load", "-p", "no:cacheprovider",
                               "--base-url", url, "--model", "timed", "--capabilities", "chat", "--reports-dir",
                               str(tmp_path / "reports"), "-q", "-rfs", "--no-header"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1 and "1 failed" in out, out[-3000:]
    # the variant's defaults: 16 requests at c=1 and at c=4, every other one cut mid-stream
    for level in ("c=1", "c=4"):
        assert f"{level}: 8 of 16 requests failed (50.0% > allowed 0.0%): stream broken: 8" in out, out[-3000:]


def agents(marker: str) -> list[int]:
    """The load agent processes whose command line names `marker` (a run's folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
            if b"harness.load.agent" in cmdline and any(marker.encode() in part for part in cmdline):
                found.append(int(proc.name))
    return found


@contextlib.contextmanager
def starved_client(marker: str) -> Iterator[set[int]]:
    """The load generator kept from running, as on a host too busy for it: its processes are stopped
    (SIGSTOP) for 50 ms of every 150 ms, so its own loop-lag samples mark the run invalid. Yields the pids
    it stopped; every one is continued on the way out."""
    done, stopped = threading.Event(), set()

    def freeze() -> None:
        while not done.is_set():
            pids = agents(marker)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    stopped.add(pid)
            done.wait(0.05)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            done.wait(0.1)

    thread = threading.Thread(target=freeze, daemon=True)
    thread.start()
    try:
        yield stopped
    finally:
        done.set()
        thread.join(timeout=5)
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_server_errors_fail_an_invalid_run_too(tmp_path: Path) -> None:
    with running(2, 1, "--fault", "http-500", "--fault-every", "2") as url, starved_client(str(tmp_path)) as stopped:
        done, run = harness_load(tmp_path, "--base-url", url, "--model", "timed", "--concurrency", "2",
                                 "--duration", "5", "--warmup", "0", "--kinds", "chat", "--output-len", "8")
    output = done.stdout + done.stderr
    report = results(run)
    if report["valid"]:
        pytest.skip(f"inconclusive: the client was not judged saturated though stopped ({len(stopped)} pid(s))")
    assert done.returncode == 4 and report["verdict"] == "requests failed", output[-3000:]  # failures beat invalid
    assert "INVALID:" in output and "REQUESTS FAILED: c=2:" in output and "http 500:" in output, output[-3000:]


def test_pytest_fails_an_invalid_run_with_server_errors(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with running(20, 10, "--fault", "http-500", "--fault-every", "2") as url, starved_client(str(reports)):
        done = subprocess.run([sys.executable, "-m", "pytest", "suites/test_load.py", "-m", "load", "-k", "chat",
                               "-p", "no:cacheprovider", "--base-url", url, "--model", "timed", "--capabilities",
                               "chat", "--reports-dir", str(reports), "-q", "-rfs", "--no-header"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    found = list(reports.glob("runs/*/load-chat/results.json"))
    assert len(found) == 1, done.stdout[-3000:]
    report = results(found[0].parent)
    if report["valid"]:
        pytest.skip("inconclusive: the client was not judged saturated though stopped")
    out = done.stdout
    assert done.returncode == 1 and "1 failed" in out and "the run is invalid" not in out, out[-3000:]
    assert "requests failed: c=1: 8 of 16 requests failed" in out and "http 500: 8" in out, out[-3000:]
