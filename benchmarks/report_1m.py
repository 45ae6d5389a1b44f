"""How long does building a load report take for 1 million request records? Writes a synthetic
requests.csv (1,000,000 requests over 4 levels, 16 token chunks each, 1% errors; not timed), then times
`build_report` (read CSV, vLLM metrics per level, plots, HTML) and prints the seconds.

    .venv/bin/python benchmarks/report_1m.py [--requests 1000000] [--chunks 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.load.records import COLUMNS, csv_line
from harness.report.build import build_report


def synthesize(path: Path, requests: int, chunks: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    levels = (1, 4, 16, 64)
    ttft = rng.gamma(4, 0.02, requests)
    itl = rng.gamma(8, 0.0025, (requests, chunks - 1))
    times = np.concatenate([ttft[:, None], ttft[:, None] + np.cumsum(itl, axis=1)], axis=1) * 1e3
    start = np.cumsum(rng.exponential(0.002, requests)) + 1000.0
    failed = rng.random(requests) < 0.01
    with path.open("w") as out:
        out.write(csv_line(list(COLUMNS)))
        for i in range(requests):
            level = levels[i * len(levels) // requests]
            s = start[i]
            if failed[i]:
                out.write(f"0-{i},0,c={level},{level},,measure,chat,,{s:.6f},{s + 1.7e9:.6f},{s + 0.01:.6f},,,,,,,"
                          f"500,http_500,boom,\n")
                continue
            offsets = ";".join(f"{t:.3f}" for t in times[i])
            out.write(f"0-{i},0,c={level},{level},,measure,chat,,{s:.6f},{s + 1.7e9:.6f},"
                      f"{s + times[i, -1] / 1e3:.6f},,{ttft[i]:.6f},{times[i, -1] / 1e3:.6f},{offsets},128,{chunks},"
                      f"200,,,\n")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--chunks", type=int, default=16)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        t = time.perf_counter()
        synthesize(run_dir / "requests.csv", args.requests, args.chunks)
        size = (run_dir / "requests.csv").stat().st_size
        print(f"synthesized {args.requests:,} records ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        report = build_report(run_dir, {"model": "synthetic"})
        seconds = time.perf_counter() - t
        print(f"build_report: {seconds:.1f} s for {report.requests:,} records, {len(report.levels)} levels "
              f"({sum(lv['completed'] for lv in report.levels):,} ok); target < 30 s")


if __name__ == "__main__":
    main()
