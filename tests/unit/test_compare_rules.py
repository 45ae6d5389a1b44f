"""The compare decision rule on hand-made samples: threshold AND significance, direction, noise floor,
verdict changes, greedy diffs, and the thresholds file's validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.compare.decide import compare, greedy_diffs, verdict_changes
from harness.compare.runs import Side, load_side
from harness.compare.thresholds import Thresholds
from harness.errors import UsageError
from harness.results import GreedyAnswer

RNG = np.random.default_rng(0)


def side(label: str, ttft: np.ndarray, runs: int = 1) -> Side:
    s = Side(label, [Path(f"/{label}{i}") for i in range(runs)])
    for name in ("ttft", "tpot", "itl", "e2el"):
        s.samples[("c=1", name)] = ttft if name == "ttft" else np.full(50, 10.0) + RNG.normal(0, 0.1, 50)
        s.per_run[("c=1", name)] = [float(np.median(s.samples[("c=1", name)]))] * runs
    for name in ("request_throughput", "output_throughput"):
        s.samples[("c=1", name)] = np.full(50, 5.0) + RNG.normal(0, 0.01, 50)
        s.per_run[("c=1", name)] = [5.0] * runs
    s.errors["c=1"] = (0, len(ttft))
    return s


def metric(result: object, name: str) -> object:
    return next(m for m in result.metrics if m.rule.name == name)  # type: ignore[attr-defined]


def test_large_significant_shift_regresses() -> None:
    result = compare(side("a", RNG.normal(40, 2, 200)), side("b", RNG.normal(52, 2, 200)))
    ttft = metric(result, "ttft")
    assert ttft.regressed and ttft.p_value < 1e-6 and 1.25 < ttft.ratio < 1.35
    assert result.regressed and not metric(result, "itl").regressed


def test_small_significant_shift_is_not_a_regression() -> None:
    # +3%: significant with 2000 samples, but under the 10% threshold
    result = compare(side("a", RNG.normal(40, 1, 2000)), side("b", RNG.normal(41.2, 1, 2000)))
    ttft = metric(result, "ttft")
    assert ttft.p_value < 0.01 and not ttft.regressed


def test_large_but_insignificant_shift_is_not_a_regression() -> None:
    # +20% in the median of three noisy samples: past the threshold, not significant
    result = compare(side("a", np.array([40.0, 80.0, 20.0])), side("b", np.array([48.0, 15.0, 90.0])))
    ttft = metric(result, "ttft")
    assert ttft.ratio > 1.1 and not ttft.regressed


def test_getting_faster_is_an_improvement() -> None:
    result = compare(side("a", RNG.normal(50, 1, 200)), side("b", RNG.normal(40, 1, 200)))
    ttft = metric(result, "ttft")
    assert ttft.improved and not result.regressed and ttft.p_value < 1e-6  # the p of getting faster


def test_getting_faster_by_noise_is_not_an_improvement() -> None:
    # -50% in the median of three noisy samples: past the threshold, not significant (measured: a busy host
    # made 0.31.0's TTFT look 2.5x slower in one round, and the gate called 0.32.0 "better")
    result = compare(side("a", np.array([40.0, 80.0, 20.0])), side("b", np.array([20.0, 90.0, 15.0])))
    ttft = metric(result, "ttft")
    assert ttft.ratio < 0.9 and not ttft.improved


def test_any_new_error_regresses() -> None:
    a, b = side("a", RNG.normal(40, 1, 100)), side("b", RNG.normal(40, 1, 100))
    b.errors["c=1"] = (1, 100)
    assert metric(compare(a, b), "error_rate").regressed


def test_noise_floor_clears_a_change_within_it() -> None:
    a, b = side("a", RNG.normal(40, 1, 200)), side("b", RNG.normal(46, 1, 200))
    result = compare(a, b)
    assert metric(result, "ttft").regressed
    noise = compare(side("a1", RNG.normal(40, 1, 200)), side("a2", RNG.normal(47, 1, 200)))
    cleared = result.within_noise(noise)
    assert not metric(cleared, "ttft").regressed and "noise" in metric(cleared, "ttft").note


def test_an_infinite_noise_floor_says_it_cannot_judge() -> None:
    """A zero median in one A round (every token of a stream in one read: ITL 0 ms) makes A-vs-A's ratio
    infinite: B's change is not judged, and the report says why rather than '±inf%'."""
    result = compare(side("a", RNG.normal(40, 1, 200)), side("b", RNG.normal(46, 1, 200)))
    noise = compare(side("a1", np.zeros(200)), side("a2", RNG.normal(40, 1, 200)))
    assert metric(noise, "ttft").ratio == np.inf
    judged = metric(result.within_noise(noise), "ttft")
    assert not judged.regressed and judged.note.startswith("not judged: A's own rounds differ without bound")


def test_a_level_without_a_noise_floor_is_not_judged() -> None:
    result = compare(side("a", RNG.normal(40, 1, 200)), side("b", RNG.normal(46, 1, 200)))
    noise = compare(Side("a1", []), Side("a2", []))  # A's other rounds of this level were all invalid
    judged = metric(result.within_noise(noise), "ttft")
    assert not judged.regressed and "no A-vs-A noise floor" in judged.note


def test_a_tail_is_judged_over_runs() -> None:
    """A stall of a few requests per run (0.31.0: ~1.4 s, 3 of 16 requests at c=4) barely moves a median;
    TTFT p90 per run catches it once each side has 3 runs, and says it cannot with fewer."""
    def runs(p90s: list[float]) -> Side:
        s = side("x", RNG.normal(40, 1, 200), runs=len(p90s))
        s.per_run[("c=1", "ttft_p90")] = p90s
        return s

    stalled = metric(compare(runs([100.0, 137.0, 120.0]), runs([1450.0, 1406.0, 1420.0])), "ttft_p90")
    assert stalled.regressed and stalled.p_value == pytest.approx(0.05)
    assert metric(compare(runs([1450.0, 1406.0, 1420.0]), runs([100.0, 137.0, 120.0])), "ttft_p90").improved
    two = metric(compare(runs([100.0, 137.0]), runs([1450.0, 1406.0])), "ttft_p90")
    assert not two.regressed and two.note == "not judged: needs 3 runs per side (changed)"


def test_run_level_facts() -> None:
    a, b = side("a", RNG.normal(40, 1, 50)), side("b", RNG.normal(40, 1, 50))
    a.run_values |= {"max_model_len": [2048], "ready_seconds": [40.0], "peak_gpu_memory_bytes": [10e9]}
    b.run_values |= {"max_model_len": [4096], "ready_seconds": [80.0], "peak_gpu_memory_bytes": [11e9]}
    result = compare(a, b)
    assert metric(result, "max_model_len").regressed  # a served default changed
    assert metric(result, "peak_gpu_memory_bytes").regressed  # +10% > 5%, one run: threshold only
    startup = metric(result, "ready_seconds")
    assert not startup.regressed and "needs 3 runs" in startup.note  # too noisy to judge from one run


def test_verdict_changes() -> None:
    base = [{"t_pass": "passed", "t_known": "xfailed", "t_broken": "failed", "t_gone": "passed"}]
    cand = [{"t_pass": "failed", "t_known": "xpassed", "t_broken": "passed", "t_new": "passed"}]
    kinds = {v.test: v.kind for v in verdict_changes(base, cand)}
    assert kinds == {"t_pass": "new failure", "t_known": "known issue fixed", "t_broken": "fixed",
                     "t_gone": "removed", "t_new": "added"}
    # over repeated runs: a baseline that already varied makes no candidate change news
    varied = verdict_changes([{"t": "passed"}, {"t": "failed"}], [{"t": "failed"}, {"t": "failed"}])
    assert [v.kind for v in varied] == ["flaky"] and not varied[0].regression
    new = verdict_changes([{"t": "passed"}, {"t": "passed"}], [{"t": "passed"}, {"t": "failed"}])
    assert [v.kind for v in new] == ["new failure"] and new[0].regression


def test_known_issues_that_hold_on_one_release_only() -> None:
    """A strict xfail declared for the candidate: on the baseline it XPASSes (or, declared by version range,
    passes), on the candidate it fails as declared. The bump brings the bug: reported, not a new failure."""
    for before in ("xpassed", "passed"):
        (found,) = verdict_changes([{"t": before}], [{"t": "xfailed"}])
        assert found.kind == "known issue appeared" and not found.regression
    (gone,) = verdict_changes([{"t": "xfailed"}], [{"t": "passed"}])  # a range that ends before the candidate
    assert gone.kind == "known issue fixed"
    assert verdict_changes([{"t": "xfailed"}], [{"t": "xfailed"}]) == []


def test_greedy_diffs() -> None:
    def answers(red: list[str], red_prompt: int) -> dict[str, GreedyAnswer]:
        return {"red": GreedyAnswer(label="red", tokens=red, text="", prompt_tokens=red_prompt),
                "blue": GreedyAnswer(label="blue", tokens=["x"], text="x", prompt_tokens=5)}

    base, cand = answers(["a", "b", "c", "d"], 20), answers(["a", "b", "z", "d"], 24)
    diffs = {d.label: d for d in greedy_diffs(base, cand)}
    assert diffs["red"].changed and diffs["red"].agreement == 0.75 and diffs["red"].first_divergence == 2
    assert diffs["red"].prompt_tokens == (20, 24) and not diffs["blue"].changed


@pytest.mark.parametrize(("text", "field"), [("alpha = 2\n", "alpha"), ("[metrics.nope]\nthreshold = 1\n", "nope"),
                                             ("[metrics.ttft]\nthreshold = -1\n", "threshold"), ("x = 1\n", "x"),
                                             ("[metrics.ttft]\nthresh = 1\n", "'metrics.ttft.thresh': unknown key"),
                                             ("[behaviour]\nfail_on_output_change = 1\n", "must be bool")])
def test_thresholds_file_errors_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "compare.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=field):
        Thresholds.read(path)


def test_thresholds_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "compare.toml"
    path.write_text("alpha = 0.01\n[metrics.ttft]\nthreshold = 0.2\n")
    rules = Thresholds.read(path)
    assert rules.alpha == 0.01 and rules.rule("ttft").threshold == 0.2 and rules.rule("itl").threshold == 0.1


def load_run(root: Path, name: str, ttft_ms: float, valid: bool = True) -> Path:
    """A run folder as the load suite leaves it: load-chat/ with results.json and one c=1 level of 20
    requests of 8 chunks, 2 ms apart, the first after `ttft_ms`."""
    from harness.load.records import FILE, Record, RecordWriter, csv_line

    folder = root / name / "load-chat"
    folder.mkdir(parents=True)
    (root / name / "run.json").write_text("{}")
    (folder / "results.json").write_text(json.dumps({"valid": valid, "invalid_reasons": ["load generator lagging"]}))
    writer = RecordWriter(folder / FILE)
    for i in range(20):
        start = i * 1.0
        chunks = [start + (ttft_ms + 2 * k + RNG.normal(0, 0.05)) / 1e3 for k in range(8)]
        writer.write_line(csv_line(Record(str(i), 0, "c=1", 1, None, "measure", "chat", start, start,
                                          chunk_times=chunks, end=chunks[-1], completion_tokens=8, status=200).row()))
    writer.close()
    return root / name


def test_invalid_load_runs_are_left_out_where_valid_ones_exist(tmp_path: Path) -> None:
    """A run the busy host made invalid measured the client's delay, not the server's: it must not move a
    side's latencies (measured: one such round made 0.31.0's TTFT look 2.5x slower than its other round)."""
    a = [load_run(tmp_path, "a1", 60.0, valid=False), load_run(tmp_path, "a2", 10.0)]
    b = [load_run(tmp_path, "b1", 10.0), load_run(tmp_path, "b2", 10.0)]
    result = compare(load_side("A", [str(p) for p in a]), load_side("B", [str(p) for p in b]))
    ttft = next(m for m in result.metrics if m.rule.name == "ttft")
    assert ttft.n == (20, 40) and 0.95 < ttft.ratio < 1.05 and not ttft.improved
    assert any("a1/chat/" in note and "left out" in note for note in result.notes)
    # a level with no valid run at all is still compared, and said to be invalid
    only = load_side("A", [str(a[0])])
    assert only.left_out == [] and len(only.samples[("chat/c=1", "ttft")]) == 20


def test_a_run_booted_inside_another_is_not_a_round_of_its_own(tmp_path: Path) -> None:
    """The differential suite's second boot files a run.json inside its parent's folder: a side of three
    rounds is three runs, and the nested boot's facts are not counted as a fourth round's."""
    for name in ("a1", "a2", "a3"):
        nested = load_run(tmp_path, name, 10.0) / "runs" / f"{name}-differential"
        nested.mkdir(parents=True)
        (nested / "run.json").write_text("{}")
    side = load_side("A", [str(tmp_path)])
    assert [p.name for p in side.runs] == ["a1", "a2", "a3"]
    assert len(side.per_run[("chat/c=1", "ttft")]) == 3


def test_with_three_runs_a_side_runs_are_the_samples() -> None:
    """One busy round shifts all its requests together: pooled, they look significant; per run, B's runs
    sit among A's and nothing is called."""
    a, b = side("a", RNG.normal(60, 2, 48), runs=3), side("b", RNG.normal(85, 2, 48), runs=3)
    a.per_run[("c=1", "ttft")], b.per_run[("c=1", "ttft")] = [88.0, 41.0, 60.0], [90.0, 85.0, 45.0]
    ttft = metric(compare(a, b), "ttft")
    assert not ttft.regressed and ttft.note == "per run" and ttft.n == (3, 3)
    b.per_run[("c=1", "ttft")] = [120.0, 125.0, 130.0]  # every B run slower than every A run
    assert metric(compare(a, b), "ttft").regressed


def kv_sides(base: float, cand: float) -> tuple[Side, Side]:
    a, b = side("a", RNG.normal(40, 1, 50)), side("b", RNG.normal(40, 1, 50))
    a.run_values["kv_cache_tokens"], b.run_values["kv_cache_tokens"] = [base], [cand]
    return a, b


def test_a_single_values_drift_is_neither_better_nor_worse() -> None:
    # the H200 gate's two sides (gate-h200-vllm-0.25.0-0.26.0/gate.md): 1.001x, once called "better"
    up = metric(compare(*kv_sides(43_659_472, 43_689_168)), "kv_cache_tokens")
    down = metric(compare(*kv_sides(43_689_168, 43_659_472)), "kv_cache_tokens")
    assert not (up.improved or up.regressed or down.improved or down.regressed)


def test_a_real_change_of_a_single_value_is_still_judged() -> None:
    assert metric(compare(*kv_sides(43_659_472, 48_000_000)), "kv_cache_tokens").improved  # +10%
    assert metric(compare(*kv_sides(43_659_472, 39_000_000)), "kv_cache_tokens").regressed  # -11%


def test_threshold_any_is_never_better(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text("[metrics.peak_gpu_memory_bytes]\nthreshold = 0\n")
    a, b = side("a", RNG.normal(40, 1, 50)), side("b", RNG.normal(40, 1, 50))
    a.run_values["peak_gpu_memory_bytes"], b.run_values["peak_gpu_memory_bytes"] = [20e9], [19.6e9]
    a.errors["c=1"], b.errors["c=1"] = (5, 50), (0, 50)
    result = compare(a, b, Thresholds.read(toml))
    memory, errors = metric(result, "peak_gpu_memory_bytes"), metric(result, "error_rate")
    assert not memory.improved and not memory.regressed  # -2 %, but "any" names no size for a gain
    assert not errors.improved and not errors.regressed
    b.run_values["peak_gpu_memory_bytes"] = [20.1e9]
    assert metric(compare(a, b, Thresholds.read(toml)), "peak_gpu_memory_bytes").regressed  # any increase
