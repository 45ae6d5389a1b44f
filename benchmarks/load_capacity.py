"""How much load can one load-generator process drive before it becomes the bottleneck? Against
harness.load.timed_server (first token after --ttft-ms, then one chunk every --itl-ms, each stamped with
its send time; `--server-processes N` serves from N processes on one port so the server is not the
limit), the number of streams rises level by level. For each client it prints the chunk and request rates
achieved and the share of the ideal rate kept up, the delivery lag (receive time minus the server's send
stamp), the TTFT and ITL errors (reported minus true), its CPU use (over the whole run, start-up included)
and its CPU per chunk while streaming (us/chunk: the harness's once-a-second samples, aiohttp's
process time around its requests) and, for the harness, its own self-check's verdict on the run (what
`vllm-harness load` would say). The clients:

  harness 1p       one locust process, chunk times from the kernel's receive timestamps (as shipped)
  harness 1p read  one process timing chunks when its reads return (`--no-kernel-timestamps`): its lag is
                   the client's own processing delay, the like-for-like comparison with aiohttp
  aiohttp 1p       the asyncio + aiohttp client `vllm bench serve` is built on, one process
  harness Nw       locust master + N worker processes (2, 4, ... up to the cores)

Then each client's capacity: the highest chunk rate with lag p99 <= --max-lag-ms, TTFT error median <=
--max-ttft-err-ms, ITL error p99 <= --max-itl-err-ms and >= --min-kept-up of the ideal rate, and its
ratio to aiohttp's.

    .venv/bin/python benchmarks/load_capacity.py [--streams 16,32,64,128,256] [--itl-ms 10]
        [--workers 2,4,8] [--server-processes 4]
    (needs the bench extra: pip install -e '.[bench]')

On a small host the timed server shares the cores with the clients: a client's "capacity" there is bounded
by the host (the load average is printed; compare clients within a run, on a quiet host).
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
from harness.report.build import CLIENT_FILE, client_check, read_optional
from harness.server.child_server import child_server


def harness_checked(url: str, streams: int, requests: int, output_len: int, folder: Path, workers: int,
                    kernel: bool = True) -> dict:
    """The harness's run plus its own self-check's verdict on it (client.csv), as `vllm-harness load` judges."""
    result = harness_run(url, streams, requests, output_len, folder, kernel=kernel, workers=workers)
    samples = read_optional(folder / CLIENT_FILE)
    valid, reasons, _ = client_check(samples, None)
    seconds = samples.groupby("worker") if samples is not None and not samples.empty else None
    # the busiest process's typical second (its median) and the worst second's event-loop lag p99
    busiest = float(seconds["cpu_pct"].median().max()) if seconds is not None else float("nan")
    loop = float(samples["lag_p99_ms"].max()) if seconds is not None else float("nan")
    # CPU seconds while streaming: the once-a-second samples of every process (start-up excluded)
    streaming = float(samples["cpu_pct"].sum()) / 100 if seconds is not None else float("nan")
    verdict = "valid" if valid else "INVALID: " + reasons[0].split(":")[0]
    verdict += f" (busiest process {busiest:.0f}% CPU, loop lag p99 {loop:.1f} ms)"
    return {**result, "streaming_cpu_s": streaming, "check": verdict}


def clients(workers: list[int]) -> dict[str, object]:
    found: dict[str, object] = {"harness 1p": partial(harness_checked, workers=0),
                                "harness 1p read": partial(harness_checked, workers=0, kernel=False),
                                "aiohttp 1p": aiohttp_run}
    found.update({f"harness {n}w": partial(harness_checked, workers=n) for n in workers})
    return found


def main() -> None:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser()
    p.add_argument("--streams", default="16,32,64,128,256")
    p.add_argument("--ttft-ms", type=float, default=5.0)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--output-len", type=int, default=64)
    p.add_argument("--rounds", type=int, default=8, help="requests per stream per level (>= 5 s a level, so "
                                                          "the once-a-second self-check has samples)")
    p.add_argument("--max-lag-ms", type=float, default=2.0)
    p.add_argument("--max-itl-err-ms", type=float, default=1.0)
    # the median: a level starts with every stream connecting at once, and the server's accept queue in that
    # burst lands in the first requests' TTFT error (the p99 is printed too)
    p.add_argument("--max-ttft-err-ms", type=float, default=1.0, help="bound on the TTFT error's median")
    p.add_argument("--min-kept-up", type=float, default=0.9, help="share of the ideal chunk rate achieved")
    p.add_argument("--workers", default=",".join(str(2**k) for k in range(1, 8) if 2**k <= cores),
                   help="worker counts for the harness's distributed mode (default: 2, 4, ... up to the cores)")
    p.add_argument("--server-processes", type=int, default=1, help="timed server processes (one port)")
    p.add_argument("--clients", default=None, help="names among the defaults, comma-separated")
    args = p.parse_args()
    chosen = clients([int(n) for n in args.workers.split(",") if n])
    if args.clients:
        chosen = {name: chosen[name] for name in args.clients.split(",")}
    best: dict[str, tuple[float, float]] = dict.fromkeys(chosen, (0.0, 0.0))
    with child_server("harness.load.timed_server", "--port", "0", "--ttft-ms", str(args.ttft_ms), "--itl-ms",
                      str(args.itl_ms), "--processes", str(args.server_processes), cwd=REPO) as url:
        print(f"timed server ({args.server_processes} processes): TTFT {args.ttft_ms} ms, ITL {args.itl_ms} ms, "
              f"{args.output_len} tokens; load average {os.getloadavg()[0]:.2f} on {cores} cores")
        print(f"{'streams':>7} {'ideal/s':>8} {'client':>15} {'ok':>5} {'chunks/s':>9} {'kept':>5} {'req/s':>7} "
              f"{'lag med':>8} {'lag p99':>8} {'TTFT err med':>12} {'p99':>7} {'ITL err p99':>11} {'CPU %':>6} "
              f"{'us/chunk':>8}"
              "  self-check")
        for streams in (int(x) for x in args.streams.split(",")):
            # each stream sends its requests back to back: output_len chunks per TTFT + (output_len - 1) ITLs
            ideal = streams * args.output_len / ((args.ttft_ms + (args.output_len - 1) * args.itl_ms) / 1e3)
            for name, run in chosen.items():
                with tempfile.TemporaryDirectory() as tmp:
                    r = run(url, streams, streams * args.rounds, args.output_len, Path(tmp))  # type: ignore[operator]
                rate, kept = r["chunks"] / r["span"], r["chunks"] / r["span"] / ideal
                accurate = (r["lag_p99"] <= args.max_lag_ms and r["itl_p99"] <= args.max_itl_err_ms
                            and r["ttft_med"] <= args.max_ttft_err_ms and kept >= args.min_kept_up)
                if accurate and rate > best[name][0]:
                    best[name] = (rate, r["ok"] / r["span"])
                print(f"{streams:>7} {ideal:>8.0f} {name:>15} {r['ok']:>5} {rate:>9.0f} {kept:>5.0%} "
                      f"{r['ok'] / r['span']:>7.1f} {r['lag_med']:>8.3f} {r['lag_p99']:>8.3f} "
                      f"{r['ttft_med']:>12.3f} {r['ttft_p99']:>7.3f} "
                      f"{r['itl_p99']:>11.3f} {r['cpu_pct']:>6.1f} {1e6 * r['streaming_cpu_s'] / r['chunks']:>8.1f}"
                      f"  {r.get('check', '-')}"
                      f"{'' if accurate else '  (over a limit)'}", flush=True)
    print(f"\ncapacity: highest chunks/s with lag p99 <= {args.max_lag_ms} ms, TTFT error median <= "
          f"{args.max_ttft_err_ms} ms, ITL error p99 <= {args.max_itl_err_ms} ms and >= {args.min_kept_up:.0%} of "
          f"the ideal rate kept up:")
    base = best.get("aiohttp 1p", (0.0, 0.0))[0]
    for name, (rate, requests) in best.items():
        ratio = f" ({rate / base:.2f}x aiohttp)" if base else ""
        print(f"  {name:>15}: {rate:,.0f} chunks/s, {requests:,.1f} req/s{ratio}")


if __name__ == "__main__":
    main()
