"""The pure parts of issue #28's workloads: energy integration, cache-counter rates, trace reading, shared
prefixes and trace blocks, and the gate's absolute rule for hit rates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.compare.decide import _decide
from harness.compare.thresholds import Thresholds
from harness.errors import UsageError
from harness.load.cache_counters import level_rates, parse, read_levels
from harness.load.config import LoadConfig
from harness.load.trace import example, read_trace
from harness.load.workload import block, prefix_group, shared_prefix, trace_text
from harness.telemetry.energy import counter_delta, integrate_power, level_energy, window_energy

EXPOSITION = """\
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e9
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 24.0
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 512.0
# TYPE vllm:mm_cache_queries counter
vllm:mm_cache_queries_total{engine="0",model_name="m"} 8.0
# TYPE vllm:mm_cache_hits counter
vllm:mm_cache_hits_total{engine="0",model_name="m"} 6.0
# TYPE vllm:spec_decode_num_draft_tokens counter
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 200.0
# TYPE vllm:spec_decode_num_accepted_tokens counter
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 150.0
"""


def test_energy_of_a_known_power_curve() -> None:
    """Power rising linearly 100 -> 300 W over 10 s, sampled at 4 Hz: the window [2, 8] holds exactly
    the integral of 100 + 20 t, 6 * 200 = 1200 J (linear: the trapezoid rule is exact)."""
    t = np.arange(0, 10.01, 0.25)
    watts = 100 + 20 * t
    assert integrate_power(t, watts, 2.0, 8.0) == pytest.approx(1200.0, rel=1e-9)
    assert integrate_power(t, watts, 2.1, 7.9) == pytest.approx(5.8 * 200.0, rel=1e-9)  # ends between samples
    assert integrate_power(t, watts, -1.0, 5.0) is None  # samples do not cover the window: not measured
    joules = np.cumsum(np.concatenate([[0.0], (watts[1:] + watts[:-1]) / 2 * 0.25]))
    assert counter_delta(t, joules, 2.0, 8.0) == pytest.approx(1200.0, rel=1e-9)


def test_energy_prefers_the_counter_and_checks_it_against_power() -> None:
    t = np.arange(0, 10.01, 0.5)
    rows = [(x, "gpu0", "power_w", 200.0) for x in t] + [(x, "gpu0", "energy_j", 1e6 + 210.0 * x) for x in t]
    rows += [(x, "gpu1", "power_w", 100.0) for x in t] + [(x, "gpu1", "energy_j", 5e5 + 100.0 * x) for x in t]
    rows += [(x, "server", "power_w", 1e9) for x in t]  # not a GPU: never counted
    frame = pd.DataFrame(rows, columns=["t", "source", "metric", "value"])
    found = window_energy(frame, 1.0, 5.0)
    assert found is not None and found.source == "counter"
    assert found.joules == pytest.approx(4 * 310.0) and found.integrated == pytest.approx(4 * 300.0)
    assert found.agreement == pytest.approx(310 / 300)
    keys = level_energy(frame, 1.0, 5.0, output_tokens=124, requests=4)
    assert keys["harness_joules_per_output_token"] == pytest.approx(10.0)
    assert keys["harness_joules_per_request"] == pytest.approx(310.0)
    assert "harness_energy_note" not in keys  # 3 % apart: within the 15 % the check allows
    far = frame.assign(value=np.where(frame["metric"] == "energy_j", frame["value"] + frame["t"] * 200,
                                      frame["value"]))
    assert "differ by +137%" in str(level_energy(far, 1.0, 5.0, 124, 4)["harness_energy_note"])
    power_only = frame[frame["metric"] == "power_w"]
    assert window_energy(power_only, 1.0, 5.0).source == "power"  # type: ignore[union-attr]
    assert level_energy(None, 1.0, 5.0, 10, 1)["harness_joules_per_output_token"] is None


def test_cache_counters_parse_vllm_names_and_rates(tmp_path: Path) -> None:
    before = parse(EXPOSITION)
    assert before == {"prefix_queries": 1024.0, "prefix_hits": 512.0, "mm_queries": 8.0, "mm_hits": 6.0,
                      "draft_tokens": 200.0, "accepted_tokens": 150.0}
    after = {**before, "prefix_queries": 2024.0, "prefix_hits": 1262.0, "mm_queries": 12.0, "mm_hits": 9.0,
             "draft_tokens": 400.0, "accepted_tokens": 290.0}
    rates = level_rates(before, after)
    assert rates["harness_prefix_cache_hit_pct"] == pytest.approx(75.0)
    assert rates["harness_mm_cache_hit_pct"] == pytest.approx(75.0)
    assert rates["harness_spec_acceptance_pct"] == pytest.approx(70.0)
    # caching off: the counters exist but stay still while prompts are served -> 0 %, said so
    off = level_rates({"prefix_queries": 5, "prefix_hits": 0, "prompt_tokens": 10},
                      {"prefix_queries": 5, "prefix_hits": 0, "prompt_tokens": 900})
    assert off["harness_prefix_cache_hit_pct"] == 0.0 and "caching off" in off["harness_prefix_cache_note"]
    lines = [{"level": "c=1", "when": "before", "t": 1, **before}, {"level": "c=1", "when": "after", "t": 2, **after},
             {"level": "c=4", "when": "before", "t": 3, **after}]  # c=4 never ended: left out
    (tmp_path / "server_counters.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert list(read_levels(tmp_path)) == ["c=1"]


def test_trace_reads_in_time_order_scaled_and_refuses_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp": 3000, "input_length": 5, "output_length": 2}\n\n'
                    '{"timestamp": 1000, "input_length": 9, "output_length": 3, "hash_ids": [4, 5], "images": 1}\n')
    entries = read_trace(path, scale=0.5)
    assert [e.timestamp for e in entries] == [0.0, 1.0] and entries[0].hash_ids == (4, 5) and entries[0].images == 1
    path.write_text('{"timestamp": 0, "input_length": 5}\n')
    with pytest.raises(UsageError, match=r"t.jsonl:1: missing output_length"):
        read_trace(path)
    path.write_text("not json\n")
    with pytest.raises(UsageError, match=r"t.jsonl:1: not JSON"):
        read_trace(path)
    with pytest.raises(UsageError, match="does not exist"):
        read_trace(tmp_path / "none.jsonl")
    lines = example(count=20)
    assert len(lines) == 20 and all(line["input_length"] <= 32 * len(line["hash_ids"]) for line in lines)


def test_same_hash_id_same_tokens_and_prefix_groups() -> None:
    config = LoadConfig(base_url="http://x", model="m", requests=1, block_tokens=8, prefix_tokens=16, prefix_share=4)
    rng = np.random.default_rng(1)
    from harness.load.trace import TraceEntry
    a = trace_text(config, TraceEntry(0, 20, 1, (7, 8, 9)), rng).split()
    b = trace_text(config, TraceEntry(0, 12, 1, (7, 8)), rng).split()
    assert a[:12] == b and len(a) == 20 and a[:8] == block(config, 7).split()
    assert trace_text(config, TraceEntry(0, 30, 1, (7,)), rng).split()[:8] == a[:8]  # filled past its blocks
    groups = [prefix_group(config, 0, 0, i) for i in range(8)]
    assert len(set(groups[:4])) == 1 and len(set(groups)) == 2
    assert shared_prefix(config, groups[0]) == shared_prefix(config, groups[3]) != shared_prefix(config, groups[4])
    assert len(shared_prefix(config, groups[0]).split()) == 16


def test_hit_rate_rule_is_absolute_points() -> None:
    rule = Thresholds().rule("prefix_cache_hit")
    assert _decide(rule, 56.6, 0.0, None, 0.05, tested=False) == (True, False)
    assert _decide(rule, 56.6, 52.0, None, 0.05, tested=False) == (False, False)  # 4.6 points: within 5
    assert _decide(rule, 10.0, 4.0, None, 0.05, tested=False) == (True, False)  # 6 points (60% relative)
    assert _decide(rule, 50.0, 60.0, None, 0.05, tested=False) == (False, True)


def test_variant_load_table_has_every_workload_key_with_the_same_defaults() -> None:
    from harness.load.config import WORKLOAD_KEYS
    from harness.spec.variant_load import LoadSpec
    spec, config = LoadSpec(), LoadConfig(base_url="http://x", model="m", requests=1)
    assert {key: getattr(spec, key) for key in WORKLOAD_KEYS} == {key: getattr(config, key) for key in WORKLOAD_KEYS}
    with pytest.raises(UsageError, match="leave out --rate"):
        LoadConfig(base_url="http://x", model="m", trace="t.jsonl", rates=(1.0,)).check()
    with pytest.raises(UsageError, match="does not exist"):
        LoadConfig(base_url="http://x", model="m", trace="/nonexistent/t.jsonl").check()
    example = str(Path(__file__).resolve().parents[2] / "benchmarks" / "traces" / "example.jsonl")
    assert LoadConfig(base_url="http://x", model="m", trace=example).check().levels() == [("trace", 1, None)]


def test_nightly_trend_judges_hit_rates_in_points_and_energy_relatively() -> None:
    from harness.compare.trend import violates
    thresholds = Thresholds()
    assert violates(50.0, 56.0, thresholds.rule("prefix_cache_hit"))  # 6 points down
    assert not violates(52.0, 56.0, thresholds.rule("prefix_cache_hit"))
    assert violates(1.2, 1.0, thresholds.rule("joules_per_token")) and not violates(1.05, 1.0,
                                                                                   thresholds.rule("joules_per_token"))


def test_image_pool_repeats_pictures_and_document_pages_are_page_scans() -> None:
    import io

    from PIL import Image

    from harness.load.prompts import ImageMaker
    rng = np.random.default_rng(0)
    pooled = ImageMaker(pool=3)
    drawn = {pooled.image(rng) for _ in range(30)}
    assert len(drawn) == 3  # 30 draws from a pool of 3: exactly its 3 pictures
    half = ImageMaker(pool=1, repeat=0.5)
    the_one = ImageMaker(pool=1).image(rng)  # the pool's only picture (the same seed, the same bytes)
    repeated = sum(half.image(rng) == the_one for _ in range(200))
    assert 70 < repeated < 130  # Binomial(200, 0.5): outside this range with probability < 1e-4
    fresh = ImageMaker()
    assert len({fresh.image(rng) for _ in range(5)}) == 5
    page = Image.open(io.BytesIO(ImageMaker(pool=1, document=True).image(rng)))
    assert page.size == (1700, 2200)
    dark = (np.asarray(page.convert("L")) < 128).mean()
    assert 0.01 < dark < 0.3  # text-dense, not blank, not solid
