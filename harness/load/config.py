"""What one load run does. Frozen; written to the run folder as JSON and read back by the agent."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError

KINDS = ("chat", "vision", "video", "audio", "completions", "conversation")
THINK = ("fixed", "exponential")
# the workload fields a variant's [load] table sets under the same names (harness.spec.variant_load)
WORKLOAD_KEYS = ("turns", "think_time", "think", "prefix_tokens", "prefix_share", "image_pool", "image_repeat",
                 "document_images",
                 "trace", "time_scale", "block_tokens", "lag_bound_ms")
STREAMS_PER_PROCESS = 128  # what one load-generator process drives before a second one starts


@dataclass(frozen=True)
class LoadConfig:
    base_url: str  # the server root (no /v1)
    model: str
    kinds: tuple[str, ...] = ("chat",)  # user classes, equally weighted
    concurrency: tuple[int, ...] = (1,)  # closed-loop levels, or the in-flight cap of each open-loop rate
    rates: tuple[float, ...] = ()  # requests/s; non-empty: open loop, one level per rate
    requests: int | None = None  # per level; None: run for `duration`
    duration: float | None = None  # seconds per level (new requests stop; running ones finish)
    burstiness: float = 1.0  # gamma shape of open-loop inter-arrivals: 1 Poisson, <1 burstier
    ramp_up: float = 0.0  # seconds: users spawned evenly (closed) or rate rising linearly (open)
    input_len: int = 128  # prompt text tokens: tokenizer-filled with `word_costs`, else words (~1 token each)
    output_len: int = 64  # max_tokens; with ignore_eos exactly what is generated
    ignore_eos: bool = True  # vLLM's extension; off for servers that reject unknown fields
    warmup: int = 1  # requests sent one at a time before measuring; the first one reported apart
    seed: int = 0
    workers: int | None = None  # None: automatic (see resolved()); 0: one process; N: master + N local workers
    timeout: float = 600.0  # seconds one request may take
    # plain http on Linux: chunk times from the kernel's receive timestamps, immune to client scheduling delay
    kernel_timestamps: bool = True
    word_costs: dict[str, int] | None = None  # tokens per prompt word, from the server's /tokenize
    stamp_field: str | None = None  # benchmarks: a top-level chunk field holding the server's send time
    label: str = ""  # variant name or "remote", for the report
    # conversation: sessions of `turns` turns, each resending the whole conversation plus a new message
    turns: int = 4
    think_time: float = 0.0  # seconds between a turn's answer and the next turn
    think: str = "fixed"  # or "exponential" (mean `think_time`)
    # shared prefixes: every request starts with one of several `prefix_tokens`-token prefixes, each
    # reused by `prefix_share` consecutive requests of a level (1: every prefix unique)
    prefix_tokens: int = 0
    prefix_share: int = 1
    # vision: draw each image from a pool of `image_pool` (0: a fresh image every request)
    image_pool: int = 0
    image_repeat: float = 1.0  # with a pool: the share of requests drawing from it (the rest: fresh images)
    document_images: bool = False  # page-scan shaped images (~1700x2200, text-dense) instead of 224x224
    # trace replay (harness.load.trace): one level replaying the file's arrivals, lengths and hash_ids
    trace: str | None = None
    time_scale: float = 1.0  # trace times are multiplied by this (0.5: twice as fast)
    block_tokens: int = 512  # tokens per trace hash id (Mooncake's block size)
    lag_bound_ms: float = 100.0  # trace replay: p99 send lag past this makes the run invalid

    def check(self) -> LoadConfig:
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise UsageError(f"load kinds must be among {', '.join(KINDS)}, got {', '.join(self.kinds) or 'none'}")
        if not self.concurrency or any(c < 1 for c in self.concurrency):
            raise UsageError(f"--concurrency needs positive integers, got {list(self.concurrency)}")
        if any(r <= 0 for r in self.rates):
            raise UsageError(f"--rate needs positive requests/s, got {list(self.rates)}")
        self._check_workload()
        if self.trace is None and (self.requests is None) == (self.duration is None):
            raise UsageError("give the number of requests (--requests N) or a duration (--duration S), not both")
        if (self.requests is not None and self.requests < 1) or (self.duration is not None and self.duration <= 0):
            raise UsageError("--requests and --duration must be positive")
        if self.input_len < 1 or self.output_len < 1:
            raise UsageError("--input-len and --output-len must be positive")
        if self.burstiness <= 0 or self.ramp_up < 0 or self.warmup < 0 or (self.workers or 0) < 0:
            raise UsageError("--burstiness must be > 0; --ramp-up, --warmup and --workers must be >= 0")
        return self

    def _check_workload(self) -> None:
        if self.turns < 1 or self.think_time < 0 or self.think not in THINK:
            raise UsageError(f"--turns must be >= 1, --think-time >= 0 and --think one of {', '.join(THINK)}")
        if self.prefix_tokens < 0 or self.prefix_share < 1 or self.image_pool < 0 or not 0 <= self.image_repeat <= 1:
            raise UsageError("--prefix-tokens and --image-pool must be >= 0, --prefix-share >= 1 and "
                             "--image-repeat between 0 and 1")
        if self.trace is not None:
            if self.rates:
                raise UsageError("--trace replays the trace's own arrival times: leave out --rate")
            if self.time_scale <= 0 or self.block_tokens < 1 or self.lag_bound_ms <= 0:
                raise UsageError("--time-scale, --block-tokens and --lag-bound-ms must be positive")
            if self.workers:
                raise UsageError("--trace runs in one process (its order is the trace's): leave out --workers")
            from harness.load.trace import read_trace  # one clear line for a bad file, before the agent starts

            read_trace(Path(self.trace), self.time_scale)
            if "conversation" in self.kinds:
                raise UsageError("--trace replays single requests: use kinds chat, completions or vision")

    def resolved(self) -> LoadConfig:
        """`workers=None` made concrete: one process while it can keep up, else one per
        STREAMS_PER_PROCESS streams, up to this machine's cores. Measured (benchmarks/load_accuracy.py, 2 cores):
        one gevent process drives 64 streams at ~60% of a core with sub-ms errors, but at 256 it saturates
        (~90%) and its p99 ITL error grows to tens of ms; two processes bring it back under 0.1 ms."""
        if self.workers is not None:
            return self
        if self.trace is not None:  # one process keeps the trace's order exactly
            return replace(self, workers=0)
        streams = max(users for _, users, _ in self.levels())
        processes = min(math.ceil(streams / STREAMS_PER_PROCESS), os.cpu_count() or 1)
        return replace(self, workers=processes if processes > 1 else 0)

    @property
    def open_loop(self) -> bool:
        return bool(self.rates)

    def levels(self) -> list[tuple[str, int, float | None]]:
        """(label, users, rate) per level, in the order they run."""
        if self.trace is not None:
            return [("trace", max(self.concurrency), None)]
        if self.open_loop:
            cap = max(self.concurrency)
            return [(f"rate={r:g}", cap, r) for r in self.rates]
        return [(f"c={c}", c, None) for c in self.concurrency]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LoadConfig:
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        return cls(**values)

    @classmethod
    def read(cls, path: Path) -> LoadConfig:
        return cls.from_json(path.read_text())
