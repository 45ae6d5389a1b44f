"""index.html: one self-contained page (plots inlined as data URLs), readable offline."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

ROWS = [("completed", "completed", "{:d}"), ("failed", "failed", "{:d}"), ("req/s", "request_throughput", "{:.2f}"),
        ("output tok/s", "output_throughput", "{:.1f}"), ("TTFT p50", "median_ttft_ms", "{:.1f}"),
        ("TTFT p99", "p99_ttft_ms", "{:.1f}"), ("ITL p50", "median_itl_ms", "{:.2f}"),
        ("ITL p99", "p99_itl_ms", "{:.2f}"), ("TPOT p50", "median_tpot_ms", "{:.2f}"),
        ("E2EL p50", "median_e2el_ms", "{:.1f}"), ("E2EL p99", "p99_e2el_ms", "{:.1f}")]


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
    if results["slo_failures"]:
        verdict += "<p class=bad>SLO failures: " + "; ".join(html.escape(f) for f in results["slo_failures"]) + "</p>"
    first = results.get("first_request") or {}
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
<p>vLLM {html.escape(str(meta.get('vllm_version')))} · harness {html.escape(str(meta.get('harness_version')))} ·
{html.escape(str(meta.get('base_url')))} · {'telemetry recorded' if has_telemetry else 'no telemetry'}</p>
{verdict}
<p>First request (server cold path, excluded from the results): TTFT {_fmt(first.get('ttft_ms'), '{:.1f}')} ms,
E2EL {_fmt(first.get('e2el_ms'), '{:.1f}')} ms. Warm-up requests excluded: {results['warmup_requests']}.</p>
<table><tr><th></th>{head}</tr>{body}</table>
{figures}
<h2>metadata</h2><pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>"""
    path.write_text(page, encoding="utf-8")
