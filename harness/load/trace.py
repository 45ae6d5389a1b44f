"""Trace replay: a JSONL file of requests with their arrival times, replayed open-loop.

One JSON object a line (Mooncake's trace format, of which only these keys are read):

    {"timestamp": 0, "input_length": 120, "output_length": 16, "hash_ids": [0, 1], "images": 0}

    timestamp      milliseconds since the trace's start (sorted or not; replayed in time order)
    input_length   prompt tokens
    output_length  tokens to generate (max_tokens, exact with ignore_eos)
    hash_ids       optional: the prompt's blocks of `block_tokens` tokens; the same id is the same tokens
                   in every request (Mooncake's shared-prefix blocks), the prompt cut to input_length
    images         optional: how many images the request carries (vision: a chat request)

`example(...)` writes the project's small example trace (`python -m harness.load.trace FILE`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import UsageError


@dataclass(frozen=True)
class TraceEntry:
    timestamp: float  # seconds from the trace's start (already scaled)
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()
    images: int = 0


def _entry(raw: object, where: str, scale: float) -> TraceEntry:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a JSON object with timestamp, input_length, output_length")
    try:
        entry = TraceEntry(timestamp=float(raw["timestamp"]) / 1e3 * scale, input_length=int(raw["input_length"]),
                           output_length=int(raw["output_length"]),
                           hash_ids=tuple(int(h) for h in raw.get("hash_ids") or ()),
                           images=int(raw.get("images") or 0))
    except KeyError as exc:
        raise UsageError(f"{where}: missing {exc.args[0]}; a line needs timestamp, input_length, output_length"
                         ) from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: a field is not a number ({exc})") from None
    if entry.timestamp < 0 or entry.input_length < 1 or entry.output_length < 1 or entry.images < 0:
        raise UsageError(f"{where}: timestamp and images must be >= 0, the lengths positive")
    return entry


def read_trace(path: Path, scale: float = 1.0) -> list[TraceEntry]:
    """The trace's entries in time order, times scaled and measured from the first arrival."""
    if not path.is_file():
        raise UsageError(f"trace file {path} does not exist; pass a JSONL trace (see harness/load/trace.py)")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from None
        entries.append(_entry(raw, f"{path}:{number}", scale))
    if not entries:
        raise UsageError(f"trace file {path} holds no request")
    entries.sort(key=lambda e: e.timestamp)
    first = entries[0].timestamp
    return [TraceEntry(e.timestamp - first, e.input_length, e.output_length, e.hash_ids, e.images) for e in entries]


def example(count: int = 40, rate: float = 2.0, block_tokens: int = 32, seed: int = 0) -> list[dict[str, object]]:
    """A small Mooncake-shaped trace: Poisson arrivals at `rate`/s, prompts of 2-6 blocks of which the
    first 1-3 are one of four shared prefixes (ids 0-11), the rest unique; short answers."""
    rng = np.random.default_rng(seed)
    t, lines, unique = 0.0, [], 1000
    for _ in range(count):
        t += float(rng.exponential(1.0 / rate))
        shared_group = int(rng.integers(0, 4))
        shared = list(range(shared_group * 3, shared_group * 3 + int(rng.integers(1, 4))))
        own = list(range(unique, unique + int(rng.integers(1, 4))))
        unique += len(own)
        blocks = shared + own
        length = (len(blocks) - 1) * block_tokens + int(rng.integers(1, block_tokens + 1))
        lines.append({"timestamp": round(t * 1e3, 1), "input_length": length,
                      "output_length": int(rng.integers(4, 17)), "hash_ids": blocks})
    return lines


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m harness.load.trace", description="write the example trace")
    p.add_argument("file", type=Path)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--rate", type=float, default=2.0, help="mean arrivals per second")
    p.add_argument("--block-tokens", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    lines = example(args.count, args.rate, args.block_tokens, args.seed)
    args.file.write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    main()
