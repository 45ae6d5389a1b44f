"""PathWatch counts the other requests a path answered inside a window, and never outlives its block."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from harness.checks.path_watch import JOIN_S, PathWatch


class _Handler(BaseHTTPRequestHandler):
    frozen, released = threading.Event(), threading.Event()

    def do_GET(self) -> None:
        if self.frozen.is_set():
            self.released.wait(timeout=30)  # a path that answers nothing until released
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.frozen.clear()
    _Handler.released.set()
    httpd.shutdown()


def test_a_live_path_answers_probes_inside_the_window(server: str) -> None:
    _Handler.frozen.clear()
    with httpx.Client(base_url=server) as api, PathWatch(api) as watch:
        start = time.perf_counter()
        deadline = start + 5
        while len(watch.answered) < 5 and time.perf_counter() < deadline:
            time.sleep(0.01)
        end = time.perf_counter()
    assert watch.answered_within(start, end) >= 3
    assert watch.answered_within(end, end + 10) == 0  # none is counted outside the window


def test_a_frozen_path_answers_none_and_the_watch_still_ends(server: str) -> None:
    _Handler.frozen.set()
    _Handler.released.clear()
    with httpx.Client(base_url=server) as api:
        started = time.perf_counter()
        with PathWatch(api) as watch:
            window = time.perf_counter()
            time.sleep(0.3)  # the block being watched: nothing answers during it
            end = time.perf_counter()
            _Handler.released.set()  # release the held probe so the thread can end
        assert watch.answered_within(window, end) == 0
        assert time.perf_counter() - started < JOIN_S
