"""The nightly trend: each metric of each variant over time, from the results history.

The baseline of a night is the rolling median of the N nights before it. A night *violates* when its
value is worse than that baseline by more than the metric's compare threshold; one violation is
*suspicious*, two consecutive ones are a *regression* (one noisy night never fails the nightly).
What changed between nights (image, vLLM version, images/ commit, GPU driver) is listed and marked.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from enum import StrEnum

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness.compare.thresholds import MetricRule, Thresholds
from harness.pages import render
from harness.results import HistoryLine


class Status(StrEnum):
    OK = "ok"
    SUSPICIOUS = "suspicious"
    REGRESSION = "regression"
    NO_BASELINE = "no baseline"


# history metric key (per load level) -> the compare rule that judges it
LEVEL_METRICS = {"median_ttft_ms": "ttft", "median_tpot_ms": "tpot", "median_itl_ms": "itl",
                 "median_e2el_ms": "e2el", "request_throughput": "request_throughput",
                 "output_throughput": "output_throughput", "harness_error_rate": "error_rate",
                 "harness_prefix_cache_hit_pct": "prefix_cache_hit", "harness_mm_cache_hit_pct": "mm_cache_hit",
                 "harness_spec_acceptance_pct": "spec_acceptance",
                 "harness_joules_per_output_token": "joules_per_token"}
RUN_METRICS = {"ready_seconds": "ready_seconds", "peak_gpu_memory_bytes": "peak_gpu_memory_bytes",
               "kv_cache_tokens": "kv_cache_tokens", "failed_tests": "error_rate"}
IDENTITY = ("image_id", "vllm_version", "images_commit", "gpu_driver")


@dataclass(frozen=True)
class Point:
    run: str
    time: str
    value: float
    baseline: float | None
    status: Status


def violates(value: float, baseline: float, rule: MetricRule) -> bool:
    if math.isnan(value) or math.isnan(baseline):
        return False
    if rule.bad == "change":
        return value != baseline
    if rule.absolute:
        change = value - baseline
    else:
        change = (value - baseline) / baseline if baseline else (math.inf if value != baseline else 0.0)
    if rule.bad == "up":
        return change > rule.threshold
    return change < -rule.threshold


def flag(values: list[float], rule: MetricRule, window: int = 7) -> list[tuple[float | None, Status]]:
    """(baseline, status) of each night, oldest first."""
    out: list[tuple[float | None, Status]] = []
    previous_violated = False
    for i, value in enumerate(values):
        before = [v for v in values[max(0, i - window):i] if not math.isnan(v)]
        if not before:
            out.append((None, Status.NO_BASELINE))
            previous_violated = False
            continue
        baseline = float(np.median(before))
        bad = violates(value, baseline, rule)
        out.append((baseline, Status.REGRESSION if bad and previous_violated else Status.SUSPICIOUS if bad
                    else Status.OK))
        previous_violated = bad
    return out


def _when(line: HistoryLine) -> str:
    return str(line.started or line.recorded)


def series(lines: list[HistoryLine]) -> dict[str, dict[str, list[tuple[HistoryLine, float]]]]:
    """variant -> metric name -> [(line, value)] in time order."""
    out: dict[str, dict[str, list[tuple[HistoryLine, float]]]] = {}
    for line in sorted(lines, key=_when):
        metrics = out.setdefault(str(line.variant), {})
        values: dict[str, float] = {}
        for level, found in line.metrics.items():
            for key in LEVEL_METRICS:
                value = getattr(found, key)
                if value is not None:
                    values[f"{level} {key}"] = float(value)
        for key in RUN_METRICS:
            if key == "failed_tests":
                if line.verdicts:
                    values[key] = float(line.failing_tests)
            elif (value := getattr(line, key)) is not None:
                values[key] = float(value)
        for name, value in values.items():
            metrics.setdefault(name, []).append((line, value))
    return out


def rule_for(metric: str, thresholds: Thresholds) -> MetricRule:
    key = metric.split(" ")[-1]
    name = LEVEL_METRICS.get(key) or RUN_METRICS[key]
    return thresholds.rule(name)


def judge(lines: list[HistoryLine], thresholds: Thresholds, window: int) -> dict[str, dict[str, list[Point]]]:
    judged: dict[str, dict[str, list[Point]]] = {}
    for variant, metrics in series(lines).items():
        for metric, points in metrics.items():
            flags = flag([v for _, v in points], rule_for(metric, thresholds), window)
            judged.setdefault(variant, {})[metric] = [
                Point(r.run, str(r.started), v, b, s)
                for (r, v), (b, s) in zip(points, flags, strict=True)]
    return judged


def changes(lines: list[HistoryLine]) -> dict[str, list[tuple[str, str]]]:
    """variant -> [(run, 'vllm_version 0.14.1 → 0.15.0; image_id …')] where identity changed."""
    out: dict[str, list[tuple[str, str]]] = {}
    last: dict[str, HistoryLine] = {}
    for line in sorted(lines, key=_when):
        variant = str(line.variant)
        before = last.get(variant)
        if before is not None:
            moved = [f"{k} {str(getattr(before, k))[:19]} → {str(getattr(line, k))[:19]}" for k in IDENTITY
                     if getattr(before, k) != getattr(line, k)]
            if moved:
                out.setdefault(variant, []).append((line.run, "; ".join(moved)))
        last[variant] = line
    return out


@dataclass(frozen=True)
class Flag:
    """A series whose latest night is suspicious or a regression."""

    variant: str
    metric: str
    point: Point

    def __str__(self) -> str:
        p = self.point
        return f"{self.variant} {self.metric}: {p.status} ({p.value:.4g} vs rolling median {p.baseline:.4g})"


def latest_flags(judged: dict[str, dict[str, list[Point]]]) -> list[Flag]:
    """Every series whose last night is not ok."""
    return [Flag(variant, metric, points[-1]) for variant, metrics in judged.items()
            for metric, points in metrics.items()
            if points and points[-1].status in (Status.SUSPICIOUS, Status.REGRESSION)]


def _plot(metric: str, points: list[Point], changed_runs: set[str]) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.6))
    x = np.arange(len(points))
    ax.plot(x, [p.value for p in points], "o-", label="night")
    ax.plot(x, [np.nan if p.baseline is None else p.baseline for p in points], "--", color="grey",
            label="rolling median")
    for status, color in (("suspicious", "orange"), ("regression", "red")):
        hit = [i for i, p in enumerate(points) if p.status == status]
        ax.scatter(hit, [points[i].value for i in hit], s=120, facecolors="none", edgecolors=color, label=status)
    for i, p in enumerate(points):
        if p.run in changed_runs:
            ax.axvline(i - 0.5, color="purple", alpha=0.4)
    ax.set_xticks(x, [p.time[5:16] for p in points], rotation=30, fontsize=7)
    ax.set_title(metric, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=75)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def page(lines: list[HistoryLine], thresholds: Thresholds, window: int) -> str:
    judged = judge(lines, thresholds, window)
    moved = changes(lines)
    variants = []
    for variant, metrics in judged.items():
        changed_runs = {run for run, _ in moved.get(variant, [])}
        variants.append({"name": variant, "changes": moved.get(variant, []),
                         "plots": [(points[-1].status, metric, _plot(metric, points, changed_runs))
                                   for metric, points in metrics.items()]})
    return render("trend.html", runs=len(lines), window=window, flags=[str(f) for f in latest_flags(judged)],
                  variants=variants)
