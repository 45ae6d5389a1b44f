"""What a failed request was, decided once: the client records a raw `error_type` per request
(`http_500`, `truncated`, `ConnectionResetError`, `timeout`, ...); this module turns it into one error kind a
reader understands and says whether the failure could be the load generator's own doing.

Only a timeout can be the client's artefact: a saturated client (an invalid run) may read so late that its
own "no data for N s" timer fires. Everything else is the server's answer, whatever the client's timing: an
HTTP error status, a stream that broke or carried an error, a connection the server dropped or refused. The
load report's verdict, the CLI's exit code and the pytest load test all count failures by these kinds.
"""

from __future__ import annotations

import pandas as pd

# raw error types the client records when the server's side of the connection went away
DROPPED = frozenset({"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError"})
STREAM = {"truncated": "stream broken", "stream_error": "error event in stream", "bad_event": "malformed stream",
          "no_tokens": "no tokens in stream"}
TIMEOUT = "timeout"
MAY_BE_CLIENT = frozenset({TIMEOUT})  # kinds a saturated client could cause: not judged in an invalid run


def kind_of(error_type: str, error: str = "") -> str:
    """The kind of one failed request (e.g. "http 500", "stream broken", "connection dropped", "timeout"),
    from what the client recorded."""
    if error_type.startswith("http_"):
        return f"http {error_type[5:]}"
    if error_type in STREAM:
        return STREAM[error_type]
    if error_type in DROPPED:
        return "connection dropped"
    if error_type in (TIMEOUT, "TimeoutError") or (error_type == "connect" and "timed out" in error):
        return TIMEOUT
    if error_type == "connect":
        return "connection failed"  # refused, unreachable, ...: the server was not there to answer
    return error_type or "unknown"  # an unforeseen transport error: counted, never excused


def may_be_client(kind: str) -> bool:
    return kind in MAY_BE_CLIENT


def kinds(failed: pd.DataFrame) -> list[str]:
    """Each failed row's kind (row-aligned)."""
    types = failed["error_type"].fillna("").astype(str)
    errors = failed["error"].fillna("").astype(str)
    return [kind_of(t, e) for t, e in zip(types, errors, strict=True)]


def by_kind(failed: pd.DataFrame) -> tuple[dict[str, int], dict[str, str]]:
    """Failed requests counted by kind (most first), and each kind's first error message (by start time)."""
    if failed.empty:
        return {}, {}
    ordered = failed.sort_values("start")
    names = kinds(ordered)
    counts = {str(k): int(v) for k, v in pd.Series(names, dtype=object).value_counts().items()}
    first: dict[str, str] = {}
    for name, row_type, message in zip(names, ordered["error_type"].fillna(""), ordered["error"].fillna(""),
                                       strict=True):
        first.setdefault(name, (str(message) or str(row_type))[:200])
    return counts, first
