"""The three HTML pages (load report, compare, nightly trend) from one base template: the shared CSS once,
every value escaped, the plots inlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.compare.decide import compare
from harness.compare.render import markdown, page
from harness.compare.runs import Side
from harness.compare.thresholds import Thresholds
from harness.compare.trend import page as trend_page
from harness.report.html import write_html
from harness.results import HistoryLine

HOSTILE = "<script>alert(1)</script>"


def test_load_report_escapes_and_keeps_its_sections(tmp_path: Path) -> None:
    results = {
        "metadata": {"variant": HOSTILE, "model": "m", "incident": f"died {HOSTILE}"},
        "levels": [{"level": "c=1", "completed": 3, "failed": 0, "request_throughput": 1.234,
                    "harness_protocol_notes": {"no [DONE]": 2}}],
        "valid": False, "invalid_reasons": [HOSTILE], "slo_failures": ["p99 TTFT 900 ms > 500 ms"],
        "warmup_requests": 1, "first_request": {"ttft_ms": 12.345}, "slo": {},
    }
    write_html(tmp_path / "index.html", results, {}, has_telemetry=False)
    text = (tmp_path / "index.html").read_text()
    assert HOSTILE not in text and "&lt;script&gt;" in text
    for shown in ("INVALID RUN", "RUN CUT SHORT", "SLO failures: p99 TTFT 900 ms &gt; 500 ms", "no [DONE]: 2",
                  "<th>successful req/s</th><td>1.23</td>", "TTFT 12.3 ms", "GPU telemetry: none (not sampled)"):
        assert shown in text, shown
    assert text.count("<style>") == 1


def test_load_report_leads_with_failed_requests(tmp_path: Path) -> None:
    failure = f"c=4: 22 of 24 requests failed (91.7% > allowed 0.0%): http 500: 22 (first: '{HOSTILE}')"
    results = {
        "verdict": "requests failed", "metadata": {"model": "m"}, "valid": True, "invalid_reasons": [],
        "request_failures": [failure], "max_error_rate": 0.0, "slo_failures": [], "warmup_requests": 0,
        "levels": [{"level": "c=4", "completed": 2, "failed": 22, "request_throughput": 0.5,
                    "harness_attempted_throughput": 6.0, "harness_failures": {"http 500": 22},
                    "harness_first_errors": {"http 500": HOSTILE}}],
    }
    write_html(tmp_path / "index.html", results, {}, has_telemetry=False)
    text = (tmp_path / "index.html").read_text()
    assert HOSTILE not in text
    order = [text.index(shown) for shown in ('<h2 class="bad" id="verdict">Verdict: requests failed</h2>',
                                             "REQUESTS FAILED: c=4: 22 of 24", '<td class="bad">http 500</td>',
                                             "client self-check: valid", "<th>completed</th>")]
    assert order == sorted(order), order
    assert "<th>successful req/s</th><td>0.50</td>" in text and "<th>attempted req/s</th><td>6.00</td>" in text


def test_compare_and_trend_pages_share_the_base() -> None:
    rng = np.random.default_rng(0)
    sides = []
    for label, centre in (("base", 10.0), (HOSTILE, 20.0)):
        side = Side(label, [Path(f"/{label}")])
        side.samples[("c=1", "ttft")] = rng.normal(centre, 0.1, 50)
        side.per_run[("c=1", "ttft")] = [centre]
        side.errors["c=1"] = (0, 50)
        sides.append(side)
    result = compare(*sides)
    compared = page(result, markdown(result))
    assert "<title>compare: REGRESSION</title>" in compared and "<tr class=\"bad\">" in compared
    assert compared.count("data:image/png;base64,") == 1 and HOSTILE not in compared

    records = [HistoryLine.model_validate({"kind": "suite", "run": f"r{i}", "started": f"2026-01-0{i + 1}T00:00:00",
                                           "variant": HOSTILE, "ready_seconds": 10.0 + 10 * (i > 3)})
               for i in range(6)]
    trend = trend_page(records, Thresholds(), 3)
    assert "<div class=\"regression\"><img" in trend and HOSTILE not in trend and "ready_seconds: regression" in trend
    css = compared.split("<style>")[1].split("</style>")[0]
    assert css == trend.split("<style>")[1].split("</style>")[0]
