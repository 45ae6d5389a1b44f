"""The nightly flagging rule: rolling-median baseline, one violation suspicious, two consecutive a
regression; direction per metric; what changed between nights."""

from __future__ import annotations

from harness.compare.thresholds import Thresholds
from harness.compare.trend import Status, changes, flag, judge, latest_flags
from harness.results import HistoryLine

RULES = Thresholds()


def statuses(values: list[float], name: str = "ttft", window: int = 7) -> list[str]:
    return [status for _, status in flag(values, RULES.rule(name), window)]


def test_two_consecutive_violations_are_a_regression() -> None:
    assert statuses([40, 41, 40, 52, 53]) == ["no baseline", "ok", "ok", "suspicious", "regression"]


def test_one_bad_night_is_only_suspicious() -> None:
    assert statuses([40, 41, 40, 52, 40, 41]) == ["no baseline", "ok", "ok", "suspicious", "ok", "ok"]


def test_within_threshold_is_ok_and_faster_is_ok() -> None:
    assert statuses([40, 42, 43, 30, 29]) == ["no baseline", "ok", "ok", "ok", "ok"]


def test_throughput_is_bad_when_it_falls() -> None:
    assert statuses([100, 101, 99, 80, 79], "request_throughput") == ["no baseline", "ok", "ok", "suspicious",
                                                                      "regression"]
    assert statuses([100, 101, 99, 130, 131], "request_throughput")[-1] == "ok"


def test_baseline_is_the_median_of_the_window() -> None:
    baselines = [b for b, _ in flag([10, 100, 10, 10, 10], RULES.rule("ttft"), window=3)]
    assert baselines == [None, 10, 55, 10, 10]  # one outlier never moves a median of three


def test_any_new_failure_or_error_counts() -> None:
    assert statuses([0, 0, 0, 1, 1], "error_rate")[-2:] == ["suspicious", "regression"]


def record(run: str, ttft: float, version: str, image: str) -> HistoryLine:
    return HistoryLine.model_validate(
        {"kind": "load", "run": run, "path": f"/runs/{run}", "started": f"2026-01-0{run}T00:00:00", "variant": "v",
         "vllm_version": version, "image_id": image, "metrics": {"c=1": {"median_ttft_ms": ttft}},
         "verdicts": {"t": "passed"}})


def test_judge_and_changes_over_records() -> None:
    records = [record("1", 40, "0.14.1", "a"), record("2", 40, "0.14.1", "a"), record("3", 55, "0.15.0", "b"),
               record("4", 56, "0.15.0", "b")]
    judged = judge(records, RULES, window=7)
    assert [p.status for p in judged["v"]["c=1 median_ttft_ms"]] == ["no baseline", "ok", "suspicious", "regression"]
    assert [p.status for p in judged["v"]["failed_tests"]][-1] == "ok"
    (found,) = latest_flags(judged)
    assert found.point.status is Status.REGRESSION and found.metric == "c=1 median_ttft_ms"
    assert str(found) == "v c=1 median_ttft_ms: regression (56 vs rolling median 40)"
    (moved,) = changes(records)["v"]
    assert moved[0] == "3" and "vllm_version 0.14.1 → 0.15.0" in moved[1] and "image_id a → b" in moved[1]
