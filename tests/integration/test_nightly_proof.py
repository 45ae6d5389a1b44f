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
from tests.proof_runs import check_load_exit, invalid_runs, skip_if_invalid

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
# few, long requests at 2 in flight (as test_compare_proof): the client stays far from saturation, and a run
# of ~10 s is not judged invalid for one starved second
LEVEL = "c=2"
LOAD = ["--requests", "48", "--concurrency", "2", "--output-len", "32", "--input-len", "16", "--warmup", "2"]


def harness_cli(*args: str, tag: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, history.TAG_ENV: tag}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)


def night(reports: Path, ttft_ms: float) -> Path:
    before = set((reports / "runs").glob("*")) if (reports / "runs").exists() else set()
    with running(ttft_ms, 10.0) as url:
        done = harness_cli("--reports-dir", str(reports), "load", "--base-url", url, "--model", "timed", *LOAD,
                           tag="nightly")
    (new,) = set((reports / "runs").glob("*")) - before
    check_load_exit(done.returncode, new, done.stdout + done.stderr)
    return new


def trend(reports: Path) -> subprocess.CompletedProcess[str]:
    return harness_cli("--reports-dir", str(reports), "nightly", "--report-only")


Trend = subprocess.CompletedProcess[str]


def five_nights(reports: Path) -> tuple[list[Path], Trend | None, Trend | None]:
    """Four nights and the trend after them, then a fifth night and the trend after it; stops at the
    first invalid night (the trend would judge the host's delay)."""
    runs = [night(reports, ttft) for ttft in (40, 40, 40, 52)]
    if invalid_runs(runs):
        return runs, None, None
    four = trend(reports)
    runs.append(night(reports, 52))
    return runs, four, trend(reports)


def test_trend_flags_two_slow_nights(tmp_path: Path) -> None:
    # a night whose client was starved carries the host's delay in its TTFT: the whole trend is tried again
    # in a fresh reports folder (a trend has no place for a night made twice), once; then inconclusive
    tried: list[Path] = []
    for attempt in (1, 2):
        reports = tmp_path / f"try-{attempt}"
        runs, four, done = five_nights(reports)
        if not invalid_runs(runs):
            break
        tried += runs
    else:
        skip_if_invalid(tried, "a trend of five nights, the last two 30% slower")
    assert four is not None and done is not None
    text = " ".join(four.stderr.split())
    assert four.returncode == 0, text
    assert f"{LEVEL} median_ttft_ms: suspicious" in text, text
    text = " ".join(done.stderr.split())
    assert done.returncode == 1, text
    assert f"{LEVEL} median_ttft_ms: regression" in text, text
    assert "median_itl_ms" not in text  # ITL never changed
    page = (reports / "nightly" / "trend.html").read_text()
    assert page.count("data:image/png;base64,") >= 7 and "regression" in page
    assert len(history.read(reports)) == 5


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
    # the suites passed (an invalid load run is a skip, a failed request a failure) and one night is no trend
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = history.read(reports)
    assert line.tag == "nightly" and line.variant == "gate" and line.vllm_version == "0.1.0"
    assert line.image_id and line.ready_seconds is not None
    assert line.metrics["chat/c=2"].completed == 40  # the load suite ran the variant's [load] table
    assert line.verdicts["tests/fixtures/gate-suite/checks_gate.py::test_distinct_inputs_give_distinct_answers"] \
        == "xfailed"
    (junit,) = (reports / "nightly").glob("*/junit-gate.xml")
    assert "<testsuite" in junit.read_text()
    assert (reports / "nightly" / "trend.html").exists()
    # the load test itself passed: its report is valid (else it could not be judged: inconclusive)
    skip_if_invalid([Path(line.path)], "the nightly's load test passing")
    assert line.verdicts["suites/test_load.py::test_load_chat"] == "passed", line.verdicts


def test_report_only_without_history_is_one_line(tmp_path: Path) -> None:
    done = trend(tmp_path)
    assert done.returncode == 2 and "no nightly runs" in done.stderr and "Traceback" not in done.stderr
