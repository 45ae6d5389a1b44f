"""Issue #28's workloads against a real HTTP server of known behaviour (harness.load.timed_server): its
prefix cache, multimodal cache and draft acceptance are counted exactly and exposed on /metrics as vLLM
0.32 names them, and its TTFT grows by a known amount per prompt token not served from its cache. The
harness's hit rates must equal the truth exactly (counters); TTFT by turn within TOLERANCE_MS (2-core
shared host: client and server scheduling); trace arrivals within ARRIVAL_TOLERANCE_S."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.compare.decide import compare
from harness.compare.runs import load_side
from harness.load.config import LoadConfig
from harness.load.records import read
from harness.load.runner import run_agent
from harness.load.timed_server import running
from harness.report.build import build_report

TTFT_MS, PREFILL_MS = 20.0, 2.0  # the server: TTFT = 20 ms + 2 ms per uncached prompt word
TOLERANCE_MS = 12.0
ARRIVAL_TOLERANCE_S = 0.025


def _run(url: str, out: Path, **kw: object) -> dict:
    config = LoadConfig(base_url=url, model="timed", workers=0, **kw).check()  # type: ignore[arg-type]
    run_agent(config, out)
    report = build_report(out, {"load": dataclasses.asdict(config)}, plots=False)
    return {"report": report, "results": json.loads((out / "results.json").read_text())}


def _conversation(url: str, out: Path) -> dict:
    # 32-word messages, 16-word answers: every prompt so far is whole blocks, so from turn 2 on exactly
    # the new answer and message (48 words) are not cached; without the cache, the whole conversation is
    return _run(url, out, kinds=("conversation",), concurrency=(2,), requests=16, turns=4, input_len=32,
                output_len=16, warmup=0)


def test_conversation_ttft_by_turn_and_hit_rate_equal_the_truth_and_the_gate_flags_caching_off(
        tmp_path: Path) -> None:
    words = [32 + k * 48 for k in range(4)]  # prompt words of turn k: messages + earlier answers
    with running(TTFT_MS, 1, "--prefill-ms-per-token", str(PREFILL_MS)) as url:
        on = _conversation(url, tmp_path / "on")
    with running(TTFT_MS, 1, "--prefill-ms-per-token", str(PREFILL_MS), "--no-enable-prefix-caching") as url:
        off = _conversation(url, tmp_path / "off")
    level_on, level_off = on["results"]["levels"][0], off["results"]["levels"][0]
    # 4 sessions of 4 turns; hits: all of the previous turn's prompt (whole blocks)
    queries, hits = 4 * sum(words), 4 * sum([0, *words[:-1]])
    assert (level_on["harness_prefix_queries"], level_on["harness_prefix_hits"]) == (queries, hits)
    assert level_on["harness_prefix_cache_hit_pct"] == pytest.approx(100 * hits / queries)
    assert level_off["harness_prefix_cache_hit_pct"] == 0.0 and level_off["harness_prefix_queries"] == 0
    truth_on = [TTFT_MS + PREFILL_MS * (n - (words[k - 1] if k else 0)) for k, n in enumerate(words)]
    truth_off = [TTFT_MS + PREFILL_MS * n for n in words]  # 84, 180, 276, 372 ms
    for level, truth in ((level_on, truth_on), (level_off, truth_off)):
        measured = [level["harness_ttft_by_turn_ms"][str(k)] for k in range(4)]
        assert np.allclose(measured, truth, atol=TOLERANCE_MS), (measured, truth)
    frame = read(tmp_path / "on" / "requests.csv")
    assert frame.groupby("session")["turn"].apply(sorted).map(list).tolist() == [[0, 1, 2, 3]] * 4
    html = (tmp_path / "on" / "index.html").read_text()
    assert "TTFT by conversation turn" in html and "prefix-cache hit %" in html
    result = compare(load_side("on", [str(tmp_path / "on")]), load_side("off", [str(tmp_path / "off")]))
    flagged = [m for m in result.metrics if m.rule.name == "prefix_cache_hit"]
    assert flagged and flagged[0].regressed, result.regressions
    same = compare(load_side("on", [str(tmp_path / "on")]), load_side("on2", [str(tmp_path / "on")]))
    assert not [m for m in same.metrics if m.rule.name == "prefix_cache_hit" and m.regressed]


@pytest.mark.parametrize("share", [1, 4, 16])
def test_hit_rate_rises_with_prefix_share_as_counted(tmp_path: Path, share: int) -> None:
    """32 completions, a 64-word shared prefix (4 blocks) before 16 fresh words: the first request of
    each group of `share` misses, the others hit the prefix. Plus the draft acceptance the server reports."""
    requests, prefix, own = 32, 64, 16
    with running(2, 1, "--spec-acceptance", "0.7") as url:
        found = _run(url, tmp_path, kinds=("completions",), concurrency=(2,), requests=requests, input_len=own,
                     output_len=4, warmup=0, prefix_tokens=prefix, prefix_share=share)
    level = found["results"]["levels"][0]
    truth = 100 * (requests - math.ceil(requests / share)) * prefix / (requests * (prefix + own))
    assert level["harness_prefix_cache_hit_pct"] == pytest.approx(truth), level
    assert level["harness_spec_acceptance_pct"] == pytest.approx(70.0)


def test_image_pool_hits_the_multimodal_cache(tmp_path: Path) -> None:
    """A pool of one image: every vision request after the first sends the same picture."""
    with running(2, 1) as url:
        found = _run(url, tmp_path, kinds=("vision",), concurrency=(2,), requests=10, input_len=8, output_len=2,
                     warmup=0, image_pool=1)
    level = found["results"]["levels"][0]
    assert (level["harness_mm_queries"], level["harness_mm_hits"]) == (10, 9)
    assert level["harness_mm_cache_hit_pct"] == pytest.approx(90.0)


def _trace(path: Path, times_ms: list[float]) -> Path:
    path.write_text("".join(json.dumps({"timestamp": t, "input_length": 40, "output_length": 3,
                                        "hash_ids": [i % 3, 100 + i]}) + "\n" for i, t in enumerate(times_ms)))
    return path


def test_trace_replay_keeps_the_arrival_times(tmp_path: Path) -> None:
    """The server's own receipt times (x_recv, the same host clock) against the trace's, scaled by 0.5."""
    rng = np.random.default_rng(5)
    times = np.round(np.cumsum(rng.exponential(150.0, size=30)), 1).tolist()  # ~6.7 req/s, scaled: ~13
    trace = _trace(tmp_path / "trace.jsonl", times)
    with running(5, 2) as url:
        found = _run(url, tmp_path / "run", kinds=("completions",), concurrency=(8,), trace=str(trace),
                     time_scale=0.5, block_tokens=16, warmup=0, stamp_field="x_sent")
    assert found["results"]["valid"], found["results"]["invalid_reasons"]
    frame = read(tmp_path / "run" / "requests.csv")
    received = (frame["start"] + frame["stamps"].str.split(";").str[0].astype(float) / 1e3).sort_values()
    truth = (np.array(times) - times[0]) / 1e3 * 0.5
    measured = received.to_numpy() - received.iloc[0]
    assert len(measured) == 30 and np.abs(measured - truth).max() < ARRIVAL_TOLERANCE_S, measured - truth
    # the lag the report gives (send - schedule) against the server's receipt - schedule
    lag_truth = np.percentile((received.sort_index() - frame["scheduled"]).clip(lower=0), 99) * 1e3
    level = found["results"]["levels"][0]
    assert level["level"] == "trace"
    assert level["harness_arrival_lag_p99_ms"] == pytest.approx(lag_truth, abs=ARRIVAL_TOLERANCE_S * 1e3)


def test_a_trace_the_replay_cannot_keep_makes_the_run_invalid(tmp_path: Path) -> None:
    """One request in flight at a time, each taking ~100 ms, arrivals every 10 ms: sends fall ever further
    behind the trace, and the run says so."""
    trace = _trace(tmp_path / "trace.jsonl", [i * 10.0 for i in range(8)])
    with running(100, 1) as url:
        found = _run(url, tmp_path / "run", kinds=("completions",), concurrency=(1,), trace=str(trace),
                     block_tokens=16, warmup=0, lag_bound_ms=100.0)
    results = found["results"]
    assert results["levels"][0]["harness_arrival_lag_p99_ms"] > 300  # the 8th waits for 7 before it
    assert not results["valid"] and "trace replay lagged" in results["invalid_reasons"][-1]


def test_think_time_separates_the_turns_of_a_session(tmp_path: Path) -> None:
    """One session, a fixed 0.3 s think time: each turn starts 0.3 s after the previous answer ended."""
    with running(2, 1) as url:
        _run(url, tmp_path, kinds=("conversation",), concurrency=(1,), requests=3, turns=3, think_time=0.3,
             input_len=8, output_len=2, warmup=0)
    frame = read(tmp_path / "requests.csv").sort_values("turn")
    gaps = frame["start"].to_numpy()[1:] - frame["end"].to_numpy()[:-1]
    assert frame["turn"].tolist() == [0, 1, 2] and frame["session"].nunique() == 1
    assert np.allclose(gaps, 0.3, atol=ARRIVAL_TOLERANCE_S), gaps
