"""`vllm-harness nightly`: run the suites on every selected variant (all that Docker can build by
default), each run appending its line to reports/history.jsonl tagged `nightly`, then render the trend
page (reports/nightly/trend.html) from the history. Exit 1 when a metric of a latest night is a
regression (two consecutive violations) or a variant's suites failed; suspicious nights only warn.

    reports/nightly/<time>/junit-NAME.xml   one JUnit file per variant, for CI
    reports/nightly/trend.html              the trend page (rewritten each night; the history never is)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console

from harness.commands import run_session
from harness.compare import trend
from harness.compare.cli import thresholds_from
from harness.errors import UsageError
from harness.results import history
from harness.spec.variant import Variant, load_all, load_variant

TAG = "nightly"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", action="append", default=None, metavar="NAME",
                   help="a variant to run (repeatable; default: every variant Docker can build)")
    p.add_argument("--suites", action="append", default=None, metavar="PATH", help="suite paths (default: suites/)")
    p.add_argument("-m", dest="markexpr", default="load or not load",
                   help="pytest -m expression (default: every test, load included)")
    p.add_argument("--window", type=int, default=7, help="nights in the rolling-median baseline (default 7)")
    p.add_argument("--thresholds", type=Path, default=None, help="thresholds TOML (see `compare`)")
    p.add_argument("--report-only", action="store_true", help="only render the trend page from the history")


def selected(images_dir: Path, names: list[str] | None) -> tuple[list[Variant], list[str]]:
    """The variants to run, and why others were left out."""
    if names:
        return [load_variant(images_dir, name) for name in names], []
    chosen, skipped = [], []
    for variant in load_all(images_dir):
        if (variant.folder / variant.build.dockerfile).is_file() or variant.build.image:
            chosen.append(variant)
        else:
            skipped.append(f"{variant.name}: no Dockerfile or build.image (process-only); pass --image to run it")
    return chosen, skipped


def run(args: argparse.Namespace, images_dir: Path, reports_dir: Path, console: Console) -> int:
    if args.window < 1:
        raise UsageError(f"--window must be at least 1 night, got {args.window}")
    thresholds = thresholds_from(args.thresholds)
    failed_suites = []
    if not args.report_only:
        variants, skipped = selected(images_dir, args.image)
        for path in args.suites or ["suites"]:
            if not Path(path).exists():
                raise UsageError(f"--suites {path} does not exist")
        for line in skipped:
            console.print(f"nightly: skipped {line}")
        out = reports_dir / "nightly" / time.strftime("%Y%m%d-%H%M%S")
        out.mkdir(parents=True, exist_ok=True)
        for variant in variants:
            console.print(f"nightly: {variant.name}")
            command = [sys.executable, "-m", "pytest", *(args.suites or ["suites"]), "--image", variant.name,
                       "--images-dir", str(images_dir), "--reports-dir", str(reports_dir), "-m", args.markexpr,
                       "-q", "-p", "no:cacheprovider", f"--junitxml={out / f'junit-{variant.name}.xml'}"]
            code = run_session(command, env={**os.environ, history.TAG_ENV: TAG}, timeout=6 * 3600)
            if code != 0:
                failed_suites.append(f"{variant.name}: pytest exit {code}")
    records = [line for line in history.read(reports_dir) if line.tag == TAG]
    if not records:
        raise UsageError(f"no nightly runs in {reports_dir / history.FILE} yet; run `vllm-harness nightly` first")
    target = reports_dir / "nightly" / "trend.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(trend.page(records, thresholds, args.window), encoding="utf-8")
    judged = trend.judge(records, thresholds, args.window)
    flags = trend.latest_flags(judged)
    for line in [*failed_suites, *map(str, flags)]:
        console.print(f"nightly: {line}", markup=False)
    console.print(f"trend: {target}")
    regressed = any(f.point.status is trend.Status.REGRESSION for f in flags)
    return 1 if regressed or failed_suites else 0
