"""Why a stream from a CPU server on a small host can arrive in one burst, and what the streaming check's
PathWatch sees then. Against a running cpu-tiny (`vllm-harness up cpu-tiny`, its container id given):

  1. a client inside the container (no Docker port proxy, no host scheduling): the largest gap between
     content events of each answer;
  2. a client on this host through the published port: each answer's spread (first piece to last, as a share
     of the request's time) and how many `GET /v1/models` probes the path answered before its first piece;
  3. the same through a proxy that holds every stream until it is complete (tests/defects/proxy.py, the
     streaming proof's Buffered defect): held streams while the path answers probes.

    python benchmarks/stream_path_starvation.py BASE_URL CONTAINER_ID [--tokens 256] [--answers 12]

Prints one line per answer; nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.checks.path_watch import PathWatch  # noqa: E402
from tests.defects.proxy import Defect, DefectProxy, Exchange  # noqa: E402

INSIDE = """
import json, sys, time, urllib.request
n, answers = int(sys.argv[1]), int(sys.argv[2])
for _ in range(answers):
    body = json.dumps({"model": "cpu-tiny", "prompt": "Write a long story about a lighthouse keeper.",
                       "max_tokens": n, "temperature": 0, "ignore_eos": True, "stream": True}).encode()
    request = urllib.request.Request("http://127.0.0.1:8000/v1/completions", body, {"Content-Type": "application/json"})
    t0, times = time.perf_counter(), []
    with urllib.request.urlopen(request) as response:
        for line in response:
            if line.startswith(b"data: {"):
                times.append(time.perf_counter())
    gap = max(b - a for a, b in zip(times, times[1:]))
    print(f"inside the container: {len(times)} events, first {1e3 * (times[0] - t0):.0f} ms, "
          f"last {1e3 * (times[-1] - t0):.0f} ms, largest gap {1e3 * gap:.0f} ms", flush=True)
"""


class Buffered(Defect):
    """Holds each stream until it is complete, then sends it at once."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield b"".join(chunks)


def host_answers(base_url: str, label: str, tokens: int, answers: int) -> None:
    with httpx.Client(base_url=base_url, timeout=120) as api:
        for _ in range(answers):
            body = {"model": "cpu-tiny", "prompt": "Write a long story about a lighthouse keeper.",
                    "max_tokens": tokens, "temperature": 0, "ignore_eos": True, "stream": True}
            with PathWatch(api) as watch:
                started, times = time.perf_counter(), []
                with api.stream("POST", "/v1/completions", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: {"):
                            times.append(time.perf_counter())
            spread = (times[-1] - times[0]) / (times[-1] - started)
            print(f"{label}: {len(times)} events, first {1e3 * (times[0] - started):.0f} ms, last "
                  f"{1e3 * (times[-1] - started):.0f} ms, spread {spread:.2f}, probes answered before the first "
                  f"piece {watch.answered_within(started, times[0])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url")
    parser.add_argument("container")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--answers", type=int, default=12)
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {args.tokens} tokens per answer", flush=True)
    subprocess.run(["docker", "exec", args.container, "python3", "-c", INSIDE, str(args.tokens), str(args.answers)],
                   check=True, timeout=600)
    host_answers(args.base_url, "host, published port", args.tokens, args.answers)
    with DefectProxy(args.base_url, Buffered()) as url:
        host_answers(url, "host, through a buffering proxy", args.tokens, args.answers // 2)


if __name__ == "__main__":
    main()
