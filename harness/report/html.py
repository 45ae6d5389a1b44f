"""index.html: one self-contained page (plots inlined as data URLs), readable offline; its template is
harness/templates/load_report.html."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.pages import png_base64, render
from harness.report.verdict import level_failures
from harness.results.models import LoadVerdict

ROWS = [("completed", "completed", "{:d}"), ("failed", "failed", "{:d}"),
        # vLLM's throughputs count successful requests only; what was sent is beside them, never mixed in
        ("successful req/s", "request_throughput", "{:.2f}"),
        ("attempted req/s", "harness_attempted_throughput", "{:.2f}"),
        ("successful output tok/s", "output_throughput", "{:.1f}"), ("TTFT p50", "median_ttft_ms", "{:.1f}"),
        ("TTFT p99", "p99_ttft_ms", "{:.1f}"), ("ITL p50", "median_itl_ms", "{:.2f}"),
        ("ITL p99", "p99_itl_ms", "{:.2f}"), ("TPOT p50", "median_tpot_ms", "{:.2f}"),
        ("E2EL p50", "median_e2el_ms", "{:.1f}"), ("E2EL p99", "p99_e2el_ms", "{:.1f}"),
        ("prefix-cache hit %", "harness_prefix_cache_hit_pct", "{:.1f}"),
        ("multimodal-cache hit %", "harness_mm_cache_hit_pct", "{:.1f}"),
        ("draft acceptance %", "harness_spec_acceptance_pct", "{:.1f}"),
        ("GPU J / output token", "harness_joules_per_output_token", "{:.3f}"),
        ("GPU J / request", "harness_joules_per_request", "{:.2f}"),
        ("GPU mean power W", "harness_mean_power_w", "{:.0f}"),
        ("trace send lag p99 (ms)", "harness_arrival_lag_p99_ms", "{:.1f}"),
        # the load generator's own use, so a reader sees at a glance whether the client was the limit
        ("client CPU max %", "harness_client_cpu_pct_max", "{:.0f}"),
        ("client loop lag p99 max", "harness_client_lag_p99_ms_max", "{:.1f}")]


def _fmt(value: Any, pattern: str) -> str:
    if value is None:
        return "-"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return str(value)


def _cell(level: dict[str, Any], key: str, pattern: str) -> str:
    if key.endswith("_ms") and level.get("completed") == 0:
        return "-"  # no request succeeded: a latency of 0 would read as a fast server
    return _fmt(level.get(key), pattern)


@dataclass(frozen=True)
class GpuSection:
    """GPU identity, peak memory against the budget, and what the samplers themselves cost."""

    backend: str | None  # None: no GPU telemetry, for `reason`
    reason: str = ""
    devices: str = ""
    driver: str = ""
    peak: str = "-"
    budget_gib: str | None = None
    within_budget: bool = True
    processes: list[tuple[str, str]] = field(default_factory=list)
    samplers: list[tuple[str, ...]] = field(default_factory=list)


def write_html(path: Path, results: dict[str, Any], images: dict[str, Path], has_telemetry: bool) -> None:
    meta, levels = results["metadata"], results["levels"]
    notes: Counter[str] = Counter()
    for level in levels:
        notes.update(level.get("harness_protocol_notes") or {})
    first = results.get("first_request") or {}
    page = render(
        "load_report.html", meta=meta, results=results, notes=notes, has_telemetry=has_telemetry,
        verdict=str(results.get("verdict") or ""), passed=results.get("verdict") == LoadVerdict.PASSED,
        failed_rows=_failed_rows(results),
        levels=[str(lv["level"]) for lv in levels],
        table=[(f"{name} (ms)" if key.endswith("_ms") else name, [_cell(lv, key, fmt) for lv in levels])
               for name, key, fmt in ROWS],
        turns=_turn_table(levels),
        first_ttft=_fmt(first.get("ttft_ms"), "{:.1f}"), first_e2el=_fmt(first.get("e2el_ms"), "{:.1f}"),
        gpu=_gpu_section(meta.get("telemetry") or {}, (results.get("slo") or {}).get("max_gpu_memory_gib")),
        figures=[(name.replace("_", " "), png_base64(p)) for name, p in images.items() if p.exists()],
        metadata=json.dumps(meta, indent=2, default=str))
    path.write_text(page, encoding="utf-8")


def _turn_table(levels: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """TTFT p50 (ms) by conversation turn: one row per turn, one column per level (empty: no turns)."""
    found = [lv.get("harness_ttft_by_turn_ms") or {} for lv in levels]
    turns = sorted({int(t) for by_turn in found for t in by_turn})
    return [(f"turn {t + 1}", [_fmt(by_turn.get(str(t)), "{:.1f}") for by_turn in found]) for t in turns]


def _failed_rows(results: dict[str, Any]) -> list[tuple[str, str, int, int, str, bool]]:
    """(level, kind, count, attempted, first error, judged) for every failed request kind of every level."""
    rows = []
    for level in results["levels"]:
        judged = level_failures(level, results.get("max_error_rate") or 0.0, bool(results.get("valid", True)))
        for kind, count in (judged.judged | judged.excused).items():
            rows.append((judged.level, kind, count, judged.attempted, judged.first.get(kind, ""),
                         kind in judged.judged))
    return rows


def _gpu_section(telemetry: dict[str, Any], budget_gib: float | None) -> GpuSection:
    gpu = telemetry.get("gpu") or {}
    if gpu.get("backend", "none") == "none":
        return GpuSection(backend=None, reason=str(gpu.get("reason", "not sampled")))
    peak: float | None = telemetry.get("peak_gpu_memory_bytes")
    over = peak is not None and budget_gib is not None and peak > budget_gib * 2**30
    return GpuSection(
        backend=str(gpu.get("backend")), driver=str(gpu.get("driver")),
        devices=", ".join(f"{d['name']} ({d['memory_total_bytes'] / 2**30:.0f} GiB)" for d in gpu.get("devices", [])),
        peak="-" if peak is None else f"{peak / 2**30:.2f} GiB",
        budget_gib=f"{budget_gib:g}" if peak is not None and budget_gib is not None else None,
        within_budget=not over,
        processes=[(k, f"{v / 2**30:.2f} GiB") for k, v in (telemetry.get("peaks") or {}).items()
                   if "process_memory_bytes" in k],
        samplers=[(name, f"{s['target_hz']:g}",
                   "stopped: no /metrics" if s.get("stopped_early") else format(s["achieved_hz"], "g"),
                   f"{s['busy_ms_per_sample']:.2f}", f"{s['cpu_pct_of_one_core']:.2f}")
                  for name, s in (telemetry.get("samplers") or {}).items()])
