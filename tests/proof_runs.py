"""What a proof reads from its load runs' results.json (typed, through harness.results), never from console
prose: whether any request failed (always a failure: the host cannot make a server answer 5xx or drop a
stream) and whether the client marked a run invalid (its self-check saw it starved or saturated: the proof
could not observe the server, so it is inconclusive, a skip with the measured reasons, never a pass)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from harness.results import read_run
from harness.results.reader import LoadRun


def loads_in(run_dirs: Iterable[Path]) -> list[tuple[str, LoadRun]]:
    """(run name, load report) of every load report in these run folders."""
    return [(run_dir.name, load) for run_dir in run_dirs for load in read_run(run_dir).loads]


def failed_requests(run_dirs: Iterable[Path]) -> list[str]:
    """'<run>/<level>: N failed (errors)' for every level with a failed request."""
    return [f"{run}/{load.prefix}{level.level}: {level.failed} failed" for run, load in loads_in(run_dirs)
            for level in load.report.levels if level.failed]


def invalid_runs(run_dirs: Iterable[Path]) -> list[str]:
    """'<run>/<levels>: reasons' for every load report its client marked invalid."""
    return [f"{run}/{load.prefix}{','.join(level.level for level in load.report.levels)}: "
            + "; ".join(load.report.invalid_reasons or ["(no reason recorded)"])
            for run, load in loads_in(run_dirs) if load.report.valid is False]


def skip_if_invalid(run_dirs: Iterable[Path], condition: str) -> None:
    """Skip (inconclusive) when a load run's client judged itself unable to measure the server."""
    run_dirs = list(run_dirs)
    assert loads_in(run_dirs), f"no load report in {[str(p) for p in run_dirs]}"
    found = invalid_runs(run_dirs)
    if found:
        pytest.skip(f"inconclusive: {condition} needs valid load runs, and this host kept the load client from "
                    f"measuring in {len(found)}: " + " | ".join(found))


def check_load_exit(code: int, run_dir: Path, output: str) -> None:
    """`vllm-harness load`'s exit code is the one its results.json calls for: no request failed, and 0 for
    a valid run, 3 for a run the client marked invalid (then the caller decides whether to skip)."""
    failed = failed_requests([run_dir])
    assert not failed, f"requests failed: {failed}\n{output[-2000:]}"
    (load,) = (load for _, load in loads_in([run_dir]))
    assert code == (0 if load.report.valid else 3), f"exit {code}, valid={load.report.valid}\n{output[-2000:]}"


def until_valid(attempt: Callable[[], Path], condition: str, attempts: int = 3) -> Path:
    """Run `attempt` (one load run; returns its folder) until its client judged the run valid, at most
    `attempts` times: a starved second on a shared host passes, and each try is a whole measurement, never
    a retry of a failure (a failed request fails at once). None valid: inconclusive, with every try's reasons."""
    tried = []
    for _ in range(attempts):
        run = attempt()
        assert not failed_requests([run]), failed_requests([run])
        if not invalid_runs([run]):
            return run
        tried.append(run)
    skip_if_invalid(tried, condition)
    raise AssertionError("unreachable: every try was invalid")
