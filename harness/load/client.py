"""A streaming HTTP/1.1 client for the load generator: one keep-alive connection per simulated user.

HTTP framing is h11's (httpx's own parser); the socket is the standard library's, which under locust's
gevent patching is cooperative. What makes the numbers right is *when* a read is said to have arrived:

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

import h11

from harness.load.records import Record
from harness.sse import DONE, Decoder

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


class StreamClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, stamp_field: str | None = None,
                 kernel_timestamps: bool = True) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        host_header = self.host if parts.port is None else f"{self.host}:{parts.port}"
        self.headers = [("Host", host_header), ("Content-Type", "application/json"),
                        ("Accept", "text/event-stream"), *headers.items()]
        self.timeout = timeout
        self.stamp_field = stamp_field
        self.want_kernel_timestamps = kernel_timestamps and not self.https
        self.kernel_timestamps = False  # whether the open connection has them
        self._sock: socket.socket | None = None
        self._h11: h11.Connection | None = None
        self._last_used = 0.0
        self._realtime_offset = 0.0  # time.time() - perf_counter(), taken at each request's start
        self._last_read = 0.0

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
        self._h11 = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._h11 = None, None

    def _receive(self) -> tuple[bytes, float]:
        """One read of whatever has arrived, and when its last byte reached this host (perf_counter)."""
        assert self._sock is not None
        if not self.kernel_timestamps:
            data = self._sock.recv(READ_SIZE)
            return data, time.perf_counter()
        data, ancillary, _, _ = self._sock.recvmsg(READ_SIZE, 64)
        now = time.perf_counter()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(payload) >= TIMESPEC.size:
                seconds, nanoseconds = TIMESPEC.unpack_from(payload)
                # never later than now: guards against the wall clock being stepped mid-run
                return data, min(seconds + nanoseconds * 1e-9 - self._realtime_offset, now)
        return data, now

    def _next_event(self) -> tuple[h11.Event | type[h11.PAUSED], float]:
        """The next HTTP event and the arrival time of the read that completed it."""
        assert self._h11 is not None
        at = self._last_read
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event, at
            try:
                data, at = self._receive()
            except TimeoutError as exc:
                raise _Failed("timeout", str(exc) or "timed out") from None
            except OSError as exc:
                raise _Failed(type(exc).__name__, str(exc) or type(exc).__name__) from None
            self._last_read = at
            self._h11.receive_data(data)  # b"": the server closed the connection

    # --- one request ----------------------------------------------------------------------------------

    def stream(self, path: str, body: bytes, record: Record) -> Record:
        """Send one streaming request and fill `record` with what happened (never raises for the server's
        faults: they become the record's error)."""
        try:
            self._connect()
        except OSError as exc:
            record.start, record.start_wall = time.perf_counter(), time.time()
            return self._fail(record, "connect", str(exc) or type(exc).__name__)
        assert self._h11 is not None and self._sock is not None
        request = h11.Request(method="POST", target=self.prefix + path,
                              headers=[*self.headers, ("Content-Length", str(len(body)))])
        wire = self._h11.send(request) + self._h11.send(h11.Data(data=body)) + self._h11.send(h11.EndOfMessage())
        record.start_wall = time.time()
        record.start = time.perf_counter()
        self._realtime_offset = record.start_wall - record.start
        self._last_read = record.start
        try:
            self._sock.sendall(wire)
            self._read_response(record)
        except _Failed as exc:
            return self._fail(record, exc.kind, str(exc))
        except OSError as exc:
            return self._fail(record, type(exc).__name__, str(exc) or type(exc).__name__)
        except h11.ProtocolError as exc:
            return self._fail(record, "RemoteProtocolError", str(exc))
        self._last_used = time.monotonic()
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        else:
            self.close()  # the server closes after this response (or broke framing): a new one next time
        return record

    def _read_response(self, record: Record) -> None:
        event, _ = self._next_event()
        while isinstance(event, h11.InformationalResponse):
            event, _ = self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            raise _Failed("RemoteDisconnected", "the server closed the connection without a response")
        assert isinstance(event, h11.Response)
        record.status = event.status_code
        if event.status_code != 200:
            parts = []
            event, _ = self._next_event()
            while isinstance(event, h11.Data):
                parts.append(bytes(event.data))
                event, _ = self._next_event()
            record.end = time.perf_counter()
            record.error_type = f"http_{record.status}"
            record.error = b"".join(parts).decode(errors="replace").strip()
            return
        self._read_stream(record)

    def _read_stream(self, record: Record) -> None:
        decoder = Decoder()
        done = finished = False
        stamp = self.stamp_field
        while True:
            event, at = self._next_event()
            if isinstance(event, h11.EndOfMessage):
                break
            if not isinstance(event, h11.Data):
                break  # ConnectionClosed (or PAUSED): the body ended early
            for sse in decoder.feed(bytes(event.data), at):
                if sse.data == DONE:
                    done = True
                    continue
                try:
                    payload = json.loads(sse.data)
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
