"""A level's figures beyond `vllm bench serve`'s: TTFT by conversation turn, the server's cache hit rates
and draft acceptance (harness.load.cache_counters), GPU energy per token and per request
(harness.telemetry.energy), and how closely a trace replay kept its arrival times."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.load import metrics
from harness.telemetry.energy import level_energy


def ttft_by_turn(rows: pd.DataFrame) -> dict[str, float] | None:
    """Median TTFT (ms) of each conversation turn (0-based) over the level's successful requests."""
    ok = rows[metrics.successful(rows) & rows["turn"].notna()]
    if ok.empty:
        return None
    medians = ok.groupby(ok["turn"].astype(int))["ttft"].median()
    return {str(turn): float(value) * 1e3 for turn, value in medians.items()}


def window(rows: pd.DataFrame) -> tuple[float, float] | None:
    """The level's wall-clock span: first send to last end."""
    if rows.empty:
        return None
    ends = rows["start_wall"] + (rows["end"].fillna(rows["start"]) - rows["start"])
    return float(rows["start_wall"].min()), float(ends.max())


def extras(rows: pd.DataFrame, level: dict[str, Any], counters: dict[str, Any] | None,
           telemetry: pd.DataFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    turns = ttft_by_turn(rows)
    if turns:
        out["harness_ttft_by_turn_ms"] = turns
    if counters:
        out |= counters
    span = window(rows)
    if span is not None:
        out |= level_energy(telemetry, span[0], span[1], int(level["total_output_tokens"]), int(level["completed"]))
    if str(level["level"]) == "trace":
        lag = rows["queue_delay"].dropna().to_numpy(dtype=float)
        out["harness_arrival_lag_p99_ms"] = float(np.percentile(lag, 99)) * 1e3 if len(lag) else None
        out["harness_arrival_lag_max_ms"] = float(lag.max()) * 1e3 if len(lag) else None
    return out


def lag_reasons(levels: list[dict[str, Any]], bound_ms: float | None) -> list[str]:
    """A trace replay that sent requests later than `bound_ms` (p99) did not replay the trace."""
    reasons = []
    for level in levels:
        lag = level.get("harness_arrival_lag_p99_ms")
        if bound_ms is not None and lag is not None and lag > bound_ms:
            reasons.append(f"trace replay lagged: p99 send lag {lag:.1f} ms > bound {bound_ms:g} ms (the trace's "
                           "arrival times were not kept; raise --concurrency, the cap of requests in flight, or "
                           "slow it with --time-scale)")
    return reasons
