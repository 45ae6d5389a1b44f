"""The server's cache counters read around each level: prefix-cache and multimodal-cache hit rates and
speculative decoding's draft acceptance, from vLLM's Prometheus `/metrics` (names of vLLM 0.32,
vllm/v1/metrics/loggers.py and vllm/v1/spec_decode/metrics.py):

    vllm:prefix_cache_queries / _hits    tokens looked up in / served from the prefix cache
    vllm:mm_cache_queries / _hits        multimodal items looked up in / served from the encoder cache
    vllm:spec_decode_num_draft_tokens / _num_accepted_tokens   drafted and accepted tokens

The agent scrapes `/metrics` just before a level starts and just after its last request ended (nothing of
the harness is in flight then), one JSON line each in server_counters.jsonl; a level's rates are the
differences. A server with prefix caching off exposes the counters but never moves them: a level that
served prompt tokens with no prefix lookup has a hit rate of 0 (said so in a note).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from harness.checks import prometheus

FILE = "server_counters.jsonl"
COUNTERS = {
    "vllm:prefix_cache_queries_total": "prefix_queries", "vllm:prefix_cache_hits_total": "prefix_hits",
    "vllm:mm_cache_queries_total": "mm_queries", "vllm:mm_cache_hits_total": "mm_hits",
    "vllm:spec_decode_num_draft_tokens_total": "draft_tokens",
    "vllm:spec_decode_num_accepted_tokens_total": "accepted_tokens",
    "vllm:prompt_tokens_total": "prompt_tokens",
}


def parse(text: str) -> dict[str, float]:
    """The counters this module reads, summed over label sets; absent ones left out."""
    samples = prometheus.parse(text).samples
    return {short: samples[name] for name, short in COUNTERS.items() if name in samples}


class CounterLog:
    """Scrapes /metrics around each level (bounded: 5 s; a server without /metrics gets no lines)."""

    def __init__(self, run_dir: Path, base_url: str, headers: dict[str, str]) -> None:
        self.path = run_dir / FILE
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=5.0)
        self.absent = False

    def mark(self, level: str, when: str) -> None:
        if self.absent:
            return
        try:
            response = self.client.get("/metrics")
            values = parse(response.text) if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            values = {}
        if not values:
            self.absent = when == "before"  # no such counters: stop asking
            return
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"level": level, "when": when, "t": time.time(), **values}) + "\n")

    def close(self) -> None:
        self.client.close()


def _ratio(hits: float, queries: float) -> float | None:
    return 100.0 * hits / queries if queries > 0 else None


def level_rates(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """One level's counter deltas and rates (percent) under the report's keys; None where not exposed."""
    delta = {k: after[k] - before[k] for k in after if k in before}
    out: dict[str, Any] = {f"harness_{k}": delta.get(k) for k in ("prefix_queries", "prefix_hits", "mm_queries",
                                                                  "mm_hits", "draft_tokens", "accepted_tokens")}
    out["harness_prefix_cache_hit_pct"] = _ratio(delta.get("prefix_hits", 0), delta.get("prefix_queries", 0))
    if out["harness_prefix_cache_hit_pct"] is None and delta.get("prefix_queries") == 0 \
            and delta.get("prompt_tokens", 0) > 0:
        out["harness_prefix_cache_hit_pct"] = 0.0
        out["harness_prefix_cache_note"] = "the server served prompts with no prefix-cache lookup (caching off)"
    out["harness_mm_cache_hit_pct"] = _ratio(delta.get("mm_hits", 0), delta.get("mm_queries", 0))
    out["harness_spec_acceptance_pct"] = _ratio(delta.get("accepted_tokens", 0), delta.get("draft_tokens", 0))
    return out


def read_levels(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each level's rates from server_counters.jsonl (levels without both marks left out)."""
    path = run_dir / FILE
    if not path.exists():
        return {}
    marks: dict[tuple[str, str], dict[str, float]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            key = (str(row.pop("level")), str(row.pop("when")))
            marks[key] = {k: float(v) for k, v in row.items() if k != "t"}
    return {level: level_rates(values, marks[(level, "after")]) for (level, when), values in marks.items()
            if when == "before" and (level, "after") in marks}
