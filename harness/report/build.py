"""From a run folder's raw files to results.json, vLLM-keyed summaries, plots and index.html."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.load import metrics
from harness.load.cache_counters import read_levels
from harness.load.records import FILE, Chunks, read
from harness.report import verdict
from harness.report.level_extras import extras, lag_reasons
from harness.results.models import LoadVerdict
from harness.spec.variant_load import SloSpec
from harness.telemetry.energy import NOTE as ENERGY_NOTE

CLIENT_FILE = "client.csv"
TELEMETRY_FILE = "telemetry.csv"
# the client is saturated when its one gevent loop is this busy or this late, in this share of seconds.
# The check must trip before accuracy is lost, not after (benchmarks/README.md, H200 capacity runs): with
# a cooperative read per chunk, accuracy held to ~69 % of a core and went from ~74 %; with reads in the
# hub's callbacks (cheaper per chunk) it held in every level whose busiest second-median was <= 60 % (but
# one lag blip at 59 %) and went at 65-67 %, as reads began to carry several chunks each. Hence 60 %.
CPU_SATURATED_PCT = 60.0
LAG_SATURATED_MS = 10.0
SATURATED_SHARE = 0.2


@dataclass
class Report:
    dir: Path
    levels: list[dict[str, Any]]
    first_request: dict[str, Any] | None
    valid: bool
    invalid_reasons: list[str] = field(default_factory=list)
    slo_failures: list[str] = field(default_factory=list)
    requests: int = 0
    incident: str | None = None  # what ended the run early, e.g. the serving container died
    request_failures: list[str] = field(default_factory=list)  # levels with more failed requests than allowed

    @property
    def verdict(self) -> LoadVerdict:
        return verdict.decide(incident=self.incident, request_failures=self.request_failures, valid=self.valid,
                              slo_failures=self.slo_failures)

    @property
    def html(self) -> Path:
        return self.dir / "index.html"


def client_use(client: pd.DataFrame | None, rows: pd.DataFrame) -> dict[str, float | None]:
    """The load generator's own use while a level ran, beside the server's numbers: the busiest process's
    CPU (% of one core) and its worst event-loop lag p99, from client.csv's once-a-second samples."""
    if client is None or client.empty or rows.empty:
        return {"harness_client_cpu_pct_max": None, "harness_client_lag_p99_ms_max": None}
    end = (rows["start_wall"] + rows["end"] - rows["start"]).max()
    during = client[(client["t"] >= rows["start_wall"].min()) & (client["t"] <= end + 1)]
    if during.empty:
        return {"harness_client_cpu_pct_max": None, "harness_client_lag_p99_ms_max": None}
    return {"harness_client_cpu_pct_max": float(during["cpu_pct"].max()),
            "harness_client_lag_p99_ms_max": float(during["lag_p99_ms"].max())}


def client_check(client: pd.DataFrame | None, window: tuple[float, float] | None) -> tuple[bool, list[str], dict]:
    """Was the load generator itself the bottleneck? Judged from its own once-a-second samples. Without a
    sample inside the measured levels nothing was judged (`judged: false`): the run is not called invalid,
    and the report says its latencies are not vouched for instead of calling the client's check valid."""
    if client is None or client.empty:
        return True, [], {"samples": 0, "judged": False}
    if window is not None:
        client = client[(client["t"] >= window[0] - 1) & (client["t"] <= window[1] + 1)]
    reasons = []
    detail: dict[str, Any] = {"samples": len(client), "judged": len(client) > 0}
    for worker, rows in client.groupby("worker"):
        busy = (rows["cpu_pct"] >= CPU_SATURATED_PCT).mean()
        late = (rows["lag_p99_ms"] >= LAG_SATURATED_MS).mean()
        detail[str(worker)] = {"cpu_pct_mean": float(rows["cpu_pct"].mean()),
                               "cpu_pct_max": float(rows["cpu_pct"].max()),
                               "lag_p99_ms_max": float(rows["lag_p99_ms"].max()),
                               "lag_p50_ms_median": float(rows["lag_p50_ms"].median())}
        if busy >= SATURATED_SHARE:
            reasons.append(f"load generator saturated: process {worker} used >= {CPU_SATURATED_PCT:.0f}% of a core "
                           f"in {busy:.0%} of seconds (mean {rows['cpu_pct'].mean():.0f}%); "
                           "spread the load: --workers N (up to the cores) or more hosts (--remote-workers)")
        late_seconds = int((rows["lag_p99_ms"] >= LAG_SATURATED_MS).sum())
        if late >= SATURATED_SHARE and late_seconds >= 2:
            why = ("it was saturated; spread the load: --workers N or more hosts"
                   if rows["cpu_pct"].mean() >= CPU_SATURATED_PCT / 2
                   else "other processes on this host kept it from running (its own CPU was low); "
                        "run it on a quieter host or give it cores of its own")
            reasons.append(f"load generator lagging: process {worker}'s event loop woke >= {LAG_SATURATED_MS:.0f} ms "
                           f"late (p99) in {late:.0%} of seconds (worst {rows['lag_p99_ms'].max():.1f} ms): {why}")
    return not reasons, reasons, detail


def slo_failures(levels: list[dict[str, Any]], slo: SloSpec | None, telemetry: dict[str, Any] | None) -> list[str]:
    """Latency and memory limits missed (failed requests are judged apart: harness.report.verdict)."""
    if slo is None:
        return []
    failures = []
    checks = [("p99_ttft_ms", slo.p99_ttft_ms, "p99 TTFT"), ("p99_tpot_ms", slo.p99_tpot_ms, "p99 TPOT"),
              ("p99_itl_ms", slo.p99_itl_ms, "p99 ITL"), ("p99_e2el_ms", slo.p99_e2el_ms, "p99 E2EL")]
    for level in levels:
        for key, limit, name in checks:
            if limit is not None and level[key] > limit:
                failures.append(f"{level['level']}: {name} {level[key]:.1f} ms > {limit:g} ms")
    peak = (telemetry or {}).get("peak_gpu_memory_bytes")
    if slo.max_gpu_memory_gib is not None and peak is not None and peak > slo.max_gpu_memory_gib * 2**30:
        failures.append(f"peak GPU memory {peak / 2**30:.2f} GiB > budget {slo.max_gpu_memory_gib:g} GiB")
    return failures


def goodput_of(slo: SloSpec | None) -> dict[str, float] | None:
    if slo is None:
        return None
    found = {name: getattr(slo, f"goodput_{name}_ms") for name in metrics.SLO_NAMES}
    return {k: v for k, v in found.items() if v is not None} or None


def read_optional(path: Path) -> pd.DataFrame | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    frame = pd.read_csv(path)
    return None if frame.empty else frame


def _clean(value: Any) -> Any:
    """JSON without NaN/inf (which json.dumps would write as invalid JSON)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2, default=str))
    os.replace(tmp, path)


def build_report(run_dir: Path, metadata: dict[str, Any] | None = None, slo: SloSpec | None = None,
                 plots: bool = True) -> Report:
    from harness.report.html import write_html
    from harness.report.plots import make_plots

    metadata = metadata or {}
    frame = read(run_dir / FILE)
    measured = frame[frame["phase"] == "measure"]
    chunks = Chunks.of(measured)
    level_chunks: dict[str, Chunks] = {}
    goodput = goodput_of(slo)
    levels = []
    client = read_optional(run_dir / CLIENT_FILE)
    telemetry = read_optional(run_dir / TELEMETRY_FILE)
    counters = read_levels(run_dir)
    for label, rows in measured.groupby("level", sort=False):
        level_chunks[str(label)] = chunks.rows((measured["level"] == label).to_numpy())
        level = {"level": label, "max_concurrency": int(rows["users"].iloc[0]),
                 "request_rate": float(rows["rate"].iloc[0]) if pd.notna(rows["rate"].iloc[0]) else "inf",
                 "burstiness": (metadata.get("load") or {}).get("burstiness", 1.0),
                 **metrics.summary(rows, goodput, chunks=level_chunks[str(label)]), **client_use(client, rows)}
        level |= extras(rows, level, counters.get(str(label)), telemetry)
        levels.append(level)
        _write_json(run_dir / f"vllm-bench-{label}.json", {**_vllm_keys(level), "model_id": metadata.get("model")})
    window = (float(measured["start_wall"].min()), float(measured["start_wall"].max())) if len(measured) else None
    valid, reasons, client_detail = client_check(client, window)
    lagged = lag_reasons(levels, (metadata.get("load") or {}).get("lag_bound_ms"))
    valid, reasons = valid and not lagged, reasons + lagged
    telemetry_summary = metadata.get("telemetry")
    failures = slo_failures(levels, slo, telemetry_summary)
    max_error_rate = slo.max_error_rate if slo else None
    report = Report(dir=run_dir, levels=levels, first_request=metrics.first_request(frame), valid=valid,
                    invalid_reasons=reasons, slo_failures=failures, requests=len(frame),
                    incident=metadata.get("incident"),
                    request_failures=verdict.request_failures(levels, max_error_rate, valid))
    results = {"verdict": report.verdict, "metadata": metadata, "valid": valid, "invalid_reasons": reasons,
               "request_failures": report.request_failures, "max_error_rate": max_error_rate or 0.0,
               "client_check": client_detail, "first_request": report.first_request,
               "warmup_requests": int((frame["phase"] == "warmup").sum()),
               "slo": slo.__dict__ if slo else None, "slo_failures": failures, "levels": levels}
    if any(level.get("harness_energy_j") is not None for level in levels):
        results["energy_note"] = ENERGY_NOTE
    _write_json(run_dir / "results.json", results)
    budget = slo.max_gpu_memory_gib if slo else None
    images = make_plots(run_dir, measured, level_chunks, levels, telemetry, client, budget) if plots else {}
    write_html(run_dir / "index.html", results, images, telemetry is not None)
    return report


def _vllm_keys(level: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in level.items() if not k.startswith("harness_") and k != "level"}
