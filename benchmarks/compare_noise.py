"""How often does `compare` cry wolf, and does it catch +30% TTFT? Real load runs (the real CLI) against
harness.load.timed_server: K runs of one unchanged server compared pairwise (every flag is a false
alarm), and each of them against a run of the same server 30% slower on TTFT (every miss counts). Also
the seconds one comparison takes (read + test + markdown + HTML with plots).

    python benchmarks/compare_noise.py [K] [REQUESTS]
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.compare.cli import write
from harness.compare.decide import compare
from harness.compare.runs import load_side
from harness.load.timed_server import running

TTFT_MS, ITL_MS = 40.0, 10.0


def load_run(reports: Path, url: str, requests: int) -> Path:
    before = set((reports / "runs").glob("*")) if (reports / "runs").exists() else set()
    subprocess.run([sys.executable, "-m", "harness", "--reports-dir", str(reports), "load", "--base-url", url,
                    "--model", "timed", "--requests", str(requests), "--concurrency", "4", "--output-len", "8",
                    "--input-len", "16", "--warmup", "2"], capture_output=True)  # exit 3: client delayed, kept
    (new,) = set((reports / "runs").glob("*")) - before
    return new


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp)
        with running(TTFT_MS, ITL_MS) as url:
            same = [load_run(reports, url, requests) for _ in range(k)]
        with running(TTFT_MS * 1.3, ITL_MS) as url:
            slow = load_run(reports, url, requests)
        false_alarms, pairs, seconds = [], 0, []
        for a, b in itertools.combinations(same, 2):
            started = time.perf_counter()
            result = compare(load_side("a", [str(a)]), load_side("b", [str(b)]))
            write(result, reports / "cmp" / f"{a.name}-{b.name}")
            seconds.append(time.perf_counter() - started)
            pairs += 1
            if result.regressed:
                false_alarms.append(result.regressions)
        caught = 0
        for a in same:
            result = compare(load_side("a", [str(a)]), load_side("b", [str(slow)]))
            caught += any("TTFT" in r for r in result.regressions)
    print(f"runs: {k} of the same server + 1 with TTFT +30%, {requests} requests each at concurrency 4")
    print(f"false alarms: {len(false_alarms)} of {pairs} same-server comparisons {false_alarms or ''}")
    print(f"TTFT +30% caught: {caught} of {k}")
    print(f"one comparison (read, test, markdown, HTML + plots): median {sorted(seconds)[len(seconds) // 2]:.2f} s, "
          f"max {max(seconds):.2f} s")


if __name__ == "__main__":
    main()
