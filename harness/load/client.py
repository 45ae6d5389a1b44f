"""A streaming HTTP/1.1 client for the load generator: one keep-alive connection per simulated user.

HTTP framing is parsed by httptools (llhttp, Node's C parser: the profile of a busy load process was
~40% h11's pure-Python framing); the socket is the standard library's, which under locust's gevent
patching is cooperative. What makes the numbers right is *when* a read is said to have arrived:

- plain http on Linux: the kernel's receive timestamp of the last packet a read returned
  (`SO_TIMESTAMPNS`), converted to the `perf_counter` clock. A load generator that is briefly
  descheduled (hundreds of streams on a few cores, a busy CI host) still reports when the token reached
  this machine, not when it got round to reading it;
- otherwise (https, other systems, `kernel_timestamps=False`): `perf_counter` the moment the read returned.

Every read is handed to the SSE decoder at once with its time: per-chunk times, not batches of them
(locust's FastHttpUser hands SSE over in ~1 KB blocks, which doubles TTFT and collapses ITL).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import time
from urllib.parse import urlsplit

import httptools
import orjson

from harness.checks.sse import DONE, Decoder
from harness.load.records import Record

NO_DONE_NOTE = "completed without 'data: [DONE]'"

RECEIVED_FIELD = "x_recv"  # benchmarks: when the timed server received the request (see timed_server.py)
IDLE_RECONNECT_S = 3.0  # servers close idle keep-alive connections (uvicorn: after 5 s); never race them
READ_SIZE = 65536
# Linux's values; the socket module does not name them. SCM_TIMESTAMPNS carries a struct timespec.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("qq")


class _Failed(Exception):
    """A transport failure, already classified for the record."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Response:
    """What the parser's callbacks tell of the response being read; body pieces wait in `body` until the
    read that brought them is handed on with its arrival time."""

    def __init__(self) -> None:
        self.status = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False  # known only inside the parser's callbacks: kept here
        self.body: list[bytes] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def take_body(self) -> bytes:
        data = b"".join(self.body)
        self.body.clear()
        return data


class StreamClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, stamp_field: str | None = None,
                 kernel_timestamps: bool = True) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        host_header = self.host if parts.port is None else f"{self.host}:{parts.port}"
        self.head = "".join(f"{k}: {v}\r\n" for k, v in [
            ("Host", host_header), ("Content-Type", "application/json"), ("Accept", "text/event-stream"),
            *headers.items()])
        self.timeout = timeout
        self.stamp_field = stamp_field
        self.want_kernel_timestamps = kernel_timestamps and not self.https
        self.kernel_timestamps = False  # whether the open connection has them
        self._sock: socket.socket | None = None
        self._last_used = 0.0
        self._realtime_offset = 0.0  # time.time() - perf_counter(), taken at each request's start

    # --- connection -----------------------------------------------------------------------------------

    def _connect(self) -> None:
        """Open the connection before the request's clock starts (a new TCP connection is the client's
        cost, not the server's latency)."""
        if self._sock is not None and time.monotonic() - self._last_used > IDLE_RECONNECT_S:
            self.close()
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.kernel_timestamps = False
        if self.https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        elif self.want_kernel_timestamps:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel_timestamps = True
            except OSError:
                pass  # not Linux: read-return times
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def _receive(self) -> tuple[bytes, float]:
        """One read of whatever has arrived, and when its last byte reached this host (perf_counter)."""
        assert self._sock is not None
        try:
            if not self.kernel_timestamps:
                data = self._sock.recv(READ_SIZE)
                return data, time.perf_counter()
            data, ancillary, _, _ = self._sock.recvmsg(READ_SIZE, 64)
        except TimeoutError as exc:
            raise _Failed("timeout", str(exc) or "timed out") from None
        except OSError as exc:
            raise _Failed(type(exc).__name__, str(exc) or type(exc).__name__) from None
        now = time.perf_counter()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(payload) >= TIMESPEC.size:
                seconds, nanoseconds = TIMESPEC.unpack_from(payload)
                # never later than now: guards against the wall clock being stepped mid-run
                return data, min(seconds + nanoseconds * 1e-9 - self._realtime_offset, now)
        return data, now

    def _feed(self, response: _Response) -> tuple[bool, float]:
        """One read into the parser: (whether the server closed the connection, the read's arrival time)."""
        data, at = self._receive()
        if not data:
            return True, at
        try:
            response.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise _Failed("RemoteProtocolError", str(exc) or type(exc).__name__) from None
        return False, at

    # --- one request ----------------------------------------------------------------------------------

    def stream(self, path: str, body: bytes, record: Record) -> Record:
        """Send one streaming request and fill `record` with what happened (never raises for the server's
        faults: they become the record's error)."""
        try:
            self._connect()
        except OSError as exc:
            record.start, record.start_wall = time.perf_counter(), time.time()
            return self._fail(record, "connect", str(exc) or type(exc).__name__)
        assert self._sock is not None
        wire = (f"POST {self.prefix}{path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body)
        record.start_wall = time.time()
        record.start = time.perf_counter()
        self._realtime_offset = record.start_wall - record.start
        try:
            self._sock.sendall(wire)
            response = self._read_response(record)
        except _Failed as exc:
            return self._fail(record, exc.kind, str(exc))
        except OSError as exc:
            return self._fail(record, type(exc).__name__, str(exc) or type(exc).__name__)
        self._last_used = time.monotonic()
        if not (response.complete and response.keep_alive):
            self.close()  # the server closes after this response (or broke framing): a new one next time
        return record

    def _read_response(self, record: Record) -> _Response:
        response = _Response()
        at = record.start
        while not response.headers_done or 100 <= response.status < 200:
            if response.complete:  # an informational response ended: the real one follows
                response = _Response()
            closed, at = self._feed(response)
            if closed and not response.headers_done:
                raise _Failed("RemoteDisconnected", "the server closed the connection without a response")
        record.status = response.status
        if response.status != 200:
            while not response.complete and not self._feed(response)[0]:
                pass
            record.end = time.perf_counter()
            record.error_type = f"http_{record.status}"
            record.error = response.take_body().decode(errors="replace").strip()
            return response
        self._read_stream(record, response, at)
        return response

    def _read_stream(self, record: Record, response: _Response, at: float) -> None:
        """The event stream; `at`: when the read that brought the headers (and any body with them) arrived."""
        decoder = Decoder()
        done = finished = False
        stamp = self.stamp_field
        closed = False
        while True:
            for sse in decoder.feed(response.take_body(), at):
                if sse.data == DONE:
                    done = True
                    continue
                try:
                    payload = orjson.loads(sse.data)  # ~4x the standard library's speed, per chunk
                except ValueError:
                    record.error_type, record.error = "bad_event", sse.data[:200]
                    continue
                choices = payload.get("choices")
                if choices:
                    if any(c.get("finish_reason") for c in choices):
                        finished = True
                    record.chunk_times.append(sse.at)
                    if stamp is not None and stamp in payload:
                        if not record.stamps and RECEIVED_FIELD in payload:
                            record.stamps.append(float(payload[RECEIVED_FIELD]))
                        record.stamps.append(float(payload[stamp]))
                usage = payload.get("usage")
                if usage:
                    record.prompt_tokens = usage.get("prompt_tokens")
                    record.completion_tokens = usage.get("completion_tokens")
                if "error" in payload and not choices:
                    record.error_type, record.error = "stream_error", json.dumps(payload["error"])[:300]
            if response.complete or closed:
                break  # closed before the end: the body ended early
            closed, at = self._feed(response)
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

    def _fail(self, record: Record, kind: str, message: str) -> Record:
        record.end = time.perf_counter()
        record.error_type, record.error = kind, message
        self.close()
        return record
