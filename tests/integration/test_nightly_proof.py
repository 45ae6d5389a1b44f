"""Proof of the nightly trend from real runs: real load runs (the real CLI) against timed servers stand
for five nights, the last two 30% slower on TTFT; after night 4 the trend says suspicious (exit 0), after
night 5 regression (exit 1). Then `vllm-harness nightly --image` itself runs a real variant (the gate
fixture, a timed server in Docker) through pytest and appends its tagged line with JUnit XML."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.load.timed_server import running
from harness.results import history

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
LOAD = ["--requests", "80", "--concurrency", "4", "--output-len", "8", "--input-len", "16", "--warmup", "2"]


def harness_cli(*args: str, tag: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, history.TAG_ENV: tag}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)


def night(reports: Path, ttft_ms: float) -> None:
    with running(ttft_ms, 10.0) as url:
        done = harness_cli("--reports-dir", str(reports), "load", "--base-url", url, "--model", "timed", *LOAD,
                           tag="nightly")
    # 3: the client judged itself delayed by this busy host; the run is kept (and the trend sees it)
    assert done.returncode in (0, 3), done.stderr[-2000:]


def trend(reports: Path) -> subprocess.CompletedProcess[str]:
    return harness_cli("--reports-dir", str(reports), "nightly", "--report-only")


def test_trend_flags_two_slow_nights(tmp_path: Path) -> None:
    for ttft in (40, 40, 40, 52):
        night(tmp_path, ttft)
    done = trend(tmp_path)
    text = " ".join(done.stderr.split())
    assert done.returncode == 0, text
    assert "c=4 median_ttft_ms: suspicious" in text, text
    night(tmp_path, 52)
    done = trend(tmp_path)
    text = " ".join(done.stderr.split())
    assert done.returncode == 1, text
    assert "c=4 median_ttft_ms: regression" in text, text
    assert "median_itl_ms" not in text  # ITL never changed
    page = (tmp_path / "nightly" / "trend.html").read_text()
    assert page.count("data:image/png;base64,") >= 7 and "regression" in page
    assert len(history.read(tmp_path)) == 5


def test_nightly_runs_a_variant_and_appends_its_line(tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(FIXTURES / "gate-variant", images / "gate")
    shutil.copy(REPO / "harness" / "load" / "timed_server.py", images / "gate" / "timed_server.py")
    # the timed server runs its HTTP front in a child process (harness.server.child_server): the image needs it too
    (images / "gate" / "harness" / "server").mkdir(parents=True)
    (images / "gate" / "harness" / "__init__.py").write_text("")
    (images / "gate" / "harness" / "server" / "__init__.py").write_text("")
    server = images / "gate" / "harness" / "server"
    shutil.copy(REPO / "harness" / "server" / "child_server.py", server / "child_server.py")
    reports = tmp_path / "reports"
    done = harness_cli("--images-dir", str(images), "--reports-dir", str(reports), "nightly", "--image", "gate",
                       "--suites", str(FIXTURES / "gate-suite" / "checks_gate.py"), "--suites", "suites/test_load.py")
    # exit 1 only when this busy host delayed the load client so much that the load test called its run invalid
    assert done.returncode == 0 or "the run is invalid" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = history.read(reports)
    assert line.tag == "nightly" and line.variant == "gate" and line.vllm_version == "0.1.0"
    assert line.image_id and line.ready_seconds is not None
    assert line.metrics["chat/c=4"].completed == 100  # the load suite ran the variant's [load] table
    assert line.verdicts["tests/fixtures/gate-suite/checks_gate.py::test_distinct_inputs_give_distinct_answers"] \
        == "xfailed"
    (junit,) = (reports / "nightly").glob("*/junit-gate.xml")
    assert "<testsuite" in junit.read_text()
    assert (reports / "nightly" / "trend.html").exists()


def test_report_only_without_history_is_one_line(tmp_path: Path) -> None:
    done = trend(tmp_path)
    assert done.returncode == 2 and "no nightly runs" in done.stderr and "Traceback" not in done.stderr
