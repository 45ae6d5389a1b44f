"""What a server says about itself once it is ready — its served defaults — recorded in run.json so that
compare and the gate can tell when a bump changed them: vLLM version, max_model_len, KV-cache size."""

from __future__ import annotations

import re
from typing import Any

import httpx

from harness.checks import prometheus
from harness.checks.openai_calls import probe
from harness.server.endpoint import Endpoint

CACHE_INFO = "vllm:cache_config_info"
# vLLM logs "GPU KV cache size: 1,234 tokens" (the CPU build: "CPU KV cache size" or the same words)
KV_LOG = re.compile(r"KV cache size: ([\d,]+) tokens")


def served_facts(endpoint: Endpoint) -> dict[str, Any]:
    """Best effort: a server that answers none of this gives Nones, never an error."""
    facts: dict[str, Any] = {"vllm_version": None, "max_model_len": None, "kv_cache_tokens": None}
    spec_len = endpoint.variant.serve.max_model_len if endpoint.variant else None
    try:
        with endpoint.client(timeout=10) as api:
            found = probe(api, endpoint.model, spec_len)
            facts |= {"vllm_version": found.vllm_version, "max_model_len": found.max_model_len}
            metrics = api.get("/metrics")
            if metrics.status_code == 200:
                facts["kv_cache_tokens"] = kv_cache_tokens(metrics.text)
    except (httpx.HTTPError, ValueError):
        pass
    if facts["kv_cache_tokens"] is None:
        found_in_log = KV_LOG.findall(endpoint.log_tail(2000))
        if found_in_log:
            facts["kv_cache_tokens"] = int(found_in_log[-1].replace(",", ""))
    return facts


def kv_cache_tokens(metrics_text: str) -> int | None:
    """num_gpu_blocks x block_size from vLLM's cache_config_info labels."""
    try:
        found = prometheus.parse(metrics_text)
    except ValueError:
        return None
    for labels in found.labels.get(CACHE_INFO, []):
        blocks, size = labels.get("num_gpu_blocks"), labels.get("block_size")
        if blocks and size and blocks.isdigit() and size.isdigit():
            return int(blocks) * int(size)
    return None
