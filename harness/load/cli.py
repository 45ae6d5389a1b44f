"""`vllm-harness load`: its options, the LoadConfig they make, and the short table printed at the end."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import target_options
from harness.errors import UsageError
from harness.load.config import LoadConfig
from harness.report.build import Report
from harness.report.verdict import EXIT_CODES
from harness.results.models import LoadVerdict
from harness.spec.variant_load import LoadSpec
from harness.tables import print_whole


def _list(kind: Callable[[str], float | int]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got '{text}'") from None
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="variant to build and boot (or with --base-url: its spec's defaults)")
    target_options.add(p.add_argument, "base-url", "model", "api-key", "runtime", target_from_env=False)
    p.add_argument("--concurrency", type=_list(int), help="closed-loop levels, e.g. 1,4,16,64")
    p.add_argument("--rate", type=_list(float), help="open loop: requests/s (a list sweeps)")
    p.add_argument("--burstiness", type=float, help="gamma shape of inter-arrivals (1: Poisson)")
    p.add_argument("--ramp-up", type=float, default=0.0, metavar="S", help="seconds to reach full load")
    p.add_argument("--requests", type=int, help="requests per level")
    p.add_argument("--duration", type=float, metavar="S", help="seconds per level instead of --requests")
    p.add_argument("--input-len", type=int, help="prompt length (words, ~tokens)")
    p.add_argument("--output-len", type=int, help="max_tokens (exact with ignore_eos)")
    p.add_argument("--kinds", type=_list(str),
                   help="user classes: chat, vision, video, audio, completions, conversation")
    p.add_argument("--turns", type=int, help="conversation: turns per session (default 4)")
    p.add_argument("--think-time", type=float, metavar="S", help="conversation: seconds between turns")
    p.add_argument("--think", choices=("fixed", "exponential"), help="think time fixed or exponential (its mean)")
    p.add_argument("--prefix-tokens", type=int, help="a shared prefix of this many tokens on every request")
    p.add_argument("--prefix-share", type=int, help="requests reusing each shared prefix (1: all distinct)")
    p.add_argument("--image-pool", type=int, help="vision: draw images from a pool of K (0: always fresh)")
    p.add_argument("--image-repeat", type=float, help="vision: share of requests drawing from the pool (1)")
    p.add_argument("--document-images", action="store_true", help="vision: page scans (1700x2200, text)")
    p.add_argument("--trace", help="replay a JSONL trace (timestamp ms, input_length, output_length, hash_ids)")
    p.add_argument("--time-scale", type=float, help="trace: multiply its times by this (0.5: twice as fast)")
    p.add_argument("--block-tokens", type=int, help="trace: tokens per hash id (Mooncake: 512)")
    p.add_argument("--lag-bound-ms", type=float, help="trace: p99 send lag that makes the run invalid")
    p.add_argument("--no-ignore-eos", action="store_true", help="for servers that reject vLLM's ignore_eos")
    p.add_argument("--warmup", type=int, help="warm-up requests before measuring (default 1)")
    p.add_argument("--workers", type=int, default=None,
                   help="local locust worker processes (0: one process; default: one per 128 streams, up to the cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-kernel-timestamps", action="store_true",
                   help="time chunks when a read returns, not by the kernel's receive timestamps")


def config_from(args: argparse.Namespace, base_url: str, model: str, spec: LoadSpec, label: str) -> LoadConfig:
    """CLI > the variant's [load] table > defaults."""
    duration = args.duration if args.duration is not None else (spec.duration if args.requests is None else None)
    requests = args.requests if args.requests is not None else (None if duration is not None else spec.requests or 16)
    return LoadConfig(
        base_url=base_url, model=model, label=label,
        kinds=args.kinds or spec.kinds, concurrency=args.concurrency or spec.concurrency,
        rates=args.rate if args.rate is not None else spec.rates,
        requests=requests, duration=duration,
        burstiness=args.burstiness or spec.burstiness, ramp_up=args.ramp_up,
        input_len=args.input_len or spec.input_len, output_len=args.output_len or spec.output_len,
        ignore_eos=spec.ignore_eos and not args.no_ignore_eos,
        warmup=args.warmup if args.warmup is not None else spec.warmup, workers=args.workers, seed=args.seed,
        kernel_timestamps=not args.no_kernel_timestamps,
        turns=_pick(args.turns, spec.turns), think_time=_pick(args.think_time, spec.think_time),
        think=args.think or spec.think, prefix_tokens=_pick(args.prefix_tokens, spec.prefix_tokens),
        prefix_share=_pick(args.prefix_share, spec.prefix_share), image_pool=_pick(args.image_pool, spec.image_pool),
        image_repeat=_pick(args.image_repeat, spec.image_repeat),
        document_images=args.document_images or spec.document_images, trace=args.trace or spec.trace,
        time_scale=_pick(args.time_scale, spec.time_scale), block_tokens=_pick(args.block_tokens, spec.block_tokens),
        lag_bound_ms=_pick(args.lag_bound_ms, spec.lag_bound_ms),
    ).check()


def _pick(given: float | int | None, default: Any) -> Any:
    return default if given is None else given


def check_target(args: argparse.Namespace) -> None:
    if not args.name and not args.base_url:
        raise UsageError("vllm-harness load needs a variant NAME or --base-url URL")


EXTRAS = (("prefix-cache hit %", "harness_prefix_cache_hit_pct", ".1f"),
          ("multimodal-cache hit %", "harness_mm_cache_hit_pct", ".1f"),
          ("draft acceptance %", "harness_spec_acceptance_pct", ".1f"),
          ("GPU J/output token", "harness_joules_per_output_token", ".3f"),
          ("trace send lag p99 ms", "harness_arrival_lag_p99_ms", ".1f"))


def _maybe(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _latencies(level: dict) -> list[str]:
    """TTFT p50/p99, ITL p50/p99, E2EL p99; "-" where no request succeeded (0 would read as a fast server)."""
    keys = (("median_ttft_ms", "{:.1f}"), ("p99_ttft_ms", "{:.1f}"), ("median_itl_ms", "{:.2f}"),
            ("p99_itl_ms", "{:.2f}"), ("p99_e2el_ms", "{:.1f}"))
    return [_maybe(None if not level["completed"] else level[key], pattern) for key, pattern in keys]


def print_summary(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"load results ({report.requests} requests) — {report.dir}")
    for column in ("level", "ok", "failed", "ok req/s", "sent req/s", "ok out tok/s", "TTFT p50", "TTFT p99",
                   "ITL p50", "ITL p99", "E2EL p99", "client CPU", "client lag"):
        table.add_column(column, justify="right")
    for lv in report.levels:
        table.add_row(str(lv["level"]), str(lv["completed"]), str(lv["failed"]), f"{lv['request_throughput']:.2f}",
                      _maybe(lv.get("harness_attempted_throughput"), "{:.2f}"),
                      f"{lv['output_throughput']:.1f}", *_latencies(lv),
                      _maybe(lv.get("harness_client_cpu_pct_max"), "{:.0f}%"),
                      _maybe(lv.get("harness_client_lag_p99_ms_max"), "{:.1f}"))
    print_whole(console, table)
    first = report.first_request
    if first and first.get("ttft_ms") is not None:
        console.print(f"first request (cold, not in the table): TTFT {first['ttft_ms']:.1f} ms, "
                      f"E2EL {first['e2el_ms']:.1f} ms")
    _print_findings(report, console)
    verdict = report.verdict
    style = "bold green" if verdict == LoadVerdict.PASSED else "bold red"
    console.print(f"[{style}]verdict: {verdict}[/] (exit {EXIT_CODES[verdict]})")
    console.print(f"report: {report.html}")


def _print_findings(report: Report, console: Console) -> None:
    if report.incident:
        console.print(f"[bold red]RUN CUT SHORT:[/] {report.incident}")
    for failure in report.request_failures:
        console.print(f"[bold red]REQUESTS FAILED:[/] {escape(failure)}")  # the server's words: no markup
    for level in report.levels:
        if level["failed"]:
            by_kind = ", ".join(f"{kind}: {n}" for kind, n in (level.get("harness_failures") or {}).items())
            console.print(f"[red]failed[/] {level['level']}: {level['failed']} request(s) ({by_kind})")
    for level in report.levels:
        extra = "; ".join(f"{name} {level[key]:{fmt}}" for name, key, fmt in EXTRAS if level.get(key) is not None)
        if extra:
            console.print(f"{level['level']}: {extra}")
    for reason in report.invalid_reasons:
        console.print(f"[bold red]INVALID:[/] {reason}")
    for level in report.levels:
        for note, count in (level.get("harness_protocol_notes") or {}).items():
            console.print(f"[yellow]protocol[/]: {level['level']}: {count} request(s) {note}", markup=True)
    for failure in report.slo_failures:
        console.print(f"[bold red]SLO:[/] {failure}")
