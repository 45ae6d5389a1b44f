"""The load generator's HTTP client against real local sockets: framing, failures, keep-alive, and chunk
times taken from the kernel's receive timestamps.

The load generator runs under gevent, where plain-http responses are read in the hub's own I/O callbacks;
without gevent they are read in the caller. `test_every_case_again_under_gevent` runs this whole file a
second time in a gevent-patched interpreter, where the hub path must be the one taken."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.load.client import NO_DONE_NOTE, StreamClient
from harness.load.records import Record

UNDER_GEVENT = "gevent.monkey" in sys.modules and sys.modules["gevent.monkey"].is_module_patched("socket")


@pytest.fixture(autouse=True)
def _only_the_hub_reads_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under gevent a plain-http response must never be read by the in-greenlet loop."""
    if UNDER_GEVENT:
        def refuse(*_: object) -> None:
            raise AssertionError("a plain-http response was read outside the hub")

        monkeypatch.setattr(StreamClient, "_read_here", refuse)

Handler = Callable[[socket.socket, int], None]


def _chunk(payload: dict | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    data = b"data: " + text.encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_request(conn: socket.socket) -> bytes:
    def more() -> bytes:
        piece = conn.recv(65536)
        if not piece:  # the client closed: never spin on empty reads
            raise ConnectionError("closed")
        return piece

    data = b""
    while b"\r\n\r\n" not in data:
        data += more()
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(body) < length:
        body += more()
    return head


@pytest.fixture
def server() -> Iterator[Callable[[Handler], tuple[str, list[int]]]]:
    """A raw TCP server whose handler writes exactly the bytes a test wants; counts connections."""
    listeners: list[socket.socket] = []

    def start(handler: Handler) -> tuple[str, list[int]]:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        connections: list[int] = []

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                connections.append(1)
                threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()

        def _serve_one(conn: socket.socket) -> None:
            with conn:
                n = 0
                try:
                    while True:
                        _read_request(conn)
                        handler(conn, n)
                        n += 1
                except (OSError, StopIteration, ValueError):
                    return

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}", connections

    yield start
    for listener in listeners:
        listener.close()


@pytest.fixture
def kernel_stamps_on() -> Iterator[None]:
    """The kernel turns receive time stamps on for everyone a moment *after* the first socket asks (deferred
    work), and a TCP read of a packet that came before gets none. Holds a stamping loopback TCP pair
    until one of its reads carries a stamp, and for the test, so a test's first packet is stamped."""
    from harness.load.client import SCM_TIMESTAMPNS, SO_TIMESTAMPNS

    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
        receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        with sender, receiver:
            deadline = time.monotonic() + 10
            while True:
                sender.sendall(b"x")
                _, ancillary, _, _ = receiver.recvmsg(16, 64)
                if any(kind == SCM_TIMESTAMPNS for _, kind, _ in ancillary):
                    break
                assert time.monotonic() < deadline, "the kernel never stamped a loopback TCP read in 10 s"
            yield


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
TOKEN = {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
LAST = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


def _record() -> Record:
    return Record(id="t", worker=0, level="c=1", users=1, rate=None, phase="measure", kind="chat", start=0.0,
                  start_wall=0.0)


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel-timestamps", "read-return-times"])
def test_a_whole_stream_and_keep_alive(server, kernel: bool) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        conn.sendall(HEAD + _chunk(TOKEN) + _chunk(LAST) + _chunk("[DONE]") + b"0\r\n\r\n")

    url, connections = server(handler)
    client = StreamClient(url, {}, timeout=10, kernel_timestamps=kernel)
    first, second = client.stream("/v1/chat/completions", b"{}", _record()), client.stream("/v1/chat/completions",
                                                                                            b"{}", _record())
    client.close()
    for record in (first, second):
        assert record.ok and record.status == 200 and not record.error, record
        assert len(record.chunk_times) == 2 and record.completion_tokens == 2 and record.prompt_tokens == 3
        assert record.start <= record.chunk_times[0] <= record.chunk_times[1] <= record.end
    assert len(connections) == 1, "the second request should reuse the keep-alive connection"


def test_http_error_keeps_status_and_body(server) -> None:
    body = b'{"error": {"message": "bad model", "type": "NotFoundError"}}'

    def handler(conn: socket.socket, _: int) -> None:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)

    url, _ = server(handler)
    record = StreamClient(url, {}, timeout=10).stream("/v1/chat/completions", b"{}", _record())
    assert record.status == 404 and record.error_type == "http_404" and "bad model" in record.error
    assert not record.ok


def test_missing_done_is_a_note_when_finished_and_truncation_when_not(server) -> None:
    def finished(conn: socket.socket, _: int) -> None:
        conn.sendall(HEAD + _chunk(TOKEN) + _chunk(LAST) + b"0\r\n\r\n")

    def cut(conn: socket.socket, _: int) -> None:
        conn.sendall(HEAD + _chunk(TOKEN))
        conn.shutdown(socket.SHUT_RDWR)
        raise StopIteration

    url, _ = server(finished)
    record = StreamClient(url, {}, timeout=10).stream("/v1/chat/completions", b"{}", _record())
    assert record.ok and record.error == NO_DONE_NOTE
    url, _ = server(cut)
    record = StreamClient(url, {}, timeout=10).stream("/v1/chat/completions", b"{}", _record())
    assert not record.ok and record.error_type, record
    assert len(record.chunk_times) == 1, "what arrived before the cut is kept"


def test_connection_refused_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    record = StreamClient(f"http://127.0.0.1:{port}", {}, timeout=5).stream("/v1/completions", b"{}", _record())
    assert record.error_type == "connect" and record.status == 0


def _token_then(sent: list[float], arrived: threading.Event, rest: bytes = b"") -> Handler:
    """The head, then one token chunk (its send time in `sent`, then `arrived` set), then `rest` 0.5 s later."""
    def handler(conn: socket.socket, _: int) -> None:
        conn.sendall(HEAD)
        sent.append(time.perf_counter())
        conn.sendall(_chunk(TOKEN))
        arrived.set()
        if rest:
            time.sleep(0.5)
            conn.sendall(rest)

    return handler


@pytest.mark.skipif(sys.platform != "linux", reason="SO_TIMESTAMPNS is Linux's")
def test_a_late_read_still_reports_when_the_bytes_arrived(server, kernel_stamps_on) -> None:
    """A client that reads late (descheduled, busy) must report the arrival, not the read."""
    sent: list[float] = []
    arrived = threading.Event()
    url, _ = server(_token_then(sent, arrived))
    client = StreamClient(url, {}, timeout=10)
    client._connect()
    assert client.kernel_timestamps
    client._realtime_offset = time.time() - time.perf_counter()
    client._sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n")  # type: ignore[union-attr]
    assert arrived.wait(10)
    time.sleep(0.3)  # the fault under test: this client is late to read by 300 ms
    # the head and the chunk, both waiting since before the sleep
    data, at = client._receive(client._sock)  # type: ignore[arg-type]
    read_at = time.perf_counter()
    client.close()
    assert b"data:" in data
    assert read_at - sent[0] >= 0.3
    assert at - sent[0] < 0.05, f"reported {1e3 * (at - sent[0]):.1f} ms after the send, read 300 ms late"


def test_silence_mid_stream_ends_as_a_timeout_within_its_bound(server) -> None:
    release = threading.Event()

    def handler(conn: socket.socket, _: int) -> None:
        conn.sendall(HEAD + _chunk(TOKEN))
        release.wait(30)  # then silent: no more bytes, connection open

    url, _ = server(handler)
    began = time.perf_counter()
    record = StreamClient(url, {}, timeout=0.5).stream("/v1/chat/completions", b"{}", _record())
    took = time.perf_counter() - began
    release.set()
    assert record.error_type == "timeout" and not record.ok, record
    assert len(record.chunk_times) == 1, "the chunk before the silence is kept"
    assert 0.45 < took < 2, f"a 0.5 s read timeout ended the request after {took:.2f} s"


@pytest.mark.skipif(not UNDER_GEVENT or sys.platform != "linux",
                    reason="needs a gevent hub: test_every_case_again_under_gevent runs it")
def test_a_busy_hub_still_reports_when_the_bytes_arrived(server, kernel_stamps_on) -> None:
    """Another greenlet holds the hub for 300 ms while a chunk waits: its time is its arrival, not the read."""
    import gevent

    sent: list[float] = []
    arrived = threading.Event()

    def hog() -> None:
        arrived.wait(10)
        until = time.perf_counter() + 0.3
        while time.perf_counter() < until:  # never yields: the hub cannot run the read
            pass

    url, _ = server(_token_then(sent, arrived, _chunk(LAST) + _chunk("[DONE]") + b"0\r\n\r\n"))
    hogging = gevent.spawn(hog)
    record = StreamClient(url, {}, timeout=10).stream("/v1/chat/completions", b"{}", _record())
    hogging.join(5)
    assert record.ok, record
    assert record.end - sent[0] >= 0.3
    assert record.chunk_times[0] - sent[0] < 0.05, (
        f"reported {1e3 * (record.chunk_times[0] - sent[0]):.1f} ms after the send, read 300 ms late")


@pytest.mark.skipif(UNDER_GEVENT, reason="already inside the gevent run")
def test_every_case_again_under_gevent() -> None:
    """This file in a gevent-patched interpreter (the load generator's): the hub's I/O callback path."""
    script = ("from gevent import monkey; monkey.patch_all()\n"
              "import sys, pytest\n"
              f"sys.exit(pytest.main([{__file__!r}, '-q', '-p', 'no:cacheprovider', '-rs']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail, tail
    summary = re.search(r"(\d+) passed, 1 skipped in", tail)  # only this test skips there
    assert summary and int(summary.group(1)) >= 8 and "needs a gevent hub" not in tail, tail
