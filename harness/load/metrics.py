"""Metrics exactly as `vllm bench serve` defines them (vllm/benchmarks/serve.py, calculate_metrics),
computed from our raw records:

    TTFT   first token chunk's arrival - request start            (successful requests)
    ITL    every gap between consecutive token chunks of a request (all pooled)
    TPOT   per request: (E2EL - TTFT) / (output tokens - 1), for requests with > 1 output token
    E2EL   last token chunk's arrival - request start
    output tokens: usage.completion_tokens (the chunk count when the server sent no usage)
    request/output/total-token throughput: completed requests, output tokens, input + output tokens,
           each over the level's duration (first send or schedule → last request end); successful requests
           only, as vLLM's. `harness_attempted_throughput`: every request sent, failed ones included
    goodput: requests/s meeting every given SLO (ttft, tpot, e2el in ms; TPOT counts 0 for 1-token answers)
    stats: mean, median, std (population, numpy's default), percentiles by linear interpolation

A "token chunk" is an SSE event whose `choices` is not empty, which is what vLLM's client counts. Keys of
`summary()` are those `vllm bench serve --save-result` writes, so both can be compared side by side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.load import failures
from harness.load.records import Chunks

PERCENTILES: tuple[float, ...] = (25, 50, 75, 90, 95, 99, 99.9)
SLO_NAMES = ("ttft", "tpot", "e2el")


def successful(frame: pd.DataFrame) -> pd.Series:
    return (frame["status"] == 200) & (frame["error_type"].fillna("") == "") & frame["ttft"].notna()


def p_word(p: float) -> str:
    return str(int(p)) if int(p) == p else str(p)


def stats(values: np.ndarray, name: str, percentiles: tuple[float, ...] = PERCENTILES) -> dict[str, float]:
    """mean/median/std/pNN of seconds, as milliseconds under vLLM's key names (0 when there are none)."""
    data = values if len(values) else np.zeros(1)
    out = {f"mean_{name}_ms": float(np.mean(data)) * 1e3, f"median_{name}_ms": float(np.median(data)) * 1e3,
           f"std_{name}_ms": float(np.std(data)) * 1e3}
    for p, v in zip(percentiles, np.percentile(data, percentiles), strict=True):
        out[f"p{p_word(p)}_{name}_ms"] = float(v) * 1e3
    return out


def itls(frame: pd.DataFrame, chunks: Chunks | None = None) -> np.ndarray:
    """Every inter-token gap (seconds) of the given requests, pooled."""
    parsed = chunks or Chunks.of(frame)
    flat, counts = parsed.flat, parsed.counts
    if len(flat) < 2:
        return np.empty(0)
    gaps = np.diff(flat)
    # a gap that crosses from one request's chunks to the next one's is not an ITL
    boundaries = np.cumsum(counts)[:-1] - 1
    keep = np.ones(len(gaps), dtype=bool)
    keep[boundaries[(boundaries >= 0) & (boundaries < len(gaps))]] = False
    return gaps[keep] / 1e3


def output_tokens(frame: pd.DataFrame, chunks: Chunks | None = None) -> np.ndarray:
    flat_counts = (chunks or Chunks.of(frame)).counts
    usage = frame["completion_tokens"].to_numpy(dtype=float)
    return np.where(np.isnan(usage), flat_counts, usage).astype(np.int64)


def duration(frame: pd.DataFrame) -> float:
    begin = frame["scheduled"].fillna(frame["start"]).to_numpy(dtype=float)
    end = frame["end"].fillna(frame["start"]).to_numpy(dtype=float)
    return float(end.max() - begin.min()) if len(frame) else 0.0


def peaks(ok: pd.DataFrame, chunks: Chunks | None = None) -> tuple[float, int]:
    """vLLM's max_output_tokens_per_s (token chunks per one-second bucket) and max_concurrent_requests
    (sweep line over [start, start + E2EL))."""
    if ok.empty:
        return 0.0, 0
    start = ok["start"].to_numpy(dtype=float)
    end = start + ok["e2el"].to_numpy(dtype=float)
    parsed = chunks or Chunks.of(ok)
    flat, counts = parsed.flat, parsed.counts
    token_times = np.repeat(start, counts) + flat / 1e3
    buckets = np.floor(token_times - start.min()).astype(np.int64)
    per_second = np.bincount(buckets[buckets >= 0]) if len(buckets) else np.zeros(1)
    times = np.concatenate([start, end])
    deltas = np.concatenate([np.ones(len(start)), -np.ones(len(end))])
    order = np.lexsort((deltas, times))  # a departure before an arrival at the same instant
    return float(per_second.max()), int(np.cumsum(deltas[order]).max())


def summary(frame: pd.DataFrame, goodput: dict[str, float] | None = None,
            percentiles: tuple[float, ...] = PERCENTILES, chunks: Chunks | None = None) -> dict[str, Any]:
    """One level's results under `vllm bench serve`'s keys (plus a few of ours, prefixed `harness_`).
    `chunks`: the frame's chunk column already parsed (row-aligned), when the caller has it."""
    ok_mask = successful(frame)
    ok = frame[ok_mask]
    ok_chunks = (chunks or Chunks.of(frame)).rows(ok_mask)
    dur = duration(frame)
    out_lens = output_tokens(ok, ok_chunks)
    ttft = ok["ttft"].to_numpy(dtype=float)
    e2el = ok["e2el"].to_numpy(dtype=float)
    multi = out_lens > 1
    tpot_all = np.where(multi, (e2el - ttft) / np.maximum(out_lens - 1, 1), 0.0)
    total_in = int(ok["prompt_tokens"].fillna(0).sum())
    total_out = int(out_lens.sum())
    per_s = (lambda x: x / dur) if dur > 0 else (lambda x: math.nan)
    peak_tokens, peak_concurrency = peaks(ok, ok_chunks)
    result: dict[str, Any] = {
        "duration": dur, "completed": len(ok), "failed": int((~ok_mask).sum()),
        "total_input_tokens": total_in, "total_output_tokens": total_out,
        "request_throughput": per_s(len(ok)), "harness_attempted_throughput": per_s(len(frame)),
        "request_goodput": per_s(good_requests(ttft, tpot_all, e2el, goodput)) if goodput else None,
        "output_throughput": per_s(total_out), "total_token_throughput": per_s(total_in + total_out),
        "max_output_tokens_per_s": peak_tokens, "max_concurrent_requests": peak_concurrency,
    }
    result |= stats(ttft, "ttft", percentiles)
    result |= stats(tpot_all[multi], "tpot", percentiles)
    result |= stats(itls(ok, ok_chunks), "itl", percentiles)
    result |= stats(e2el, "e2el", percentiles)
    queue = ok["queue_delay"].dropna().to_numpy(dtype=float)
    if len(queue):
        result |= stats(queue, "client_queue_time", percentiles)
    errors = frame.loc[~ok_mask, "error_type"].fillna("").replace("", "unknown").value_counts()
    result["harness_errors"] = {str(k): int(v) for k, v in errors.items()}  # as the client recorded them
    result["harness_failures"], result["harness_first_errors"] = failures.by_kind(frame[~ok_mask])
    result["harness_error_rate"] = float((~ok_mask).mean()) if len(frame) else 0.0
    # successful requests that still broke the protocol (e.g. no `data: [DONE]`): counted, not failed
    notes = frame.loc[ok_mask & (frame["error"].fillna("") != ""), "error"].value_counts()
    result["harness_protocol_notes"] = {str(k): int(v) for k, v in notes.items()}
    return result


def good_requests(ttft: np.ndarray, tpot: np.ndarray, e2el: np.ndarray, slo_ms: dict[str, float]) -> int:
    values = {"ttft": ttft, "tpot": tpot, "e2el": e2el}
    good = np.ones(len(ttft), dtype=bool)
    for name, limit in slo_ms.items():
        good &= values[name] <= limit / 1e3
    return int(good.sum())


def first_request(frame: pd.DataFrame) -> dict[str, Any] | None:
    """The run's very first request (warm-up included): the server's cold path, reported on its own."""
    if frame.empty:
        return None
    row = frame.sort_values("start").iloc[0]
    ok = bool(successful(frame.loc[[row.name]]).iloc[0])
    return {"id": row["id"], "ok": ok, "ttft_ms": float(row["ttft"]) * 1e3 if ok else None,
            "e2el_ms": float(row["e2el"]) * 1e3 if ok else None, "error": None if ok else row["error_type"]}
