"""The load metrics against hand-computed examples, and the pure parts of the load generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.load import metrics
from harness.load.config import LoadConfig
from harness.load.records import COLUMNS, Record, csv_line, read
from harness.load.shapes import Quota, arrival_offsets, quotas, split_by_weights
from harness.report.build import client_check, slo_failures
from harness.spec.variant_load import SloSpec


def _record(i: int, start: float, chunks: list[float], tokens: int | None = None, status: int = 200,
            error: str = "", prompt: int = 10) -> Record:
    return Record(id=str(i), worker=0, level="c=2", users=2, rate=None, phase="measure", kind="chat", start=start,
                  start_wall=1000 + start, chunk_times=[start + c for c in chunks],
                  end=start + (chunks[-1] if chunks else 0.5), prompt_tokens=prompt,
                  completion_tokens=tokens if tokens is not None else len(chunks), status=status, error_type=error)


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    records = [
        _record(0, 0.0, [0.100, 0.120, 0.150]),  # TTFT 100, ITLs 20 30, E2EL 150, TPOT 25
        _record(1, 0.5, [0.200, 0.210, 0.230, 0.260], tokens=4),  # TTFT 200, ITLs 10 20 30, E2EL 260, TPOT 20
        _record(2, 1.0, [0.300]),  # one token: TTFT 300, E2EL 300, no TPOT
        _record(3, 1.2, [], status=500, error="http_500"),
    ]
    path = tmp_path / "requests.csv"
    path.write_text(csv_line(list(COLUMNS)) + "".join(csv_line(r.row()) for r in records))
    return read(path)


def test_summary_matches_hand_computed_values(frame: pd.DataFrame) -> None:
    s = metrics.summary(frame, goodput={"ttft": 250})
    assert s["completed"] == 3 and s["failed"] == 1
    assert s["total_input_tokens"] == 30 and s["total_output_tokens"] == 3 + 4 + 1
    assert s["duration"] == pytest.approx(1.7)  # first start 0.0 -> last end 1.2 + 0.5
    assert s["request_throughput"] == pytest.approx(3 / 1.7)
    assert s["output_throughput"] == pytest.approx(8 / 1.7)
    assert s["total_token_throughput"] == pytest.approx(38 / 1.7)
    assert s["mean_ttft_ms"] == pytest.approx(200.0, abs=1e-3)
    assert s["median_ttft_ms"] == pytest.approx(200.0, abs=1e-3)
    assert s["std_ttft_ms"] == pytest.approx(np.std([100, 200, 300]), abs=1e-3)
    assert s["p99_ttft_ms"] == pytest.approx(np.percentile([100, 200, 300], 99), abs=1e-3)
    # ITLs pooled: 20, 30, 10, 20, 30 (never across requests)
    assert s["mean_itl_ms"] == pytest.approx(22.0, abs=1e-3)
    assert s["median_itl_ms"] == pytest.approx(20.0, abs=1e-3)
    # TPOT only for requests with > 1 output token: (150-100)/2 = 25, (260-200)/3 = 20
    assert s["mean_tpot_ms"] == pytest.approx(22.5, abs=1e-3)
    assert s["median_e2el_ms"] == pytest.approx(260.0, abs=1e-3)
    assert s["request_goodput"] == pytest.approx(2 / 1.7)  # TTFT 100 and 200 meet 250 ms
    assert s["max_concurrent_requests"] == 1  # [0,0.15) [0.5,0.76) [1.0,1.3): never overlapping
    assert s["harness_errors"] == {"http_500": 1}
    assert s["harness_failures"] == {"http 500": 1}  # by kind (harness.load.failures)
    assert s["harness_attempted_throughput"] == pytest.approx(4 / 1.7)  # the failed request was sent too
    assert s["harness_error_rate"] == pytest.approx(0.25)


def test_percentile_keys_are_vllms(frame: pd.DataFrame) -> None:
    s = metrics.summary(frame)
    for name in ("ttft", "tpot", "itl", "e2el"):
        for key in (f"mean_{name}_ms", f"median_{name}_ms", f"std_{name}_ms", f"p99_{name}_ms", f"p99.9_{name}_ms"):
            assert key in s
    assert s["request_goodput"] is None
    ordered = [s[f"p{p}_e2el_ms"] for p in ("25", "50", "75", "90", "95", "99", "99.9")]
    assert ordered == sorted(ordered)


def test_first_request_is_the_earliest(frame: pd.DataFrame) -> None:
    first = metrics.first_request(frame)
    assert first is not None and first["id"] == "0" and first["ttft_ms"] == pytest.approx(100.0, abs=1e-3)


def test_arrivals_match_the_rate_and_burstiness() -> None:
    rng = np.random.default_rng(1)
    gen = arrival_offsets(10.0, 1.0, rng)
    times = np.array([next(gen) for _ in range(20000)])
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(0.1, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)  # exponential: CV 1
    bursty = arrival_offsets(10.0, 0.25, np.random.default_rng(2))
    g2 = np.diff([next(bursty) for _ in range(20000)])
    assert g2.std() / g2.mean() == pytest.approx(2.0, rel=0.1)  # gamma shape k: CV 1/sqrt(k)
    ramp = arrival_offsets(10.0, float("inf"), rng, ramp_up=10.0)
    ramped = np.array([next(ramp) for _ in range(200)])
    assert ramped[1] - ramped[0] > 0.1  # slower than the full rate while ramping
    assert (ramped < 10.0).sum() == 49  # 10/s * 10 s / 2 arrivals during the ramp (the 50th lands on 10.0)
    assert np.diff(ramped[60:]) == pytest.approx(0.1)  # then the full rate


def test_split_by_weights_covers_the_total_and_skips_empty_parts() -> None:
    assert split_by_weights(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(split_by_weights(7, [1, 1, 1, 1])) == 7
    assert split_by_weights(24, [1, 0]) == [24, 0]  # a worker locust gave no users gets no requests
    assert split_by_weights(24, [2, 1]) == [16, 8] and split_by_weights(5, [0, 0]) == [0, 0]


def test_quotas_follow_the_users_each_process_runs() -> None:
    closed = LoadConfig(base_url="http://x", model="m", concurrency=(1, 3), requests=24)
    assert quotas(closed, 0, [0, 1]) == [Quota(0, 0, None), Quota(1, 24, None)]
    assert quotas(closed, 1, [2, 1]) == [Quota(2, 16, None), Quota(1, 8, None)]
    timed = LoadConfig(base_url="http://x", model="m", concurrency=(4,), rates=(10.0,), duration=5)
    assert quotas(timed, 0, [3, 1, 0]) == [Quota(3, None, 7.5), Quota(1, None, 2.5), Quota(0, None, None)]


def test_config_rejects_contradictions() -> None:
    with pytest.raises(Exception, match="not both"):
        LoadConfig(base_url="x", model="m", requests=5, duration=3).check()
    with pytest.raises(Exception, match="kinds"):
        LoadConfig(base_url="x", model="m", requests=5, kinds=("smell",)).check()
    config = LoadConfig(base_url="x", model="m", requests=5, rates=(2.0, 4.0), concurrency=(8,))
    assert [label for label, _, _ in config.levels()] == ["rate=2", "rate=4"]
    assert LoadConfig.from_json(config.to_json()) == config


def test_client_check_flags_saturation_and_slo_names_numbers() -> None:
    busy = pd.DataFrame({"t": range(10), "worker": 0, "lag_p50_ms": 1.0, "lag_p99_ms": 30.0, "lag_max_ms": 40.0,
                         "cpu_pct": 98.0})
    valid, reasons, _ = client_check(busy, None)
    assert not valid and any("saturated" in r for r in reasons)
    calm = busy.assign(lag_p99_ms=1.0, cpu_pct=20.0)
    assert client_check(calm, None)[0]
    level = {"level": "c=4", "p99_ttft_ms": 812.3, "p99_tpot_ms": 1.0, "p99_itl_ms": 1.0, "p99_e2el_ms": 1.0,
             "harness_error_rate": 0.0, "harness_errors": {}}
    failures = slo_failures([level], SloSpec(p99_ttft_ms=500), None)
    assert failures == ["c=4: p99 TTFT 812.3 ms > 500 ms"]


def test_prompts_fill_exactly_the_requested_tokens() -> None:
    from harness.load.prompts import WORDS, prompt_words

    costs = {w: 1 + len(w) // 4 for w in WORDS}  # 1..3 tokens a word, as a real tokenizer might count
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 128, 1000):
        words = prompt_words(rng, n, costs).split()
        assert sum(costs[w] for w in words) == n, n
    assert len(prompt_words(rng, 50).split()) == 50  # no tokenizer: a word each


def test_worker_processes_follow_the_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.load import config as load_config
    from harness.load.config import LoadConfig

    monkeypatch.setattr(load_config.os, "cpu_count", lambda: 2)
    base = LoadConfig(base_url="http://x", model="m", requests=1)
    assert base.resolved().workers == 0  # one stream: one process
    assert LoadConfig(base_url="http://x", model="m", requests=1, concurrency=(1, 64, 128)).resolved().workers == 0
    assert LoadConfig(base_url="http://x", model="m", requests=1, concurrency=(4, 256)).resolved().workers == 2
    assert LoadConfig(base_url="http://x", model="m", requests=1, concurrency=(1024,)).resolved().workers == 2
    assert LoadConfig(base_url="http://x", model="m", requests=1, concurrency=(256,), workers=0).resolved().workers == 0
