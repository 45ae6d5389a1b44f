"""The real bump gate, timed: `vllm-harness gate cpu-tiny --from A --to B` from a clean checkout.

    python benchmarks/gate_cpu_tiny.py --from 0.31.0 --to 0.32.0 [--rounds 2] [--keep DIR]

Clones this repository's HEAD into a temporary folder (a clean checkout: nothing untracked, no reports),
runs the gate there with this interpreter, and prints its exit code, its wall time and what gate.json
says each build and round cost, then where gate.md is. Too slow for CI (two ~3-4 min cold builds, then
~6 min per round on 2 cores); CI proves the gate's logic on tests/fixtures/gate-variant instead."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="ref_from", default="0.31.0")
    parser.add_argument("--to", dest="ref_to", default="0.32.0")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="copy the gate folder here afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-checkout-") as scratch:
        checkout = Path(scratch) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(checkout)], check=True, timeout=120)
        started = time.monotonic()
        # -m harness from the checkout: its own harness and suites, not this one's
        done = subprocess.run([sys.executable, "-m", "harness", "gate", "cpu-tiny", "--from", args.ref_from,
                               "--to", args.ref_to, "--rounds", str(args.rounds)], cwd=checkout, timeout=4 * 3600)
        wall = time.monotonic() - started
        found = sorted((checkout / "reports" / "gate").glob("*/gate.json"))
        print(f"\ngate cpu-tiny {args.ref_from} -> {args.ref_to}: exit {done.returncode}, {wall / 60:.1f} min wall")
        if not found:
            print("no gate.json: the gate stopped before its first round ended")
            return
        record = json.loads(found[-1].read_text())
        for r in record["rounds"]:
            print(f"  round {r['round']} {r['side']}: {r['seconds']:.0f} s (build {r['build_seconds']:.0f} s)")
        if args.keep:
            shutil.copytree(found[-1].parent, args.keep / found[-1].parent.name)
            print(f"kept: {args.keep / found[-1].parent.name}/gate.md")


if __name__ == "__main__":
    main()
