"""The server's own view, scraped from its Prometheus `/metrics`: queue depth, KV-cache use, tokens."""

from __future__ import annotations

import time

import httpx

from harness.checks import prometheus

Row = tuple[float, str, str, float]

# sample name → telemetry metric; older vLLM called the KV-cache gauge gpu_cache_usage_perc
WANTED = {
    "vllm:num_requests_running": "num_requests_running",
    "vllm:num_requests_waiting": "num_requests_waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_perc",
    "vllm:prompt_tokens_total": "prompt_tokens_total",
    "vllm:generation_tokens_total": "generation_tokens_total",
}


def parse(text: str) -> dict[str, float]:
    """The wanted values, summed over label sets (engines, models)."""
    values: dict[str, float] = {}
    for name, value in prometheus.parse(text).samples.items():
        if name in WANTED:
            values[WANTED[name]] = values.get(WANTED[name], 0.0) + value
    return values


class MetricsSampler:
    name = "server"

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=2.0)
        self.failures = 0
        self.finished = False  # the server has no /metrics: stop asking (and filling its log)
        self.samples = 0

    def sample(self) -> list[Row]:
        try:
            response = self.http.get("/metrics")
        except httpx.HTTPError:
            self.failures += 1  # a busy or dying server: the gap in the timeline says so
            return []
        t = time.time()
        if response.status_code == 404 and self.samples == 0:
            self.finished = True
            return []
        if response.status_code != 200:
            self.failures += 1
            return []
        self.samples += 1
        return [(t, "server", metric, value) for metric, value in parse(response.text).items()]

    def close(self) -> None:
        self.http.close()
