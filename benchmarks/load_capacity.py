"""How much load can one load-generator process drive before it becomes the bottleneck? Against
harness.load.timed_server (first token after --ttft-ms, then one chunk every --itl-ms, each stamped with
its send time), the number of streams rises level by level, so the offered chunk rate is
streams / ITL. For each client (the harness in one process, the aiohttp client `vllm bench serve`
uses, the harness with 2, 4, ... worker processes up to the cores), it prints the chunk and request
rates achieved, the client's own delivery lag (receive time minus the server's send stamp), its ITL
error and its CPU use, then each client's capacity: the highest chunk rate it sustained with lag p99
within --max-lag-ms and the ITL error p99 within --max-itl-err-ms.

    .venv/bin/python benchmarks/load_capacity.py [--streams 16,32,64,128,256] [--itl-ms 10]
    (needs the bench extra: pip install -e '.[bench]')

On a small host the timed server shares the cores with the client: a client's "capacity" there is
bounded by the host, and the table says so (the load average is printed; compare clients within a run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_accuracy import REPO, aiohttp_run, harness_run

sys.path.insert(0, str(REPO))
from harness.child_server import child_server


def clients(cores: int) -> dict[str, object]:
    found: dict[str, object] = {"harness 1p": partial(harness_run, workers=0), "aiohttp 1p": aiohttp_run}
    workers = 2
    while workers <= cores:
        found[f"harness {workers}w"] = partial(harness_run, workers=workers)
        workers *= 2
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--streams", default="16,32,64,128,256")
    p.add_argument("--ttft-ms", type=float, default=5.0)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--output-len", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="requests per stream per level")
    p.add_argument("--max-lag-ms", type=float, default=2.0)
    p.add_argument("--max-itl-err-ms", type=float, default=1.0)
    p.add_argument("--clients", default=None, help="names among the defaults, comma-separated")
    args = p.parse_args()
    chosen = clients(os.cpu_count() or 1)
    if args.clients:
        chosen = {name: chosen[name] for name in args.clients.split(",")}
    best: dict[str, float] = dict.fromkeys(chosen, 0.0)
    with child_server("harness.load.timed_server", "--port", "0", "--ttft-ms", str(args.ttft_ms), "--itl-ms",
                      str(args.itl_ms), cwd=REPO) as url:
        print(f"timed server: TTFT {args.ttft_ms} ms, ITL {args.itl_ms} ms, {args.output_len} tokens; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"{'streams':>7} {'offered/s':>9} {'client':>11} {'ok':>5} {'chunks/s':>9} {'req/s':>7} "
              f"{'lag med':>8} {'lag p99':>8} {'ITL err p99':>11} {'CPU %':>6}")
        for streams in (int(x) for x in args.streams.split(",")):
            offered = streams * 1e3 / args.itl_ms
            for name, run in chosen.items():
                with tempfile.TemporaryDirectory() as tmp:
                    r = run(url, streams, streams * args.rounds, args.output_len, Path(tmp))  # type: ignore[operator]
                rate = r["chunks"] / r["span"]
                if r["lag_p99"] <= args.max_lag_ms and r["itl_p99"] <= args.max_itl_err_ms:
                    best[name] = max(best[name], rate)
                print(f"{streams:>7} {offered:>9.0f} {name:>11} {r['ok']:>5} {rate:>9.0f} {r['ok'] / r['span']:>7.1f} "
                      f"{r['lag_med']:>8.3f} {r['lag_p99']:>8.3f} {r['itl_p99']:>11.3f} {r['cpu_pct']:>6.1f}",
                      flush=True)
    print(f"\ncapacity (highest chunks/s with lag p99 <= {args.max_lag_ms} ms and ITL error p99 <= "
          f"{args.max_itl_err_ms} ms):")
    base = best.get("aiohttp 1p") or 0.0
    for name, rate in best.items():
        ratio = f" ({rate / base:.2f}x aiohttp)" if base else ""
        print(f"  {name:>11}: {rate:,.0f} chunks/s{ratio}")


if __name__ == "__main__":
    main()
