"""The records a run leaves on disk, one model each, read and written through these models only.

    run.json          RunRecord      what was run (variant, image, server, times), replaced as it grows
    results.jsonl     TestOutcome    one line per test phase worth keeping, appended as it ends
    greedy.jsonl      GreedyAnswer   one line per fixed-corpus answer (the multimodal corpus suite)
    results.json      LoadReport     a load run's report (written by harness.report; read here)
    history.jsonl     HistoryLine    one line per finished run (reports/history.jsonl)

Records outlive the harness that wrote them: unknown keys are ignored on reading, so a folder written by a
newer or older harness still reads. Writing is strict instead: assigning a field a model does not have
raises (`validate_assignment`), so a renamed field cannot drift between writer and readers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Verdict(StrEnum):
    """A test's final verdict; `xpassed` is a known issue that no longer fails."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"

    @property
    def failing(self) -> bool:
        return self in (Verdict.FAILED, Verdict.ERROR)


class LoadVerdict(StrEnum):
    """A load run's verdict (harness.report.verdict decides it; its exit code is there too)."""

    PASSED = "passed"
    CUT_SHORT = "cut short"  # the server died or stopped answering mid-run
    REQUESTS_FAILED = "requests failed"  # more failed than [load.slo] max_error_rate allows (default: none)
    INVALID = "invalid"  # the client could not measure the server (saturated); no request failed
    SLO_MISSED = "SLO missed"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ImageRecord(_Record):
    """A built image (`BuiltImage.as_record()`)."""

    ref: str | None = None
    id: str | None = None
    size_bytes: int | None = None
    build_seconds: float | None = None
    cached: bool | None = None
    base: str | None = None


class ImagesGit(_Record):
    commit: str | None = None
    head: str | None = None
    dirty: bool | None = None


class GpuFacts(_Record):
    model: str | None = None
    driver: str | None = None
    count: int | None = None


class Environment(_Record):
    """Where a run happened, gathered once before boot."""

    harness_version: str | None = None
    host: str | None = None
    images_git: ImagesGit | None = None
    gpu: GpuFacts | None = None


class Served(_Record):
    """What a ready server said about itself (None: it did not say)."""

    vllm_version: str | None = None
    max_model_len: int | None = None
    kv_cache_tokens: int | None = None


class RunRecord(_Record):
    """run.json. Only the fields a run set are written."""

    session: str | None = None
    target: str | None = None
    harness_version: str | None = None
    started: str | None = None
    environment: Environment | None = None
    variant: str | None = None
    runtime: str | None = None
    model: str | None = None
    base_url: str | None = None
    image: ImageRecord | None = None
    gateway_image: ImageRecord | None = None
    ready_seconds: float | None = None
    served: Served | None = None
    server_version: str | None = None
    upstream_applied: list[str] | None = None
    boot_error: str | None = None
    finished: bool = False


class TestOutcome(_Record):
    """One line of results.jsonl: a test's call phase, or a setup/teardown phase that did not pass."""

    __test__ = False  # not a pytest test class, whatever its name

    test: str
    phase: str
    outcome: str
    seconds: float | None = None
    verdict: Verdict | None = None  # absent from lines written before verdicts were recorded
    detail: list[str] | None = None
    properties: dict[str, Any] | None = None

    def final(self) -> Verdict:
        if self.verdict is not None:
            return self.verdict
        if "XPASS(strict)" in " ".join(self.detail or []):
            return Verdict.XPASSED
        if self.outcome == "failed" and self.phase != "call":
            return Verdict.ERROR
        return Verdict(self.outcome)


class GreedyAnswer(_Record):
    """One line of greedy.jsonl: a fixed-corpus request's greedy answer, compared across runs."""

    label: str
    tokens: list[str]
    text: str
    prompt_tokens: int | None = None


class LevelMetrics(_Record):
    """A load level's headline metrics (`vllm bench serve`'s keys, plus the harness's error rate)."""

    median_ttft_ms: float | None = None
    p99_ttft_ms: float | None = None
    median_tpot_ms: float | None = None
    median_itl_ms: float | None = None
    p99_itl_ms: float | None = None
    median_e2el_ms: float | None = None
    p99_e2el_ms: float | None = None
    request_throughput: float | None = None  # successful requests/s (vLLM's)
    output_throughput: float | None = None  # successful requests' output tokens/s
    harness_attempted_throughput: float | None = None  # every request sent, failed ones too (absent before)
    harness_error_rate: float | None = None
    completed: int | None = None
    failed: int | None = None
    # the server's caches and speculative decoding (percent, from /metrics) and GPU energy (harness.telemetry)
    harness_prefix_cache_hit_pct: float | None = None
    harness_mm_cache_hit_pct: float | None = None
    harness_spec_acceptance_pct: float | None = None
    harness_joules_per_output_token: float | None = None
    harness_joules_per_request: float | None = None


class LoadLevel(LevelMetrics):
    """One level of results.json (the report holds many more keys; these are what history and compare read)."""

    level: str
    harness_failures: dict[str, int] = {}  # failed requests by kind (harness.load.failures)
    harness_first_errors: dict[str, str] = {}  # each kind's first error message


class LoadTelemetry(_Record):
    peak_gpu_memory_bytes: int | float | None = None  # as sampled: kept exactly, never coerced


class LoadMetadata(_Record):
    vllm_version: str | None = None
    image: ImageRecord | None = None
    telemetry: LoadTelemetry | None = None


class LoadReport(_Record):
    """results.json of a load run, as far as the readers of runs need it."""

    verdict: LoadVerdict | None = None  # absent from reports written before verdicts were recorded
    valid: bool | None = None
    invalid_reasons: list[str] = []
    request_failures: list[str] = []
    metadata: LoadMetadata = LoadMetadata()
    levels: list[LoadLevel] = []


class HistoryLine(_Record):
    """One line of reports/history.jsonl: what identifies a run and what it found."""

    kind: str | None = None  # "suite" or "load"
    run: str
    path: str | None = None  # the run folder, where its raw samples stay
    tag: str = ""
    started: str | None = None
    recorded: str | None = None
    variant: str | None = None
    runtime: str | None = None
    image_ref: str | None = None
    image_id: str | None = None
    image_size_bytes: int | None = None
    vllm_version: str | None = None
    max_model_len: int | None = None
    kv_cache_tokens: int | None = None
    ready_seconds: float | None = None
    gpu_model: str | None = None
    gpu_driver: str | None = None
    harness_version: str | None = None
    images_commit: str | None = None
    images_dirty: bool | None = None
    boot_error: str | None = None
    verdicts: dict[str, Verdict] = {}
    counts: dict[str, int] = {}
    metrics: dict[str, LevelMetrics] = {}
    peak_gpu_memory_bytes: int | float | None = None

    @property
    def failing_tests(self) -> int:
        return sum(1 for v in self.verdicts.values() if v.failing)
