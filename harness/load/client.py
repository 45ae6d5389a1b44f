"""A streaming HTTP/1.1 client for the load generator: one keep-alive connection per simulated user.

Built on the standard library's `http.client`, which under locust's gevent patching becomes cooperative.
It reads with `read1`, so every network read is handed to the SSE decoder with the `perf_counter` taken
the moment it returned — the per-chunk time a person sees, not a batch of them (locust's FastHttpUser
hands SSE over in ~1 KB blocks, which doubles TTFT and collapses ITL).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlsplit

from harness.load.records import Record
from harness.sse import DONE, Decoder

NO_DONE_NOTE = "completed without 'data: [DONE]'"

RECEIVED_FIELD = "x_recv"  # benchmarks: when the timed server received the request (see timed_server.py)
IDLE_RECONNECT_S = 3.0  # servers close idle keep-alive connections (uvicorn: after 5 s); never race them


class StreamClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, stamp_field: str | None = None) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **headers}
        self.timeout = timeout
        self.stamp_field = stamp_field
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def _connection(self) -> http.client.HTTPConnection:
        """A connected connection, opened before the request's clock starts (a new TCP connection is the
        client's cost, not the server's latency)."""
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_RECONNECT_S:
            self.close()
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stream(self, path: str, body: bytes, record: Record) -> Record:
        """Send one streaming request and fill `record` with what happened (never raises for the server's
        faults: they become the record's error)."""
        try:
            conn = self._connection()
        except OSError as exc:
            record.start, record.start_wall = time.perf_counter(), time.time()
            return self._fail(record, "connect", exc)
        record.start_wall = time.time()
        record.start = time.perf_counter()
        try:
            conn.request("POST", self.prefix + path, body=body, headers=self.headers)
            response = conn.getresponse()
            record.status = response.status
            if response.status != 200:
                text = response.read().decode(errors="replace")
                record.end = time.perf_counter()
                record.error_type, record.error = f"http_{response.status}", text.strip()
                return record
            self._read_stream(response, record)
            if response.will_close:
                self.close()
        except TimeoutError as exc:
            return self._fail(record, "timeout", exc)
        except (OSError, http.client.HTTPException, UnicodeDecodeError) as exc:
            return self._fail(record, type(exc).__name__, exc)
        self._last_used = time.monotonic()
        return record

    def _read_stream(self, response: http.client.HTTPResponse, record: Record) -> None:
        decoder = Decoder()
        done = finished = False
        stamp = self.stamp_field
        while True:
            data = response.read1(65536)
            now = time.perf_counter()
            if not data:
                break
            for event in decoder.feed(data, now):
                if event.data == DONE:
                    done = True
                    continue
                try:
                    payload = json.loads(event.data)
                except ValueError:
                    record.error_type, record.error = "bad_event", event.data[:200]
                    continue
                if any(c.get("finish_reason") for c in payload.get("choices") or ()):
                    finished = True
                if payload.get("choices"):
                    record.chunk_times.append(event.at)
                    if stamp is not None and stamp in payload:
                        if not record.stamps and RECEIVED_FIELD in payload:
                            record.stamps.append(float(payload[RECEIVED_FIELD]))
                        record.stamps.append(float(payload[stamp]))
                usage = payload.get("usage")
                if usage:
                    record.prompt_tokens = usage.get("prompt_tokens")
                    record.completion_tokens = usage.get("completion_tokens")
                if "error" in payload and not payload.get("choices"):
                    record.error_type, record.error = "stream_error", json.dumps(payload["error"])[:300]
        record.end = time.perf_counter()
        if not done and not record.error_type:
            if finished:
                # every token arrived and the answer said it was finished: the request succeeded, and the
                # missing terminator is a protocol note (the conformance suite fails it), not a lost request
                record.error = NO_DONE_NOTE
            else:
                record.error_type, record.error = "truncated", "the stream ended without 'data: [DONE]'"
        elif not record.chunk_times and not record.error_type:
            record.error_type, record.error = "no_tokens", "the stream carried no token chunk"

    def _fail(self, record: Record, kind: str, exc: BaseException) -> Record:
        record.end = time.perf_counter()
        record.error_type, record.error = kind, str(exc) or type(exc).__name__
        self.close()
        return record
