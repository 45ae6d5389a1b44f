"""A comparison as markdown (for a CI comment) and as one self-contained HTML page with plots."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness.compare.decide import Comparison, MetricResult, _fmt, ratio_text
from harness.pages import png_base64, render

LATENCIES = ("ttft", "tpot", "itl", "e2el")


def _status(m: MetricResult) -> str:
    if m.regressed:
        return "❌ regression"
    if m.improved:
        return "✅ better"
    return "ok"


def _p(m: MetricResult) -> str:
    return "-" if m.p_value is None else f"{m.p_value:.2g}"


def _threshold(m: MetricResult) -> str:
    sign = {"up": "+", "down": "-", "change": "±"}[m.rule.bad]
    if m.rule.absolute:
        return f"{sign}{m.rule.threshold:g} points"
    return "any" if m.rule.threshold == 0 else f"{sign}{m.rule.threshold:.0%}"


def markdown(c: Comparison, title: str = "vllm-harness compare") -> str:
    regressions = c.regressions
    lines = [f"### {title}: {'❌ REGRESSION' if regressions else '✅ no regression'}", "",
             f"baseline: {_side(c.baseline)}  ", f"candidate: {_side(c.candidate)}  ",
             f"rule: a regression passes its threshold and a one-sided Mann-Whitney U test"
             f" at alpha={c.thresholds.alpha:g}"
             f" ({c.thresholds.source})", ""]
    if regressions:
        lines += ["**Regressions**", "", *[f"- {r}" for r in regressions], ""]
    fixed = [v for v in c.verdicts if v.kind == "known issue fixed"]
    if fixed:
        lines += ["**Known issues fixed** (their strict xfail now passes: remove the `[[known_issues]]` entry)", "",
                  *[f"- `{v.test}`: {v.baseline} → {v.candidate}" for v in fixed], ""]
    appeared = [v for v in c.verdicts if v.kind == "known issue appeared"]
    if appeared:
        lines += ["**Known issues that appeared** (the candidate fails them as its `[[known_issues]]` declare; the "
                  "baseline did not: this release brings them)", "",
                  *[f"- ⚠️ `{v.test}`: {v.baseline} → {v.candidate}" for v in appeared], ""]
    if c.metrics:
        lines += ["| level | metric | baseline | candidate | ratio | p | threshold | n | verdict |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for m in c.metrics:
            lines.append(f"| {m.level} | {m.rule.title} | {_fmt(m.baseline, m.rule)} | {_fmt(m.candidate, m.rule)} | "
                         f"{ratio_text(m)} | {_p(m)} | {_threshold(m)} | {m.n[0]}/{m.n[1]} | {_status(m)}"
                         f"{' — ' + m.note if m.note else ''} |")
        lines.append("")
    others = [v for v in c.verdicts if v.kind not in ("known issue fixed", "known issue appeared")]
    if others:
        lines += ["**Test verdict changes**", "", "| test | baseline | candidate | change |", "|---|---|---|---|"]
        lines += [f"| `{v.test}` | {v.baseline} | {v.candidate} | {'❌ ' if v.regression else ''}{v.kind} |"
                  for v in others]
        lines.append("")
    elif c.baseline.verdicts and c.candidate.verdicts and not c.verdicts:
        lines += [f"Test verdicts: no change ({len(c.candidate.verdicts[0])} tests).", ""]
    if c.greedy:
        changed = [g for g in c.greedy if g.changed]
        lines += [f"**Greedy outputs on the fixed corpus**: {len(c.greedy) - len(changed)}/{len(c.greedy)} images "
                  "identical", ""]
        if changed:
            lines += ["| image | token agreement | first divergence | prompt tokens |", "|---|---:|---:|---:|"]
            lines += [f"| {g.label} | {g.agreement:.0%} | {_or_dash(g.first_divergence)} | "
                      f"{g.prompt_tokens[0]} → {g.prompt_tokens[1]} |" for g in changed]
            lines.append("")
    lines += [f"- {note}" for note in c.notes]
    return "\n".join(lines).rstrip() + "\n"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _side(side: object) -> str:
    facts = getattr(side, "facts", {})
    runs = getattr(side, "runs", [])
    image = str(facts.get("image_id") or "-")[:19]
    return (f"{len(runs)} run(s) ({runs[0].name if runs else '-'}{', …' if len(runs) > 1 else ''}), "
            f"vLLM {facts.get('vllm_version') or '?'}, image {image}")


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return png_base64(buf.getvalue())


def plots(c: Comparison) -> list[tuple[str, str]]:
    """One figure per load level: the CDF of each latency, baseline against candidate."""
    figures = []
    for level in [lv for lv in c.baseline.levels if lv in c.candidate.levels]:
        fig, axes = plt.subplots(1, len(LATENCIES), figsize=(16, 3.6))
        for ax, name in zip(axes, LATENCIES, strict=True):
            for side, style in ((c.baseline, "-"), (c.candidate, "--")):
                values = np.sort(side.samples.get((level, name), np.empty(0)))
                if len(values):
                    ax.plot(values, np.linspace(0, 1, len(values)), style, label=side.label)
            ax.set_title(f"{name.upper()} (ms)")
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.suptitle(f"level {level}")
        fig.tight_layout()
        figures.append((f"latency CDFs, {level}", _png(fig)))
    return figures


def page(c: Comparison, markdown_text: str) -> str:
    rows = [{"css": "bad" if m.regressed else "good" if m.improved else "",
             "cells": (m.level, m.rule.title, _fmt(m.baseline, m.rule), _fmt(m.candidate, m.rule), ratio_text(m),
                       _p(m), _threshold(m), _status(m) + (" — " + m.note if m.note else ""))} for m in c.metrics]
    return render("compare.html", verdict="REGRESSION" if c.regressed else "no regression", rows=rows,
                  figures=plots(c), markdown=markdown_text)
