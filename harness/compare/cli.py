"""`vllm-harness compare BASELINE CANDIDATE`: options, outputs (compare.md, compare.html), exit code
(0: no regression, 1: regression, 2: usage error)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from harness.compare.decide import CompareVerdict, Comparison, compare
from harness.compare.render import markdown, page
from harness.compare.runs import load_side
from harness.compare.thresholds import Thresholds

DEFAULT_THRESHOLDS = Path("compare.toml")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("baseline", help="a run folder, a folder of runs, or a quoted glob ('reports/runs/*-A-*')")
    p.add_argument("candidate", help="the same for the candidate")
    p.add_argument("--baseline", dest="more_baseline", action="append", default=[], metavar="PATH",
                   help="more baseline runs (repeatable)")
    p.add_argument("--candidate", dest="more_candidate", action="append", default=[], metavar="PATH",
                   help="more candidate runs (repeatable)")
    p.add_argument("--thresholds", type=Path, default=None,
                   help=f"per-metric thresholds, TOML (default: ./{DEFAULT_THRESHOLDS} if present, else built-in)")
    p.add_argument("--out", type=Path, default=None, help="folder for compare.md and compare.html "
                                                          "(default: REPORTS/compare/<time>)")


def thresholds_from(path: Path | None) -> Thresholds:
    if path is None and DEFAULT_THRESHOLDS.exists():
        path = DEFAULT_THRESHOLDS
    return Thresholds.read(path)


def write(result: Comparison, out: Path, title: str = "vllm-harness compare", *, name: str = "compare",
          appendix: str = "") -> str:
    """NAME.md and NAME.html in `out` (the markdown, then `appendix`, also heads the page); returns the
    markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(result, title) + appendix
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    (out / f"{name}.html").write_text(page(result, text), encoding="utf-8")
    return text


def run(args: argparse.Namespace, reports_dir: Path) -> int:
    thresholds = thresholds_from(args.thresholds)
    baseline = load_side("baseline", [args.baseline, *args.more_baseline])
    candidate = load_side("candidate", [args.candidate, *args.more_candidate])
    result = compare(baseline, candidate, thresholds)
    out = args.out or reports_dir / "compare" / time.strftime("%Y%m%d-%H%M%S")
    print(write(result, out), end="")
    Console(stderr=True).print(f"compare: {out / 'compare.html'}")
    return 1 if result.verdict is CompareVerdict.REGRESSION else 0
