"""`vllm-harness` (also `python -m harness`): list, build, up, reap. Errors are one line and an exit code."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness import __version__, target_options
from harness.errors import HarnessError
from harness.image.build import build_variant
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.server.engine import connect
from harness.server.launch import TargetOptions, launch, terminate_as_interrupt
from harness.server.reaper import reap
from harness.spec.variant import default_images_dir, load_all, load_variant
from harness.tables import print_whole

# soft_wrap: an error stays one line however narrow the terminal (or a CI log) is
console = Console(stderr=True, highlight=False, soft_wrap=True)


def _cmd_list(args: argparse.Namespace) -> int:
    table = Table(title=f"variants in {args.images_dir}")
    for column in ("name", "model", "gpu", "capabilities", "description"):
        table.add_column(column)
    for v in load_all(args.images_dir):
        table.add_row(v.name, v.serve.served_model_name, v.gpu.vendor, "\n".join(v.capabilities.enabled()),
                      v.description)
    print_whole(Console(), table, flexible="description")
    return 0


def _spinner_progress(log: Path | None) -> tuple[LogProgress, Callable[[], None]]:
    status = console.status("starting")
    status.start()
    # tool output may contain [brackets]: shown as plain text, never as rich markup
    progress = LogProgress(log, show=lambda line: console.print(line, markup=False),
                           glimpse=lambda line: status.update(Text(line[:110])))

    def close() -> None:
        status.stop()
        progress.close()

    return progress, close


def _cmd_build(args: argparse.Namespace) -> int:
    variant = load_variant(args.images_dir, args.name)
    progress, close = _spinner_progress(None)
    try:
        built = build_variant(connect(), variant, progress, force=args.rebuild)
    finally:
        close()
    print(f"{built.ref}\t{built.id}\t{built.size_bytes / 1e9:.2f} GB\t"
          f"{'cached' if built.cached else f'built in {built.build_seconds:.0f}s'}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    options = TargetOptions(images_dir=args.images_dir, reports_dir=args.reports_dir, image=args.name,
                            runtime=args.runtime, rebuild=args.rebuild, host_ip=args.host_ip,
                            host_port=args.port)
    options.check()
    recorder = RunRecorder(args.reports_dir, options.label)
    progress, close = _spinner_progress(recorder.dir / "build.log")
    try:
        with launch(options, recorder, progress) as endpoint:
            close()
            print(endpoint.v1_url, flush=True)
            console.print(f"serving '{endpoint.model}' at {endpoint.v1_url}; log: {endpoint.log_path}; Ctrl-C stops")
            threading.Event().wait()  # until Ctrl-C / SIGTERM unwinds the `with`
    finally:
        close()
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    from harness.load import cli as load_cli
    from harness.load.runner import run_load
    from harness.report.verdict import EXIT_CODES
    from harness.spec.variant_load import LoadSpec

    load_cli.check_target(args)
    options = TargetOptions(images_dir=args.images_dir, reports_dir=args.reports_dir, image=args.name,
                            base_url=args.base_url, model=args.model, api_key=args.api_key,
                            capabilities=None if args.name else "chat,completions,vision", runtime=args.runtime)
    options.check()
    variant = options.variant()
    spec = variant.load if variant else LoadSpec()
    recorder = RunRecorder(args.reports_dir, f"load-{options.label}")
    progress, close = _spinner_progress(recorder.dir / "build.log")
    try:
        with launch(options, recorder, progress) as endpoint:
            close()
            config = load_cli.config_from(args, endpoint.base_url, endpoint.model, spec, options.label)
            report = run_load(endpoint, config, recorder.dir, slo=spec.slo, console=console,
                              metadata={"image": recorder.run.image.model_dump() if recorder.run.image else None})
    finally:
        close()
        recorder.finish()
    load_cli.print_summary(report)
    return EXIT_CODES[report.verdict]  # precedence and codes: harness.report.verdict


def _cmd_plan(args: argparse.Namespace) -> int:
    from harness.image.plan import print_plan

    print_plan(load_variant(args.images_dir, args.name))
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from harness.image.compose_env import write_for

    for key, value in write_for(load_variant(args.images_dir, args.name), args.output).items():
        print(f"{key}={value}")
    console.print(f"wrote {args.output}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import cli as compare_cli

    return compare_cli.run(args, args.reports_dir)


def _cmd_gate(args: argparse.Namespace) -> int:
    from harness.compare import gate

    return gate.run(args, args.images_dir, args.reports_dir, console)


def _cmd_nightly(args: argparse.Namespace) -> int:
    from harness.compare import nightly

    return nightly.run(args, args.images_dir, args.reports_dir, console)


def _cmd_reap(args: argparse.Namespace) -> int:
    removed = reap(connect(), everything=args.all)
    for line in removed:
        print(f"removed {line}")
    console.print(f"removed {len(removed)} leftover(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vllm-harness", description="Build, boot and test vLLM Docker images.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    target_options.add(p.add_argument, "images-dir", "reports-dir")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the variants and their capabilities").set_defaults(func=_cmd_list)
    build = sub.add_parser("build", help="build a variant's image (skipped when its content is unchanged)")
    build.add_argument("name")
    build.add_argument("--rebuild", action="store_true", help="build even if an image of this content exists")
    build.set_defaults(func=_cmd_build)
    up = sub.add_parser("up", help="build and boot a variant, print its URL, serve until Ctrl-C")
    up.add_argument("name")
    target_options.add(up.add_argument, "runtime", "rebuild")
    up.add_argument("--host-ip", default="127.0.0.1", help="address the port is published on (127.0.0.1)")
    up.add_argument("--port", type=int, default=None, help="host port to publish on (default: a free one)")
    up.set_defaults(func=_cmd_up)
    plan = sub.add_parser("plan", help="print what a run would build and start (docker commands; no engine needed)")
    plan.add_argument("name")
    plan.set_defaults(func=_cmd_plan)
    env = sub.add_parser("env", help="write VLLM_IMAGE/VLLM_DOCKERFILE/VLLM_PYTHONPATH to a docker-compose .env")
    env.add_argument("name")
    env.add_argument("--output", type=Path, default=Path(".env"), help="the .env to update (./.env)")
    env.set_defaults(func=_cmd_env)
    reap_cmd = sub.add_parser("reap", help="remove containers/networks left by harness runs that are gone")
    reap_cmd.add_argument("--all", action="store_true", help="also those of runs still alive")
    reap_cmd.set_defaults(func=_cmd_reap)
    from harness.report.verdict import EXIT_HELP

    load = sub.add_parser("load", help="drive a variant (or --base-url) with locust; write a report (exit 4: "
                                       "requests failed, 3: the load generator was saturated, 1: SLO missed)",
                          description="Drive a variant (or --base-url) with locust and write a report. Any "
                                      "failed request fails the run unless [load.slo] max_error_rate allows it.",
                          epilog=EXIT_HELP)
    from harness.load.cli import add_arguments

    add_arguments(load)
    load.set_defaults(func=_cmd_load)
    compare = sub.add_parser("compare", help="compare two runs (or sets of runs): speed and behaviour; exit 1 on a "
                                             "significant regression")
    from harness.compare.cli import add_arguments as compare_arguments

    compare_arguments(compare)
    compare.set_defaults(func=_cmd_compare)
    gate = sub.add_parser("gate", help="the vLLM bump gate: build NAME at two vLLM versions, run suites + load "
                                       "interleaved (A B A B), compare; exit 1 on a regression")
    from harness.compare.gate import add_arguments as gate_arguments

    gate_arguments(gate)
    gate.set_defaults(func=_cmd_gate)
    nightly = sub.add_parser("nightly", help="run the suites on every variant (or --image ...), append to the "
                                             "history, render the trend page; exit 1 on a confirmed regression")
    from harness.compare.nightly import add_arguments as nightly_arguments

    nightly_arguments(nightly)
    nightly.set_defaults(func=_cmd_nightly)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.images_dir = args.images_dir or default_images_dir()
    try:
        with terminate_as_interrupt():
            return int(args.func(args))
    except HarnessError as exc:
        console.print(f"vllm-harness: error: {exc}", markup=False)
        tail = getattr(exc, "log_tail", "")
        if tail:
            console.print(f"--- last lines of the log ---\n{tail}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted; everything started was removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
