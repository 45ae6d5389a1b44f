"""index.html: one self-contained page (plots inlined as data URLs), readable offline."""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

ROWS = [("completed", "completed", "{:d}"), ("failed", "failed", "{:d}"), ("req/s", "request_throughput", "{:.2f}"),
        ("output tok/s", "output_throughput", "{:.1f}"), ("TTFT p50", "median_ttft_ms", "{:.1f}"),
        ("TTFT p99", "p99_ttft_ms", "{:.1f}"), ("ITL p50", "median_itl_ms", "{:.2f}"),
        ("ITL p99", "p99_itl_ms", "{:.2f}"), ("TPOT p50", "median_tpot_ms", "{:.2f}"),
        ("E2EL p50", "median_e2el_ms", "{:.1f}"), ("E2EL p99", "p99_e2el_ms", "{:.1f}"),
        # the load generator's own use, so a reader sees at a glance whether the client was the limit
        ("client CPU max %", "harness_client_cpu_pct_max", "{:.0f}"),
        ("client loop lag p99 max", "harness_client_lag_p99_ms_max", "{:.1f}")]


def _fmt(value: Any, pattern: str) -> str:
    if value is None:
        return "-"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return html.escape(str(value))


def write_html(path: Path, results: dict[str, Any], images: dict[str, Path], has_telemetry: bool) -> None:
    meta = results["metadata"]
    levels = results["levels"]
    head = "".join(f"<th>{html.escape(str(lv['level']))}</th>" for lv in levels)
    body = "".join(f"<tr><th>{name} {'(ms)' if key.endswith('_ms') else ''}</th>"
                   + "".join(f"<td>{_fmt(lv.get(key), fmt)}</td>" for lv in levels) + "</tr>"
                   for name, key, fmt in ROWS)
    verdict = ("<p class=ok>client self-check: valid</p>" if results["valid"] else
               "<p class=bad>INVALID RUN: " + "; ".join(html.escape(r) for r in results["invalid_reasons"]) + "</p>")
    if meta.get("incident"):
        verdict += f"<p class=bad>RUN CUT SHORT: {html.escape(str(meta['incident']))}</p>"
    if results["slo_failures"]:
        verdict += "<p class=bad>SLO failures: " + "; ".join(html.escape(f) for f in results["slo_failures"]) + "</p>"
    notes: Counter[str] = Counter()
    for level in levels:
        notes.update(level.get("harness_protocol_notes") or {})
    if notes:
        verdict += "<p class=bad>protocol deviations in successful requests: " + "; ".join(
            f"{html.escape(k)}: {v}" for k, v in notes.items()) + "</p>"
    first = results.get("first_request") or {}
    gpu = _gpu_section(meta.get("telemetry") or {}, (results.get("slo") or {}).get("max_gpu_memory_gib"))
    figures = "".join(
        f"<h2>{html.escape(name.replace('_', ' '))}</h2><img alt='{name}' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'>" for name, p in images.items() if p.exists())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>load report {html.escape(str(meta.get('variant')
        or meta.get('base_url')))}</title><style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} img{{max-width:100%}}
.ok{{color:#186a1e;font-weight:bold}} .bad{{color:#b00020;font-weight:bold}} pre{{background:#f6f6f6;padding:8px}}
</style></head><body>
<h1>Load report: {html.escape(str(meta.get('variant') or 'remote'))} · {html.escape(str(meta.get('model')))}</h1>
<p>vLLM {html.escape(str(meta.get('vllm_version') or 'version not reported (no /version)'))} ·
harness {html.escape(str(meta.get('harness_version')))} ·
{html.escape(str(meta.get('base_url')))} · {'telemetry recorded' if has_telemetry else 'no telemetry'}</p>
{verdict}
<p>First request (server cold path, excluded from the results): TTFT {_fmt(first.get('ttft_ms'), '{:.1f}')} ms,
E2EL {_fmt(first.get('e2el_ms'), '{:.1f}')} ms. Warm-up requests excluded: {results['warmup_requests']}.</p>
<table><tr><th></th>{head}</tr>{body}</table>
{gpu}
{figures}
<h2>metadata</h2><pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>"""
    path.write_text(page, encoding="utf-8")


def _gpu_section(telemetry: dict[str, Any], budget_gib: float | None) -> str:
    """GPU identity, peak memory against the budget, and what the samplers themselves cost."""
    gpu = telemetry.get("gpu") or {}
    if gpu.get("backend", "none") == "none":
        return f"<p>GPU telemetry: none ({html.escape(str(gpu.get('reason', 'not sampled')))})</p>"
    devices = ", ".join(f"{d['name']} ({d['memory_total_bytes'] / 2**30:.0f} GiB)" for d in gpu.get("devices", []))
    peak = telemetry.get("peak_gpu_memory_bytes")
    peak_text = "-" if peak is None else f"{peak / 2**30:.2f} GiB"
    if peak is not None and budget_gib is not None:
        verdict = "ok" if peak <= budget_gib * 2**30 else "bad"
        peak_text += f" <span class={verdict}>(budget {budget_gib:g} GiB)</span>"
    processes = "".join(f"<li>{html.escape(k)}: {v / 2**30:.2f} GiB</li>"
                        for k, v in (telemetry.get("peaks") or {}).items() if "process_memory_bytes" in k)
    samplers = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{s['target_hz']:g}</td>"
        f"<td>{'stopped: no /metrics' if s.get('stopped_early') else format(s['achieved_hz'], 'g')}</td>"
        f"<td>{s['busy_ms_per_sample']:.2f}</td><td>{s['cpu_pct_of_one_core']:.2f}</td></tr>"
        for name, s in (telemetry.get("samplers") or {}).items())
    return (f"<h2>GPU</h2><p>{html.escape(devices)} · driver {html.escape(str(gpu.get('driver')))} · "
            f"backend {html.escape(str(gpu.get('backend')))}</p><p>peak memory used: {peak_text}</p>"
            + (f"<p>peak per process:</p><ul>{processes}</ul>" if processes else "")
            + "<p>sampler overhead:</p><table><tr><th>sampler</th><th>target Hz</th><th>achieved Hz</th>"
            f"<th>ms per sample</th><th>CPU % of one core</th></tr>{samplers}</table>")
