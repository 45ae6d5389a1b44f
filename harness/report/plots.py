"""PNG plots of a load run (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.load import metrics
from harness.load.records import Chunks

CDF_POINTS = 2000  # a CDF is drawn through this many quantiles, however many requests there were


def _cdf(ax: Any, values: np.ndarray, label: str) -> None:
    if len(values) == 0:
        return
    q = np.linspace(0, 100, CDF_POINTS)
    ax.plot(np.percentile(values, q) * 1e3, q / 100, label=label)


def _x(levels: list[dict[str, Any]]) -> tuple[list[float], str]:
    rates = [lv["request_rate"] for lv in levels]
    if all(isinstance(r, float) for r in rates):
        return rates, "request rate (req/s)"
    return [lv["max_concurrency"] for lv in levels], "concurrency"


def latency_cdfs(path: Path, measured: pd.DataFrame, chunks: dict[str, Chunks]) -> None:
    """`chunks`: each level's parsed chunk offsets, row-aligned with its rows of `measured`."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for label, rows in measured.groupby("level", sort=False):
        ok_mask = metrics.successful(rows)
        ok = rows[ok_mask]
        _cdf(axes[0], ok["ttft"].to_numpy(dtype=float), str(label))
        _cdf(axes[1], metrics.itls(ok, chunks[str(label)].rows(ok_mask)), str(label))
        _cdf(axes[2], ok["e2el"].to_numpy(dtype=float), str(label))
    for ax, name in zip(axes, ("TTFT", "ITL", "E2EL"), strict=True):
        ax.set_xlabel(f"{name} (ms)")
        ax.set_ylabel("fraction of requests" if name != "ITL" else "fraction of token gaps")
        ax.set_title(f"{name} CDF")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def percentiles(path: Path, levels: list[dict[str, Any]]) -> None:
    x, xlabel = _x(levels)
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for ax, name in zip(axes[:3], ("ttft", "itl", "e2el"), strict=True):
        for p in ("50", "90", "99"):
            ax.plot(x, [lv[f"p{p}_{name}_ms"] for lv in levels], marker="o", label=f"p{p}")
        ax.set_title(f"{name.upper()} percentiles")
        ax.set_ylabel("ms")
    axes[3].plot(x, [lv["output_throughput"] or 0 for lv in levels], marker="o", label="output tok/s")
    axes[3].plot(x, [lv["total_token_throughput"] or 0 for lv in levels], marker="o", label="total tok/s")
    twin = axes[3].twinx()
    twin.plot(x, [lv["request_throughput"] or 0 for lv in levels], marker="s", color="gray", label="req/s")
    twin.set_ylabel("req/s")
    axes[3].set_title("throughput")
    axes[3].set_ylabel("tokens/s")
    for ax in axes:
        ax.set_xlabel(xlabel)
        if xlabel == "concurrency" and len(x) > 2 and max(x) / max(min(x), 1) >= 8:
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def timeline(path: Path, measured: pd.DataFrame, telemetry: pd.DataFrame | None,
             budget_gib: float | None = None) -> None:
    """Request rate, GPU memory (per device and per process, against the budget), GPU utilization and
    the server's KV cache / queue, on one wall-clock axis."""
    fig, axes = plt.subplots(4, 1, figsize=(15, 10), sharex=True)
    t0 = float(measured["start_wall"].min()) if len(measured) else 0.0
    if len(measured):
        seconds = np.floor(measured["start_wall"].to_numpy(dtype=float) - t0).astype(int)
        counts = np.bincount(seconds[seconds >= 0])
        axes[0].step(np.arange(len(counts)), counts, where="post", label="requests started / s")
        ends = measured["start_wall"] + (measured["end"] - measured["start"]).fillna(0)
        grid = np.arange(0, max(len(counts), 1), 0.25)
        starts = measured["start_wall"].to_numpy(dtype=float) - t0
        stops = ends.to_numpy(dtype=float) - t0
        # started by then minus ended by then, by binary search: linear in requests, not requests x grid
        in_flight = (np.searchsorted(np.sort(starts), grid, side="right")
                     - np.searchsorted(np.sort(stops), grid, side="right"))
        axes[0].plot(grid, in_flight, label="in flight", alpha=0.7)
        axes[0].legend(fontsize=8)
    axes[0].set_ylabel("requests")
    axes[0].set_title("load, GPU memory, GPU utilization and KV cache over time")
    if telemetry is None:
        for ax in axes[1:]:
            ax.text(0.5, 0.5, "no telemetry", ha="center", va="center", transform=ax.transAxes, fontsize=14,
                    color="gray")
    else:
        metric = telemetry["metric"].astype(str)
        for source, rows in telemetry[metric == "memory_used_bytes"].groupby("source"):
            axes[1].plot(rows["t"] - t0, rows["value"] / 2**30, label=f"{source} used")
        for name, rows in telemetry[metric.str.startswith("process_memory_bytes:")].groupby("metric"):
            axes[1].plot(rows["t"] - t0, rows["value"] / 2**30, label=f"pid {str(name).split(':', 1)[1]}",
                         linestyle="--")
        if budget_gib is not None and axes[1].lines:
            axes[1].axhline(budget_gib, color="#b00020", linestyle=":", label=f"budget {budget_gib:g} GiB")
        axes[1].set_ylabel("memory (GiB)")
        for source, rows in telemetry[metric == "utilization_pct"].groupby("source"):
            axes[2].plot(rows["t"] - t0, rows["value"], label=f"{source} utilization")
        axes[2].set_ylabel("GPU utilization %")
        kv = telemetry[metric.isin(["kv_cache_usage_perc", "num_requests_running", "num_requests_waiting"])]
        for (source, name), rows in kv.groupby(["source", "metric"]):
            values = rows["value"] * (100 if name == "kv_cache_usage_perc" and rows["value"].max() <= 1 else 1)
            axes[3].plot(rows["t"] - t0, values, label=f"{source} {name}")
        axes[3].set_ylabel("KV cache % / requests")
        for ax in axes[1:]:
            if ax.lines:
                ax.legend(fontsize=8)
            else:
                ax.text(0.5, 0.5, "not sampled", ha="center", va="center", transform=ax.transAxes, color="gray")
    axes[-1].set_xlabel("seconds since the first measured request")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def errors(path: Path, levels: list[dict[str, Any]]) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    kinds = sorted({k for lv in levels for k in lv["harness_failures"]})
    if not kinds:
        ax.text(0.5, 0.5, "no errors", ha="center", va="center", transform=ax.transAxes, fontsize=14, color="green")
        ax.set_axis_off()
    else:
        bottom = np.zeros(len(levels))
        labels = [lv["level"] for lv in levels]
        for kind in kinds:
            counts = np.array([lv["harness_failures"].get(kind, 0) for lv in levels])
            ax.bar(labels, counts, bottom=bottom, label=kind)
            bottom += counts
        ax.set_ylabel("failed requests")
        ax.legend(fontsize=8)
    ax.set_title("failed requests by kind")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def client_load(path: Path, client: pd.DataFrame | None) -> None:
    fig, ax = plt.subplots(figsize=(15, 3))
    if client is None:
        ax.text(0.5, 0.5, "no client samples", ha="center", va="center", transform=ax.transAxes, color="gray")
    else:
        t0 = client["t"].min()
        twin = ax.twinx()
        for worker, rows in client.groupby("worker"):
            ax.plot(rows["t"] - t0, rows["cpu_pct"], label=f"CPU % (process {worker})")
            twin.plot(rows["t"] - t0, rows["lag_p99_ms"], linestyle="--", label=f"loop lag p99 ms ({worker})")
        ax.set_ylabel("CPU % of one core")
        twin.set_ylabel("event-loop lag p99 (ms)")
        ax.legend(fontsize=8, loc="upper left")
        twin.legend(fontsize=8, loc="upper right")
    ax.set_title("load generator self-check")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def make_plots(run_dir: Path, measured: pd.DataFrame, chunks: dict[str, Chunks], levels: list[dict[str, Any]],
               telemetry: pd.DataFrame | None, client: pd.DataFrame | None,
               budget_gib: float | None = None) -> dict[str, Path]:
    images = {name: run_dir / f"{name}.png" for name in ("latency_cdf", "percentiles", "timeline", "errors",
                                                           "client")}
    latency_cdfs(images["latency_cdf"], measured, chunks)
    if levels:
        percentiles(images["percentiles"], levels)
    else:
        del images["percentiles"]
    timeline(images["timeline"], measured, telemetry, budget_gib)
    errors(images["errors"], levels)
    client_load(images["client"], client)
    return images
