"""Raw per-request records: one CSV row per request, appended and flushed the moment it ends, so a
server that dies mid-run loses nothing already measured.

Times are `time.perf_counter()` seconds (one monotonic clock for the whole host) except `start_wall`
(`time.time()`, to line requests up with telemetry). `chunks` holds the arrival of every token chunk
(an SSE event whose `choices` is not empty, as `vllm bench serve` counts them), in milliseconds after
`start`, `;`-separated: enough to recompute TTFT, every ITL and E2EL exactly.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

COLUMNS = ("id", "worker", "level", "users", "rate", "phase", "kind", "scheduled", "start", "start_wall", "end",
           "queue_delay", "ttft", "e2el", "chunks", "prompt_tokens", "completion_tokens", "status",
           "error_type", "error", "stamps", "session", "turn")
FILE = "requests.csv"


@dataclass
class Record:
    id: str
    worker: int
    level: str  # e.g. "c=16" or "rate=4"
    users: int
    rate: float | None
    phase: str  # "warmup" | "measure"
    kind: str
    start: float  # perf_counter just before the request's first byte is written
    start_wall: float
    scheduled: float | None = None  # open loop: when the schedule wanted it sent (perf_counter)
    chunk_times: list[float] = field(default_factory=list)  # perf_counter of each token chunk
    end: float | None = None  # perf_counter when the stream (or the error) ended
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 0  # HTTP status; 0: no response
    error_type: str = ""
    error: str = ""
    # benchmarks only (timed_server): when the server received the request, then its send stamp per chunk
    stamps: list[float] = field(default_factory=list)
    session: str = ""  # conversation: the session's id, and this request's turn in it (0-based)
    turn: int | None = None
    answer: list[str] | None = None  # a list: the answer's text is collected (a conversation resends it)

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error_type and bool(self.chunk_times)

    def row(self) -> list[object]:
        ttft = self.chunk_times[0] - self.start if self.ok else None
        e2el = self.chunk_times[-1] - self.start if self.ok else None
        queue = None if self.scheduled is None else max(self.start - self.scheduled, 0.0)
        chunks = ";".join(f"{(t - self.start) * 1e3:.3f}" for t in self.chunk_times)
        stamps = ";".join(f"{(t - self.start) * 1e3:.3f}" for t in self.stamps)
        return [self.id, self.worker, self.level, self.users, _opt(self.rate), self.phase, self.kind,
                _opt(self.scheduled), f"{self.start:.6f}", f"{self.start_wall:.6f}", _opt(self.end), _opt(queue),
                _opt(ttft), _opt(e2el), chunks, _opt(self.prompt_tokens), _opt(self.completion_tokens), self.status,
                self.error_type, self.error[:300], stamps, self.session, _opt(self.turn)]


def _opt(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def csv_line(row: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue()


class RecordWriter:
    """Appends rows (already formatted lines) and flushes each one."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self._file: IO[str] = path.open("a", encoding="utf-8", newline="")
        if new:
            self._file.write(csv_line(list(COLUMNS)))
            self._file.flush()

    def write_line(self, line: str) -> None:
        self._file.write(line)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read(path: Path) -> pd.DataFrame:
    text = ("chunks", "stamps", "error", "error_type", "session")
    frame = pd.read_csv(path, dtype={"chunks": "string", "stamps": "string", "error": "string",
                                     "error_type": "string", "id": "string", "level": "string",
                                     "session": "string"},
                        keep_default_na=False, na_values={c: [""] for c in COLUMNS if c not in text})
    for column in ("session", "turn"):  # files written before conversations had no such columns
        if column not in frame:
            frame[column] = "" if column == "session" else np.nan
    return frame


def offsets(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """All `;`-joined millisecond offsets of a column, flat, and how many each row had."""
    texts = column.fillna("").astype(str).tolist()
    counts = np.fromiter((0 if not t else t.count(";") + 1 for t in texts), dtype=np.int64, count=len(texts))
    joined = ";".join(t for t in texts if t)
    # numpy's C text parser: ~10x faster than float() over a split list at millions of values
    flat = np.fromstring(joined, dtype=np.float64, sep=";") if joined else np.empty(0)
    return flat, counts


@dataclass(frozen=True)
class Chunks:
    """The `chunks` column of a frame, parsed once (parsing is most of a big report's cost): every
    request's chunk offsets in ms, flat, and how many each row has, row-aligned with the frame."""

    flat: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Chunks:
        return cls(*offsets(frame["chunks"]))

    def rows(self, mask: np.ndarray | pd.Series) -> Chunks:
        """The chunks of the rows a boolean mask (row-aligned) keeps."""
        keep = np.asarray(mask, dtype=bool)
        return Chunks(self.flat[np.repeat(keep, self.counts)], self.counts[keep])
