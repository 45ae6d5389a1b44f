"""How accurate are the load generator's timings? Measured against harness.load.timed_server, which
sends its first token T ms after the request arrived and one every I ms, and stamps every chunk with
its send time (same host, same monotonic clock).

For the harness as shipped (locust agent, gevent + httptools; chunk times from the kernel's receive timestamps;
a second worker process above 128 streams on a 2-core machine), the same in one process whatever the
concurrency (`harness-1p`), one process timing chunks when its reads return (`harness-read`,
`--no-kernel-timestamps`), and a plain
aiohttp asyncio client written the way `vllm bench serve` reads streams, at 1, 16, 64 and 256 concurrent
streams, it prints:
reported-minus-true TTFT and ITL (median, p99), the per-chunk delivery lag (receive time minus the send
stamp: the client's own share of the error) and the client's CPU use (% of one core).

    .venv/bin/python benchmarks/load_accuracy.py [--levels 1,16,64,256] [--ttft-ms 50 --itl-ms 25]
    (needs the bench extra: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.load.config import LoadConfig  # noqa: E402
from harness.load.records import offsets, read  # noqa: E402
from harness.load.runner import run_agent  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the aiohttp baseline (runs in its own process: `--aiohttp-client`) -----------------------------


async def _aiohttp_run(url: str, streams: int, requests: int, output_len: int, out: Path) -> None:
    import aiohttp

    results: list[dict[str, object]] = []
    semaphore = asyncio.Semaphore(streams)
    connector = aiohttp.TCPConnector(limit=streams, limit_per_host=streams, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one(i: int) -> None:
            payload = {"model": "timed", "messages": [{"role": "user", "content": f"hello {i}"}],
                       "max_tokens": output_len, "stream": True, "stream_options": {"include_usage": True}}
            async with semaphore:
                times: list[float] = []
                sent: list[float] = []
                received = None
                buffer = ""
                start = time.perf_counter()
                async with session.post(url + "/v1/chat/completions", json=payload) as response:
                    async for chunk in response.content.iter_any():
                        buffer += chunk.decode()
                        while "\n\n" in buffer:
                            message, buffer = buffer.split("\n\n", 1)
                            data = message.strip().removeprefix("data: ")
                            if not data or data == "[DONE]":
                                continue
                            now = time.perf_counter()
                            parsed = json.loads(data)
                            if parsed.get("choices"):
                                times.append(now)
                                sent.append(parsed["x_sent"])
                                received = parsed["x_recv"]
                results.append({"start": start, "times": times, "sent": sent, "received": received})

        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in range(requests)))
        cpu = time.process_time() - cpu
    out.write_text(json.dumps({"results": results, "cpu_s": cpu}))


# --- measurement --------------------------------------------------------------------------------------


def errors(start: np.ndarray, received: np.ndarray, recv: list[np.ndarray], sent: list[np.ndarray]) -> dict:
    ttft_err = np.array([(r[0] - s0) - (x[0] - rc) for r, x, s0, rc in zip(recv, sent, start, received,
                                                                          strict=True)]) * 1e3
    itl_err = np.concatenate([np.diff(r) - np.diff(x) for r, x in zip(recv, sent, strict=True)]) * 1e3
    lag = np.concatenate([r - x for r, x in zip(recv, sent, strict=True)]) * 1e3
    return {"ttft_med": np.median(ttft_err), "ttft_p99": np.percentile(ttft_err, 99),
            "itl_med": np.median(itl_err), "itl_p99": np.percentile(itl_err, 99),
            "lag_med": np.median(lag), "lag_p99": np.percentile(lag, 99), "chunks": len(lag),
            # first request sent to last chunk received: the chunk and request rates are over this span
            "span": max(r[-1] for r in recv if len(r)) - float(np.min(start))}


def harness_run(url: str, streams: int, requests: int, output_len: int, folder: Path, kernel: bool = True,
                workers: int | None = None) -> dict:
    config = LoadConfig(base_url=url, model="timed", concurrency=(streams,), requests=requests, input_len=4,
                        output_len=output_len, warmup=0, stamp_field="x_sent", kernel_timestamps=kernel,
                        workers=workers).check()
    cpu, wall = _children_cpu(), time.perf_counter()
    run_agent(config, folder)
    cpu, wall = _children_cpu() - cpu, time.perf_counter() - wall
    frame = read(folder / "requests.csv")
    frame = frame[frame["status"] == 200]
    chunk_flat, counts = offsets(frame["chunks"])
    stamp_flat, stamp_counts = offsets(frame["stamps"])
    assert (stamp_counts == counts + 1).all(), "every chunk should carry its stamp"
    start = frame["start"].to_numpy(dtype=float)
    recv = np.split(chunk_flat / 1e3, np.cumsum(counts)[:-1])
    stamps = np.split(stamp_flat / 1e3, np.cumsum(stamp_counts)[:-1])
    # offsets are relative to each request's start: add it back
    recv = [r + s for r, s in zip(recv, start, strict=True)]
    received = np.array([st[0] + s for st, s in zip(stamps, start, strict=True)])
    sent = [st[1:] + s for st, s in zip(stamps, start, strict=True)]
    return {**errors(start, received, recv, sent), "cpu_pct": 100 * cpu / wall, "ok": len(frame)}


def aiohttp_run(url: str, streams: int, requests: int, output_len: int, folder: Path) -> dict:
    out = folder / "aiohttp.json"
    cpu, wall = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, __file__, "--aiohttp-client", url, str(streams), str(requests), str(output_len),
                    str(out)], check=True)
    cpu, wall = _children_cpu() - cpu, time.perf_counter() - wall
    written = json.loads(out.read_text())
    rows = [r for r in written["results"] if r["times"]]
    start = np.array([r["start"] for r in rows])
    received = np.array([r["received"] for r in rows])
    return {**errors(start, received, [np.array(r["times"]) for r in rows], [np.array(r["sent"]) for r in rows]),
            "cpu_pct": 100 * cpu / wall, "ok": len(rows), "streaming_cpu_s": written["cpu_s"]}


# harness: as shipped (kernel timestamps, worker processes chosen by concurrency); harness-1p: one process
# whatever the concurrency; harness-read: one process timing reads as they return
CLIENTS = {"harness": harness_run, "harness-1p": partial(harness_run, workers=0),
           "harness-read": partial(harness_run, kernel=False, workers=0), "aiohttp": aiohttp_run}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--aiohttp-client":
        url, streams, requests, output_len, out = sys.argv[2:7]
        asyncio.run(_aiohttp_run(url, int(streams), int(requests), int(output_len), Path(out)))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--levels", default="1,16,64,256")
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=25.0)
    p.add_argument("--output-len", type=int, default=24)
    p.add_argument("--rounds", type=int, default=2, help="requests per stream per level")
    p.add_argument("--clients", default="harness,harness-1p,harness-read,aiohttp", help=f"among {', '.join(CLIENTS)}")
    args = p.parse_args()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness.load.timed_server", "--port", str(port), "--ttft-ms",
                               str(args.ttft_ms), "--itl-ms", str(args.itl_ms)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "timed server on ..." once it listens
        url = f"http://127.0.0.1:{port}"
        print(f"timed server: TTFT {args.ttft_ms} ms, ITL {args.itl_ms} ms, {args.output_len} tokens; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        clients = [(name, CLIENTS[name]) for name in args.clients.split(",")]
        header = (f"{'streams':>7} {'client':>12} {'ok':>5} {'TTFT err med':>12} {'p99':>7} {'ITL err med':>11} "
                  f"{'p99':>7} {'lag med':>8} {'p99':>7} {'CPU %':>6}")
        print(header)
        for streams in (int(x) for x in args.levels.split(",")):
            requests = max(streams * args.rounds, 20)
            for name, run in clients:
                with tempfile.TemporaryDirectory() as tmp:
                    r = run(url, streams, requests, args.output_len, Path(tmp))
                print(f"{streams:>7} {name:>12} {r['ok']:>5} {r['ttft_med']:>12.3f} {r['ttft_p99']:>7.3f} "
                      f"{r['itl_med']:>11.3f} {r['itl_p99']:>7.3f} {r['lag_med']:>8.3f} {r['lag_p99']:>7.3f} "
                      f"{r['cpu_pct']:>6.1f}", flush=True)
        print("errors and lags in ms; CPU: the client process's user+system time over its wall time")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
