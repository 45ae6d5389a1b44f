"""The proofs' reading of their load runs (tests/proof_runs.py) on the failure paths the old assertions
let through: a failed request is a failure whatever the exit code, an exit code must be the one
results.json calls for, an invalid run is a skip that names its level and measured reasons, and a gate's
new failure of the load test is a failure, not the host's doing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_gate_proof import new_failures, skip_unless_judged
from tests.proof_runs import check_load_exit, failed_requests, invalid_runs, skip_if_invalid, until_valid

REASON = "load generator lagging: process 0's event loop woke >= 10 ms late (p99) in 40% of seconds (worst 31.0 ms)"


def load_run(folder: Path, valid: bool = True, failed: int = 0) -> Path:
    folder.mkdir(parents=True)
    results = {"valid": valid, "invalid_reasons": [] if valid else [REASON],
               "levels": [{"level": "c=2", "completed": 40 - failed, "failed": failed}]}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_a_valid_run_with_exit_0_passes(tmp_path: Path) -> None:
    run = load_run(tmp_path / "run")
    check_load_exit(0, run, "")
    skip_if_invalid([run], "x")
    assert failed_requests([run]) == [] and invalid_runs([run]) == []


@pytest.mark.parametrize("code", [0, 1, 3, 4])  # 1 and 4: the exits a failed request may get
def test_failed_requests_fail_whatever_the_exit_code(tmp_path: Path, code: int) -> None:
    # the old `returncode in (0, 3)` took an invalid run with server errors (exit 3) as a pass
    run = load_run(tmp_path / "run", valid=False, failed=2)
    with pytest.raises(AssertionError, match="run/c=2: 2 failed"):
        check_load_exit(code, run, "")


@pytest.mark.parametrize(("valid", "code"), [(True, 3), (False, 0), (True, 1)])
def test_exit_code_must_match_results_json(tmp_path: Path, valid: bool, code: int) -> None:
    run = load_run(tmp_path / "run", valid=valid)
    with pytest.raises(AssertionError, match=f"exit {code}"):
        check_load_exit(code, run, "")


def test_an_invalid_run_is_a_skip_with_its_measured_reason(tmp_path: Path) -> None:
    runs = [load_run(tmp_path / "a"), load_run(tmp_path / "b" / "load-chat", valid=False).parent]
    check_load_exit(3, runs[1] / "load-chat", "")  # exit 3 is right for it, and still no pass below
    with pytest.raises(pytest.skip.Exception) as skipped:
        skip_if_invalid(runs, "judging a slower TTFT")
    assert "inconclusive: judging a slower TTFT" in str(skipped.value)
    assert f"in 1: b/chat/c=2: {REASON}" in str(skipped.value)


def test_no_load_report_is_a_failure_not_a_skip(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(AssertionError, match="no load report"):
        skip_if_invalid([tmp_path / "run"], "x")


def test_a_gate_new_failure_of_the_load_test_is_caught() -> None:
    # the old only_from_a_busy_host accepted exactly this when a B log said "the run is invalid"
    lines = ["- chat/c=2 TTFT median: 40 ms → 52 ms (1.300x)",
             "- new failure: suites/test_load.py::test_load_chat (passed → failed)"]
    assert new_failures(lines) == [lines[1]]


def test_until_valid_tries_again_only_while_invalid(tmp_path: Path) -> None:
    def tries(valid: list[bool], failed: int = 0) -> tuple[Callable[[], Path], list[Path]]:
        made: list[Path] = []
        base = tmp_path / str(len(list(tmp_path.iterdir())))

        def attempt() -> Path:
            made.append(load_run(base / str(len(made)), valid=valid[len(made)], failed=failed))
            return made[-1]
        return attempt, made

    attempt, made = tries([False, True])
    assert until_valid(attempt, "x") == made[1]
    attempt, made = tries([False] * 3)
    with pytest.raises(pytest.skip.Exception, match=r"in 3: 0/c=2: .* \| 1/c=2: .* \| 2/c=2: "):
        until_valid(attempt, "x")
    attempt, made = tries([False, True], failed=1)
    with pytest.raises(AssertionError, match="failed"):  # a failed request is never tried again
        until_valid(attempt, "x")
    assert len(made) == 1


def gate_rounds(tmp_path: Path, valid: dict[str, bool]) -> Path:
    """A gate folder whose rounds' load runs are valid or not, by round name (A1, B1, A2, B2)."""
    gate_dir = tmp_path / "gate" / "20260101-000000-gate"
    rounds = [{"side": name[0], "round": int(name[1]), "run": f"run-{name}"} for name in valid]
    for name, ok in valid.items():
        load_run(gate_dir / name[0] / "runs" / f"run-{name}" / "load-chat", valid=ok)
    (gate_dir / "gate.json").write_text(json.dumps({"rounds": rounds}))
    return tmp_path


@pytest.mark.parametrize(("valid", "judged"), [
    ({"A1": True, "B1": True, "A2": True, "B2": True}, True),
    ({"A1": True, "B1": False, "A2": True, "B2": True}, True),  # B's invalid round is left out, one is enough
    ({"A1": True, "B1": True, "A2": False, "B2": True}, False),  # no noise floor
    ({"A1": True, "B1": False, "A2": True, "B2": False}, False),  # B only from the client's delays
])
def test_gate_is_judged_only_from_valid_rounds(tmp_path: Path, valid: dict[str, bool], judged: bool) -> None:
    reports = gate_rounds(tmp_path, valid)
    if judged:
        skip_unless_judged(reports, "x")
    else:
        with pytest.raises(pytest.skip.Exception, match="inconclusive: x"):
            skip_unless_judged(reports, "x")
