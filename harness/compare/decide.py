"""The comparison itself. A metric regresses only when (as asv decides) its change passes the rule's
threshold in the bad direction AND a one-sided Mann-Whitney U test on the samples says the shift is
significant at `alpha` — and, in the gate, when it is also larger than the A-vs-A noise floor.
Behaviour is compared as well: test verdicts, greedy outputs on the fixed corpus, served defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
from scipy.stats import mannwhitneyu

from harness.compare.runs import Side
from harness.compare.thresholds import REQUEST_METRICS, MetricRule, Thresholds
from harness.results import GreedyAnswer

FAILING = {"failed", "error"}
LEFT_OUT = "; left out of the comparison (valid runs of its levels exist)"


@dataclass(frozen=True)
class MetricResult:
    level: str  # a load level ("c=4", "chat/c=4") or "run" for run-level facts
    rule: MetricRule
    baseline: float
    candidate: float
    p_value: float | None  # one-sided, in the direction judged (better when improved); None: no test possible
    n: tuple[int, int]  # samples (or runs) per side
    regressed: bool
    improved: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return 1.0 if self.candidate == 0 else math.inf
        return self.candidate / self.baseline

    @property
    def key(self) -> str:
        return f"{self.level}:{self.rule.name}"


@dataclass(frozen=True)
class VerdictChange:
    test: str
    baseline: str  # verdicts seen over the side's runs, joined with "/"
    candidate: str
    kind: str  # new failure | known issue fixed | known issue appeared | fixed | flaky | changed | added | removed

    @property
    def regression(self) -> bool:
        return self.kind == "new failure"


@dataclass(frozen=True)
class GreedyDiff:
    label: str
    agreement: float  # share of positions with the same greedy token
    first_divergence: int | None
    prompt_tokens: tuple[int | None, int | None]

    @property
    def changed(self) -> bool:
        return self.agreement < 1.0 or self.prompt_tokens[0] != self.prompt_tokens[1]


class CompareVerdict(StrEnum):
    """What a comparison (and the gate) decided: the exit code and gate.json say this, never the text."""

    PASS = "pass"
    REGRESSION = "regression"


@dataclass
class Comparison:
    baseline: Side
    candidate: Side
    thresholds: Thresholds
    metrics: list[MetricResult] = field(default_factory=list)
    verdicts: list[VerdictChange] = field(default_factory=list)
    greedy: list[GreedyDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        found = [f"{m.level} {m.rule.title}: {_fmt(m.baseline, m.rule)} → {_fmt(m.candidate, m.rule)} "
                 f"({ratio_text(m)})" for m in self.metrics if m.regressed]
        found += [f"new failure: {v.test} ({v.baseline} → {v.candidate})" for v in self.verdicts if v.regression]
        if self.thresholds.fail_on_output_change:
            found += [f"greedy output changed: {g.label}" for g in self.greedy if g.changed]
        return found

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def verdict(self) -> CompareVerdict:
        return CompareVerdict.REGRESSION if self.regressed else CompareVerdict.PASS

    def within_noise(self, noise: Comparison) -> Comparison:
        """Clear regressions no larger than the same metric's change between two sets of baseline runs."""
        floor = {m.key: abs(m.ratio - 1) for m in noise.metrics}
        kept = []
        for m in self.metrics:
            if (m.regressed or m.improved) and m.key in floor and abs(m.ratio - 1) <= floor[m.key]:
                # a zero median in one A round (every token of a stream in one read: ITL 0 ms) makes the
                # floor infinite: A disagrees with itself without bound, so B cannot be judged against it
                why = ("not judged: A's own rounds differ without bound (a zero median in one)"
                       if math.isinf(floor[m.key]) else f"within the A-vs-A noise floor (±{floor[m.key]:.1%})")
                m = replace(m, regressed=False, improved=False, note=why)
            elif (m.regressed or m.improved) and m.level != "run" and m.key not in floor:
                # pooled requests of one round are not independent of its host's load: without A's own
                # spread a latency change cannot be told from a busier round
                m = replace(m, regressed=False, improved=False,
                            note="not judged: no A-vs-A noise floor for this level (too few valid A rounds)")
            kept.append(m)
        return replace(self, metrics=kept)


def ratio_text(m: MetricResult) -> str:
    return "∞" if math.isinf(m.ratio) else f"{m.ratio:.3f}x"


def _fmt(value: float, rule: MetricRule) -> str:
    if math.isnan(value):
        return "-"
    if rule.unit == "GiB":
        return f"{value / 2**30:.2f} GiB"
    if rule.unit == "GB":
        return f"{value / 1e9:.2f} GB"
    if rule.name == "error_rate":
        return f"{value:.2%}"
    if rule.unit == "%":
        return f"{value:.1f}%"
    if rule.unit == "tokens":
        return f"{value:,.0f} tokens"
    return f"{value:.4g} {rule.unit}".strip()


def compare(baseline: Side, candidate: Side, thresholds: Thresholds | None = None) -> Comparison:
    thresholds = thresholds or Thresholds()
    result = Comparison(baseline, candidate, thresholds)
    common = [level for level in baseline.levels if level in candidate.levels]
    for level in sorted(set(baseline.levels) ^ set(candidate.levels)):
        where = "baseline" if level in baseline.levels else "candidate"
        result.notes.append(f"load level {level} is only in the {where}")
    for level in common:
        for name in REQUEST_METRICS:
            found = _request_metric(baseline, candidate, level, thresholds.rule(name), thresholds.alpha)
            if found is not None:
                result.metrics.append(found)
    for rule in thresholds.rules:
        if rule.name not in REQUEST_METRICS:
            found = _run_metric(baseline, candidate, rule, thresholds.alpha)
            if found is not None:
                result.metrics.append(found)
    for side in (baseline, candidate):
        result.notes += [f"❌ {side.label}: the server did not start in {side.boot_errors.count(why)} of "
                         f"{len(side.runs)} run(s), so their tests errored: {why}"
                         for why in dict.fromkeys(side.boot_errors)]
        result.notes += [f"⚠️ {side.label}: load run invalid, its latencies include the client's own delay"
                         f"{LEFT_OUT if why.split(':')[0] in side.left_out else ''}: {why}" for why in side.invalid]
    result.verdicts = verdict_changes(baseline.verdicts, candidate.verdicts)
    if baseline.greedy and candidate.greedy:
        result.greedy = greedy_diffs(baseline.greedy, candidate.greedy)
    elif baseline.greedy or candidate.greedy:
        result.notes.append("only one side recorded greedy answers on the fixed corpus (greedy.jsonl)")
    return result


def one_sided_p(base: np.ndarray, cand: np.ndarray, bad: str) -> float | None:
    """P-value that the candidate moved in the bad direction (None: too few samples to test)."""
    base, cand = base[~np.isnan(base)], cand[~np.isnan(cand)]
    if len(base) < 2 or len(cand) < 2:
        return None
    if bad == "change":
        return float(mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    return float(mannwhitneyu(cand, base, alternative="greater" if bad == "up" else "less").pvalue)


def _decide(rule: MetricRule, base: float, cand: float, p: float | None, alpha: float,
            tested: bool, p_better: float | None = None) -> tuple[bool, bool]:
    """(regressed, improved): past the threshold and, where tested, significant in that direction (an
    improvement is judged as strictly as a regression, or noise would be reported as one)."""
    if math.isnan(base) or math.isnan(cand):
        return False, False
    if rule.absolute:
        change = cand - base
    else:
        change = (cand - base) / base if base else (math.inf if cand > base else -math.inf if cand < base else 0.0)
    if rule.bad == "change":
        return abs(change) > rule.threshold and (not tested or (p is not None and p <= alpha)), False
    worse = change > rule.threshold if rule.bad == "up" else change < -rule.threshold
    # threshold "any" (0) gives no size that tells a gain from the value's own drift between boots
    # (measured: KV cache 43,629,776 vs 43,689,168 tokens on two boots of one vLLM), so it is never "better"
    better = rule.threshold > 0 and (change < -rule.threshold if rule.bad == "up" else change > rule.threshold)
    significant = not tested or (p is not None and p <= alpha)
    significant_better = not tested or (p_better is not None and p_better <= alpha)
    return worse and significant, better and significant_better


def _opposite(bad: str) -> str:
    return {"up": "down", "down": "up"}.get(bad, bad)


def _request_metric(baseline: Side, candidate: Side, level: str, rule: MetricRule,
                    alpha: float) -> MetricResult | None:
    if rule.name == "error_rate":
        if level not in baseline.errors or level not in candidate.errors:
            return None  # a level known only by its counters (its requests left out: an invalid run)
        (bf, bn), (cf, cn) = baseline.errors[level], candidate.errors[level]
        base, cand = bf / max(bn, 1), cf / max(cn, 1)
        worse = cand > base + rule.threshold
        return MetricResult(level, rule, base, cand, None, (bn, cn), worse, False,  # "any": never "better"
                            "any increase counts: a new error is never noise" if worse else "")
    base_runs, cand_runs = baseline.per_run.get((level, rule.name)), candidate.per_run.get((level, rule.name))
    if not base_runs or not cand_runs:
        return None
    if rule.test == "none":  # a counter's rate: the runs' medians, the threshold alone decides
        base, cand = float(np.nanmedian(base_runs)), float(np.nanmedian(cand_runs))
        regressed, improved = _decide(rule, base, cand, None, alpha, tested=False)
        return MetricResult(level, rule, base, cand, None, (len(base_runs), len(cand_runs)), regressed, improved,
                            "threshold only (percentage points)" if rule.absolute else "threshold only")
    if rule.test == "runs":  # a per-run statistic (a tail): only runs are independent samples of it
        base, cand = float(np.nanmedian(base_runs)), float(np.nanmedian(cand_runs))
        n = (len(base_runs), len(cand_runs))
        if min(n) < rule.min_runs:
            moved = any(_decide(rule, base, cand, None, alpha, tested=False))
            return MetricResult(level, rule, base, cand, None, n, False, False,
                                f"not judged: needs {rule.min_runs} runs per side" + (" (changed)" if moved else ""))
        bs, cs, note = np.array(base_runs), np.array(cand_runs), "per run"
    elif rule.name.endswith("throughput"):
        base, cand = float(np.nanmean(base_runs)), float(np.nanmean(cand_runs))
        if min(len(base_runs), len(cand_runs)) >= rule.min_runs:
            bs, cs, note = np.array(base_runs), np.array(cand_runs), "per run"
        else:  # too few runs: each request's own rate is the sample
            bs, cs = baseline.samples[(level, rule.name)], candidate.samples[(level, rule.name)]
            note = "test on per-request rates"
    elif min(len(base_runs), len(cand_runs)) >= rule.min_runs:
        # requests of one run share its host's load: with enough runs, runs are the independent samples
        # (measured: a busy round moved a pooled vision TTFT median 37% with p=0.013 and no change of vLLM's)
        bs, cs, note = np.array(base_runs), np.array(cand_runs), "per run"
        base, cand = float(np.nanmedian(bs)), float(np.nanmedian(cs))
    else:
        bs, cs = baseline.samples[(level, rule.name)], candidate.samples[(level, rule.name)]
        if not len(bs) or not len(cs):
            return None
        base, cand = float(np.median(bs)), float(np.median(cs))
        note = ""
    p, p_better, n = one_sided_p(bs, cs, rule.bad), one_sided_p(bs, cs, _opposite(rule.bad)), (len(bs), len(cs))
    regressed, improved = _decide(rule, base, cand, p, alpha, tested=True, p_better=p_better)
    return MetricResult(level, rule, base, cand, p_better if improved else p, n, regressed, improved, note)


def _run_metric(baseline: Side, candidate: Side, rule: MetricRule, alpha: float) -> MetricResult | None:
    bv, cv = baseline.run_values.get(rule.name, []), candidate.run_values.get(rule.name, [])
    if not bv or not cv:
        return None
    base, cand = float(np.median(bv)), float(np.median(cv))
    p, note, tested = None, "", False
    p_better = None
    if rule.test == "runs" and min(len(bv), len(cv)) >= rule.min_runs:
        p, tested = one_sided_p(np.array(bv), np.array(cv), rule.bad), True
        p_better = one_sided_p(np.array(bv), np.array(cv), _opposite(rule.bad))
    elif rule.test == "runs" and rule.noisy:
        regressed, improved = _decide(rule, base, cand, None, alpha, tested=False)
        return MetricResult("run", rule, base, cand, None, (len(bv), len(cv)), False, False,
                            f"not judged: needs {rule.min_runs} runs per side"
                            + (" (changed)" if regressed or improved else ""))
    elif rule.test != "none":
        note = f"threshold only (a test needs {rule.min_runs} runs per side)"
    regressed, improved = _decide(rule, base, cand, p, alpha, tested=tested, p_better=p_better)
    return MetricResult("run", rule, base, cand, p_better if improved else p, (len(bv), len(cv)), regressed,
                        improved, note)


def verdict_changes(baseline: list[dict[str, str]], candidate: list[dict[str, str]]) -> list[VerdictChange]:
    """Tests whose verdicts differ between the sides (each side: the set seen over its runs)."""
    def seen(side: list[dict[str, str]]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for run in side:
            for test, found in run.items():
                out.setdefault(test, set()).add(found)
        return out

    if not baseline or not candidate:
        return []
    base, cand = seen(baseline), seen(candidate)
    changes = []
    for test in sorted(set(base) | set(cand)):
        b, c = base.get(test), cand.get(test)
        if b == c:
            continue
        if b is None or c is None:
            kind = "added" if b is None else "removed"
        elif ("xpassed" in c and "xpassed" not in b) or (b == {"xfailed"} and c == {"passed"}):
            kind = "known issue fixed"
        elif c == {"xfailed"} and "xfailed" not in b:  # declared for the candidate's release, absent before
            kind = "known issue appeared"
        elif len(b) > 1:  # the baseline itself varied: no change of the candidate's is news
            kind = "flaky"
        elif c & FAILING and not b & FAILING:
            kind = "new failure"
        elif b & FAILING and c == {"passed"}:
            kind = "fixed"
        elif len(c) > 1:
            kind = "flaky"
        else:
            kind = "changed"
        changes.append(VerdictChange(test, "/".join(sorted(b or {"-"})), "/".join(sorted(c or {"-"})), kind))
    return changes


def greedy_diffs(baseline: dict[str, GreedyAnswer], candidate: dict[str, GreedyAnswer]) -> list[GreedyDiff]:
    diffs = []
    for label in sorted(set(baseline) & set(candidate)):
        a, b = baseline[label].tokens, candidate[label].tokens
        length = max(len(a), len(b), 1)
        same = sum(1 for x, y in zip(a, b, strict=False) if x == y)
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                     None if len(a) == len(b) else min(len(a), len(b)))
        diffs.append(GreedyDiff(label, same / length, first,
                                (baseline[label].prompt_tokens, candidate[label].prompt_tokens)))
    return diffs
