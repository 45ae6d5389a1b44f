"""The `[load]` and `[load.slo]` tables of a variant spec: what `pytest -m load` and `vllm-harness load`
run by default, and the limits a run must meet."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.spec.spec_table import Bool, FieldProblem, Float, Int, spec

Limit = Annotated[Float, Field(ge=0, description="a limit >= 0")] | None
Positive = Annotated[Int, Field(ge=1, description="a positive integer")]
LoadKind = Literal["chat", "vision", "video", "audio", "completions", "conversation"]  # harness.load.config.KINDS
NonNegative = Annotated[Int, Field(ge=0, description="a count >= 0")]
PositiveFloat = Annotated[Float, Field(gt=0, description="a positive number")]


@spec()
class SloSpec:
    """[load.slo]: what a load run must meet (milliseconds; error rate as a fraction), checked per level.
    `max_error_rate`: the share of a level's requests allowed to fail (0: none may; harness.report.verdict
    judges it). `goodput_*` are `vllm bench serve --goodput` limits; `max_gpu_memory_gib` is the memory budget."""

    p99_ttft_ms: Limit = None
    p99_tpot_ms: Limit = None
    p99_itl_ms: Limit = None
    p99_e2el_ms: Limit = None
    max_error_rate: Annotated[Float, Field(ge=0, le=1, description="a fraction from 0 to 1")] = 0.0
    goodput_ttft_ms: Limit = None
    goodput_tpot_ms: Limit = None
    goodput_e2el_ms: Limit = None
    max_gpu_memory_gib: Limit = None


@spec()
class LoadSpec:
    """[load]: what `pytest -m load` runs against this variant by default (the CLI can override each)."""

    kinds: tuple[LoadKind, ...] = ("chat",)
    concurrency: tuple[Positive, ...] = (1, 4)
    requests: Positive | None = 16  # per level; ignored when duration is set
    duration: Annotated[Float, Field(gt=0, description="positive seconds")] | None = None
    rates: tuple[Annotated[Float, Field(gt=0, description="a positive request rate (requests/s)")], ...] = ()
    burstiness: Annotated[Float, Field(gt=0, description="positive (1: Poisson arrivals)")] = 1.0
    input_len: Positive = 64
    output_len: Positive = 32
    ignore_eos: Bool = True
    warmup: Annotated[Int, Field(ge=0, description="a count >= 0")] = 1
    turns: Positive = 4  # conversation: turns per session
    think_time: Annotated[Float, Field(ge=0, description="seconds >= 0")] = 0.0
    think: Literal["fixed", "exponential"] = "fixed"
    prefix_tokens: NonNegative = 0  # a shared prefix on every request (0: none)
    prefix_share: Positive = 1  # requests reusing each shared prefix
    image_pool: NonNegative = 0  # vision: images drawn from a pool of K (0: always fresh)
    image_repeat: Annotated[Float, Field(ge=0, le=1, description="a share between 0 and 1")] = 1.0
    document_images: Bool = False  # vision: page-scan shaped images
    trace: str | None = None  # a JSONL trace to replay (relative to where the harness runs)
    time_scale: PositiveFloat = 1.0
    block_tokens: Positive = 512  # trace: tokens per hash id
    lag_bound_ms: PositiveFloat = 100.0  # trace: p99 send lag past which the run is invalid
    slo: SloSpec = field(default_factory=SloSpec)

    @model_validator(mode="before")
    @classmethod
    def _duration_replaces_requests(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "duration" not in data:
            return data
        if "requests" in data:
            raise FieldProblem("requests", "give requests or duration, not both")
        return {**data, "requests": None}  # a duration replaces the default request count
