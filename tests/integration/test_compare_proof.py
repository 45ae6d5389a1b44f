"""Proof of `vllm-harness compare` with real load runs (the real CLI, real HTTP, real locust) against a
server of known timing (harness.load.timed_server): a copy slowed by 30% on TTFT must be flagged on TTFT
and nothing else, and repeated runs of one unchanged server must not be flagged. Every run appends its
line to the history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.load.timed_server import running
from harness.results import history
from tests.proof_runs import check_load_exit, until_valid

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TTFT_MS, ITL_MS = 40.0, 10.0
# few, long requests at 2 in flight: ~200 chunks/s keep the client far from saturation on a busy 2-core host,
# and a run of ~12 s is not judged invalid for one starved second (its self-check needs 20% of seconds);
# 64 TTFTs a run keep the median steady to a few %
REQUESTS, LEVEL = 64, "c=2"
LOAD = ["--requests", str(REQUESTS), "--concurrency", "2", "--output-len", "32", "--input-len", "16",
        "--warmup", "2"]


def harness_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def load_run(reports: Path, url: str) -> Path:
    before = set((reports / "runs").glob("*")) if (reports / "runs").exists() else set()
    done = harness_cli("--reports-dir", str(reports), "load", "--base-url", url, "--model", "timed", *LOAD)
    (new,) = set((reports / "runs").glob("*")) - before
    check_load_exit(done.returncode, new, done.stdout + done.stderr)
    return new


@dataclass
class Runs:
    reports: Path
    same: list[Path]  # three valid runs of the baseline server
    slow: Path  # a valid run of the slowed one
    every: list[Path]  # every run made, in order: invalid tries too (each appended its history line)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Three runs of the baseline server and one of the slowed one, in one reports folder; a run the client
    judged invalid (this shared host starved it) is tried again, up to 3 times, and then inconclusive."""
    reports = tmp_path_factory.mktemp("compare-reports")
    every: list[Path] = []

    def attempt(url: str) -> Path:
        every.append(load_run(reports, url))
        return every[-1]

    condition = "comparing a 30% slower TTFT with repeated runs of one server"
    with running(TTFT_MS, ITL_MS) as url:
        same = [until_valid(lambda: attempt(url), condition) for _ in range(3)]
    with running(TTFT_MS * 1.3, ITL_MS) as url:
        slow = until_valid(lambda: attempt(url), condition)
    yield Runs(reports, same, slow, every)


def compare(out: Path, *args: str) -> tuple[int, str]:
    done = harness_cli("compare", *args, "--out", str(out))
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert (out / "compare.html").stat().st_size > 10_000  # the plots are inlined
    return done.returncode, (out / "compare.md").read_text()


def rows(markdown: str) -> dict[str, str]:
    """metric title -> its table row (first load level)."""
    found = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| c=") and len(cells) > 2:
            found.setdefault(cells[1], line)
    return found


def test_slowed_ttft_is_flagged(runs: Runs, tmp_path: Path) -> None:
    same, slow = runs.same, runs.slow
    code, markdown = compare(tmp_path, str(same[0]), str(slow))
    print(markdown)
    assert code == 1, markdown
    table = rows(markdown)
    assert "regression" in table["TTFT median"], table["TTFT median"]
    ratio = float(table["TTFT median"].split("|")[5].strip().rstrip("x"))
    assert 1.2 < ratio < 1.4, ratio  # the server's TTFT went from 40 to 52 ms
    # ITL was not touched: it must not be flagged
    assert "regression" not in table["ITL median"], table["ITL median"]


def test_same_server_is_not_flagged(runs: Runs, tmp_path: Path) -> None:
    same = runs.same
    for i, (a, b) in enumerate([(0, 1), (1, 2), (0, 2)]):
        code, markdown = compare(tmp_path / str(i), str(same[a]), str(same[b]))
        assert code == 0, markdown
        assert "no regression" in markdown


def test_sets_of_runs_by_glob(runs: Runs, tmp_path: Path) -> None:
    same, slow = runs.same, runs.slow
    code, markdown = compare(tmp_path, str(same[0]), str(slow), "--baseline", str(same[1]),
                             "--baseline", str(same[2]))
    assert code == 1 and "3 run(s)" in markdown, markdown
    parent = same[0].parent
    pattern = str(parent / "*")  # every run against the slow one alone: still one set, still flagged
    code, markdown = compare(tmp_path / "glob", pattern, str(slow))
    assert f"{len(runs.every)} run(s)" in markdown, markdown


def test_thresholds_file_is_read_and_checked(runs: Runs, tmp_path: Path) -> None:
    same, slow = runs.same, runs.slow
    lenient = tmp_path / "compare.toml"
    # every metric the slowdown moves (TTFT +30%; E2E latency and both throughputs ~4%) gets 50%: far
    # from the edge on either side, while the defaults flag it (test_slowed_ttft_is_flagged)
    moved = ("ttft", "e2el", "request_throughput", "output_throughput")
    lenient.write_text("".join(f"[metrics.{name}]\nthreshold = 0.5\n" for name in moved))
    code, markdown = compare(tmp_path / "out", str(same[0]), str(slow), "--thresholds", str(lenient))
    assert code == 0, markdown
    lenient.write_text("[metrics.ttft]\nthreshold = 'ten'\n")
    done = harness_cli("compare", str(same[0]), str(slow), "--thresholds", str(lenient))
    assert done.returncode == 2 and "metrics.ttft.threshold" in done.stderr and "Traceback" not in done.stderr


def test_every_run_is_in_the_history(runs: Runs) -> None:
    lines = history.read(runs.reports)
    assert [line.run for line in lines] == [p.name for p in runs.every]
    for line in lines:
        assert line.kind == "load" and line.vllm_version == "timed" and line.harness_version
        assert line.metrics[LEVEL].completed == REQUESTS
    by_run = {line.run: line for line in lines}
    slow, same = by_run[runs.slow.name], by_run[runs.same[0].name]
    assert slow.metrics[LEVEL].median_ttft_ms > same.metrics[LEVEL].median_ttft_ms
    # plain JSON all the way down, read without the harness (e.g. pandas.read_json(lines=True))
    raw = [json.loads(text) for text in (runs.reports / history.FILE).read_text().splitlines()]
    assert [r["metrics"][LEVEL]["completed"] for r in raw] == [REQUESTS] * len(lines)


def test_missing_run_folder_is_one_line(tmp_path: Path) -> None:
    done = harness_cli("compare", str(tmp_path / "nope"), str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    # one message (the console may wrap it to the terminal's width)
    assert done.stderr.count("error:") == 1 and "is not a folder" in " ".join(done.stderr.split()), done.stderr
