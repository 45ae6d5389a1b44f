from __future__ import annotations

import csv
from pathlib import Path

from harness.telemetry import Telemetry
from harness.telemetry.container import cpu_percent, stats_rows
from harness.telemetry.server_metrics import parse

VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="cpu-tiny"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="cpu-tiny"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="cpu-tiny"} 0.25
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{engine="0",model_name="cpu-tiny"} 120.0
vllm:prompt_tokens_created{engine="0",model_name="cpu-tiny"} 1.7e9
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{engine="0",model_name="cpu-tiny"} 64.0
vllm:generation_tokens_total{engine="1",model_name="cpu-tiny"} 16.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="cpu-tiny"} 0.0
"""


def test_metrics_parse_sums_engines_and_ignores_the_rest() -> None:
    assert parse(VLLM_METRICS) == {"num_requests_running": 3.0, "num_requests_waiting": 1.0,
                                   "kv_cache_usage_perc": 0.25, "prompt_tokens_total": 120.0,
                                   "generation_tokens_total": 80.0}


def test_docker_stats_cpu_and_memory_like_docker_stats() -> None:
    stats = {"cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 20_000, "online_cpus": 2},
             "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
             "memory_stats": {"usage": 5_000, "stats": {"inactive_file": 1_000}}}
    assert cpu_percent(stats) == 40.0
    assert stats_rows(stats, 1.0) == [(1.0, "container", "memory_used_bytes", 4000.0),
                                      (1.0, "container", "cpu_pct", 40.0)]
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) is None


def test_no_gpu_no_endpoint_still_records_and_says_none(tmp_path: Path) -> None:
    with Telemetry(tmp_path, hz=20) as telemetry:
        pass
    summary = telemetry.summary()
    assert summary["gpu"]["backend"] == "none" and summary["gpu"]["reason"]
    assert summary["peak_gpu_memory_bytes"] is None
    with (tmp_path / "telemetry.csv").open() as handle:
        assert next(csv.reader(handle)) == ["t", "source", "metric", "value"]
