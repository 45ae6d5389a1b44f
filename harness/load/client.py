"""A streaming HTTP/1.1 client for the load generator: one keep-alive connection per simulated user.

HTTP framing is parsed by httptools (llhttp, Node's C parser: the profile of a busy load process was
~40% h11's pure-Python framing). Under locust's gevent patching a plain-http response is read in the
hub's own I/O callback (one callback per read, the request's greenlet parked until the response ends);
TLS, or no gevent, reads in the caller. What makes the numbers right is *when* a read is said to have
arrived:

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
from collections.abc import Generator
from urllib.parse import urlsplit

import gevent
import httptools
import orjson
from gevent.hub import Waiter

from harness.checks.sse import DONE, DataSplitter
from harness.load.records import Record

NO_DONE_NOTE = "completed without 'data: [DONE]'"
DONE_BYTES = DONE.encode()

RECEIVED_FIELD = "x_recv"  # benchmarks: when the timed server received the request (see timed_server.py)
IDLE_RECONNECT_S = 3.0  # servers close idle keep-alive connections (uvicorn: after 5 s); never race them
READ_SIZE = 65536
# Linux's values; the socket module does not name them. SCM_TIMESTAMPNS carries a struct timespec.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("qq")

Reader = Generator[None, tuple[bytes, float], "_Response"]  # sent each read, returns the response


def _arrival(ancillary: list[tuple[int, int, bytes]], realtime_offset: float, now: float) -> float:
    """When a read's last byte reached this host (perf_counter): its SCM_TIMESTAMPNS, else `now`."""
    for level, kind, payload in ancillary:
        if kind == SCM_TIMESTAMPNS and level == socket.SOL_SOCKET and len(payload) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(payload)
            stamp = seconds + nanoseconds * 1e-9 - realtime_offset
            return stamp if stamp < now else now  # never later than now: the wall clock may be stepped
    return now


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

    def feed(self, data: bytes) -> bool:
        """One read into the parser; False: the server closed the connection (an empty read)."""
        if not data:
            return False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise _Failed("RemoteProtocolError", str(exc) or type(exc).__name__) from None
        return True

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

    def _receive(self, sock: socket.socket) -> tuple[bytes, float]:
        """One read of whatever has arrived, and when its last byte reached this host (perf_counter)."""
        try:
            if not self.kernel_timestamps:
                data = sock.recv(READ_SIZE)
                return data, time.perf_counter()
            data, ancillary, _, _ = sock.recvmsg(READ_SIZE, 64)
        except TimeoutError as exc:
            raise _Failed("timeout", str(exc) or "timed out") from None
        except OSError as exc:
            raise _Failed(type(exc).__name__, str(exc) or type(exc).__name__) from None
        return data, _arrival(ancillary, self._realtime_offset, time.perf_counter())

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
            reader = self._read_response(record)
            evented = not self.https and hasattr(self._sock, "_sock")  # plain http under gevent
            response = self._read_in_hub(reader) if evented else self._read_here(reader)
        except _Failed as exc:
            return self._fail(record, exc.kind, str(exc))
        except OSError as exc:
            return self._fail(record, type(exc).__name__, str(exc) or type(exc).__name__)
        except BaseException:
            self.close()  # killed mid-response (the run is stopping): the connection is mid-stream
            raise
        self._last_used = time.monotonic()
        if not (response.complete and response.keep_alive):
            self.close()  # the server closes after this response (or broke framing): a new one next time
        return record

    # A response is read by a generator that is sent each read (bytes, arrival time) and returns the
    # _Response. Two drivers feed it: in the hub's own I/O callback (the plain-socket path under gevent: one
    # callback per read, where a cooperative read costs a failed read, a timeout timer and two greenlet
    # switches per chunk, ~2x the CPU), or by reading in this greenlet (TLS, or no gevent).

    def _read_here(self, reader: Reader) -> _Response:
        assert self._sock is not None
        next(reader)
        try:
            while True:
                reader.send(self._receive(self._sock))
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]

    def _read_in_hub(self, reader: Reader) -> _Response:
        """Drive `reader` from a libev I/O watcher's callback and park this greenlet until it finishes; a
        timer checking four times per `timeout` ends it with "timeout" once `timeout` seconds pass without
        a read (the socket timeout's meaning), at most a quarter late."""
        assert self._sock is not None
        raw = self._sock._sock  # type: ignore[attr-defined]  # gevent's socket wraps the non-blocking one
        loop = gevent.get_hub().loop
        waiter: Waiter = Waiter()
        readable = loop.io(raw.fileno(), 1)
        timer = loop.timer(self.timeout, self.timeout / 4)
        timeout, clock, offset = self.timeout, time.perf_counter, self._realtime_offset
        recvmsg, recv = raw.recvmsg, raw.recv
        kernel = self.kernel_timestamps
        last = [clock()]
        next(reader)

        def finish(outcome: object) -> None:
            readable.stop()
            timer.stop()
            waiter.switch(outcome)

        def on_readable() -> None:  # the per-chunk path: inline, no helper calls beyond the read
            try:
                if kernel:
                    data, ancillary, _, _ = recvmsg(READ_SIZE, 64)
                    at = _arrival(ancillary, offset, clock())
                else:
                    data, at = recv(READ_SIZE), clock()
            except BlockingIOError:
                return  # woken with nothing to read: wait again
            except OSError as exc:
                finish(_Failed(type(exc).__name__, str(exc) or type(exc).__name__))
                return
            last[0] = at
            try:
                reader.send((data, at))
            except StopIteration as finished:
                finish(finished.value)
            except BaseException as exc:  # handed to the waiting greenlet, which raises it
                finish(exc)

        def on_timer() -> None:
            if clock() - last[0] >= timeout:
                finish(_Failed("timeout", f"no data for {timeout:g} s"))

        readable.start(on_readable)
        timer.start(on_timer)
        try:
            outcome = waiter.get()
        finally:
            readable.stop()
            timer.stop()
            readable.close()
            timer.close()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    def _read_response(self, record: Record) -> Reader:
        response = _Response()
        at = record.start
        while not response.headers_done or 100 <= response.status < 200:
            if response.complete:  # an informational response ended: the real one follows
                response = _Response()
            data, at = yield
            if not response.feed(data) and not response.headers_done:
                raise _Failed("RemoteDisconnected", "the server closed the connection without a response")
        record.status = response.status
        if response.status != 200:
            while not response.complete:
                data, at = yield
                if not response.feed(data):
                    break
            record.end = time.perf_counter()
            record.error_type = f"http_{record.status}"
            record.error = response.take_body().decode(errors="replace").strip()
            return response
        yield from self._read_stream(record, response, at)
        return response

    def _read_stream(self, record: Record, response: _Response, at: float) -> Reader:
        """The event stream; `at`: when the read that brought the headers (and any body with them) arrived.
        The load generator's per-chunk path: kept lean (bytes framing, orjson on bytes, no Event objects)."""
        splitter = DataSplitter()
        done = finished = False
        stamp = self.stamp_field
        times = record.chunk_times
        closed = False
        while True:
            try:
                payloads = splitter.feed(response.take_body())
            except UnicodeDecodeError as exc:  # only the strict framing decodes text
                record.error_type, record.error, payloads = "bad_event", str(exc)[:200], []
            for data in payloads:
                if data == DONE_BYTES:
                    done = True
                    continue
                try:
                    payload = orjson.loads(data)  # ~4x the standard library's speed, per chunk
                    choices = payload.get("choices")
                except (ValueError, AttributeError):  # not JSON, or JSON but not an object
                    record.error_type, record.error = "bad_event", data[:200].decode(errors="replace")
                    continue
                if choices:
                    for choice in choices:
                        if choice.get("finish_reason"):
                            finished = True
                        if record.answer is not None:  # a conversation resends what the assistant said
                            record.answer.append(choice.get("text") or (choice.get("delta") or {}).get("content")
                                                 or "")
                    times.append(at)
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
            data, at = yield
            closed = not response.feed(data)
        record.end = time.perf_counter()
        if not done and not record.error_type:
            if finished:
                # every token arrived and the answer said it was finished: the request succeeded, and the
                # missing terminator is a protocol note (the conformance suite fails it), not a lost request
                record.error = NO_DONE_NOTE
            else:
                record.error_type, record.error = "truncated", "the stream ended without 'data: [DONE]'"
        elif not times and not record.error_type:
            record.error_type, record.error = "no_tokens", "the stream carried no token chunk"

    def _fail(self, record: Record, kind: str, message: str) -> Record:
        record.end = time.perf_counter()
        record.error_type, record.error = kind, message
        self.close()
        return record
