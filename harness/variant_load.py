"""The `[load]` and `[load.slo]` tables of a variant spec: what `pytest -m load` and `vllm-harness load`
run by default, and the limits a run must meet."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from harness.errors import SpecError
from harness.load.config import KINDS
from harness.spec_table import Table, allowed


@dataclass(frozen=True)
class SloSpec:
    """[load.slo]: what a load run must meet (milliseconds; error rate as a fraction), checked per level.
    `goodput_*` are `vllm bench serve --goodput` limits; `max_gpu_memory_gib` is the memory budget."""

    p99_ttft_ms: float | None = None
    p99_tpot_ms: float | None = None
    p99_itl_ms: float | None = None
    p99_e2el_ms: float | None = None
    max_error_rate: float | None = None
    goodput_ttft_ms: float | None = None
    goodput_tpot_ms: float | None = None
    goodput_e2el_ms: float | None = None
    max_gpu_memory_gib: float | None = None


@dataclass(frozen=True)
class LoadSpec:
    """[load]: what `pytest -m load` runs against this variant by default (the CLI can override each)."""

    kinds: tuple[str, ...] = ("chat",)
    concurrency: tuple[int, ...] = (1, 4)
    requests: int | None = 16  # per level; ignored when duration is set
    duration: float | None = None
    rates: tuple[float, ...] = ()
    burstiness: float = 1.0
    input_len: int = 64
    output_len: int = 32
    ignore_eos: bool = True
    warmup: int = 1
    slo: SloSpec = field(default_factory=SloSpec)


def parse_load(t: Table | None) -> LoadSpec:
    if t is None:
        return LoadSpec()
    t.check_known([*allowed(LoadSpec)])
    numbers = {}
    for key in ("requests", "input_len", "output_len", "warmup"):
        value = t.get(key, int, getattr(LoadSpec, key))
        if value is not None and value < (0 if key == "warmup" else 1):
            raise SpecError(t.path, f"load.{key}", f"must be a positive integer, got {value}")
        numbers[key] = value
    duration = t.get("duration", float, None)  # type: ignore[arg-type]
    if duration is not None:
        if "requests" in t.data:
            raise SpecError(t.path, "load.requests", "give requests or duration, not both")
        numbers["requests"] = None  # a duration replaces the default request count
    burstiness = t.get("burstiness", float, 1.0)
    if (duration is not None and duration <= 0) or burstiness <= 0:
        raise SpecError(t.path, "load.duration/burstiness", "must be positive")
    concurrency = tuple(int(c) for c in (t.strings("concurrency") or LoadSpec.concurrency))
    raw_rates = t.data.get("rates", [])
    if not isinstance(raw_rates, list) or not all(isinstance(r, int | float) and not isinstance(r, bool)
                                                  for r in raw_rates):
        raise SpecError(t.path, "load.rates", f"must be a list of requests/s, got {raw_rates!r}")
    rates = tuple(float(r) for r in raw_rates)
    if any(c < 1 for c in concurrency) or any(r <= 0 for r in rates):
        raise SpecError(t.path, "load.concurrency/rates", "must be positive numbers")
    kinds = t.strings("kinds") or LoadSpec.kinds
    if any(k not in KINDS for k in kinds):
        raise SpecError(t.path, "load.kinds", f"must be among {', '.join(KINDS)}, got {list(kinds)}")
    slo = t.table("slo")
    return LoadSpec(kinds=kinds, concurrency=concurrency, duration=duration, rates=rates, burstiness=burstiness,
                    ignore_eos=t.get("ignore_eos", bool, True), slo=_slo(slo) if slo else SloSpec(), **numbers)


def _slo(t: Table) -> SloSpec:
    t.check_known(allowed(SloSpec))
    values = {f.name: t.get(f.name, float, None) for f in fields(SloSpec)}  # type: ignore[arg-type]
    for name, value in values.items():
        if value is not None and value < 0:
            raise SpecError(t.path, f"load.slo.{name}", f"must not be negative, got {value}")
    return SloSpec(**values)
