"""The small pieces of fault handling, each against real local servers or sockets where they need one."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from harness.errors import ReadinessTimeout
from harness.load.runner import port_refused
from harness.server.wait import ExitStatus, HttpWait, poll_until, transitions


def test_transitions_collapse_repeats() -> None:
    assert transitions(["no answer", "no answer", "503", "503", "200"]) == ("no answer", "503", "200")
    assert transitions([]) == ()


def test_poll_until_returns_the_value_or_names_what_never_happened() -> None:
    counter = itertools.count()
    assert poll_until(lambda: next(counter) >= 3 and "done", 5, "count", interval=0.01) == "done"
    with pytest.raises(TimeoutError, match="the thing did not happen within 0s"):
        poll_until(lambda: None, 0, "the thing")


class Target:
    description = "server under test"
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, url: str) -> None:
        self.base_url = url

    def exit_status(self) -> ExitStatus | None:
        return None

    def log_tail(self, lines: int = 60) -> str:
        return "stuck loading"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def loading_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_port_that_never_opened_is_named(closed_port: int) -> None:
    wait = HttpWait().with_startup_timeout(0.3).with_poll_interval(0.05)
    with pytest.raises(ReadinessTimeout, match=r"never answered HTTP .* the port never opened") as info:
        wait.wait_until_ready(Target(f"http://127.0.0.1:{closed_port}"))
    assert info.value.log_tail == "stuck loading"
    assert set(info.value.health) == {"no answer"}


def test_a_server_that_answers_but_is_not_ready_is_not_called_deaf(loading_server: str) -> None:
    wait = HttpWait().with_startup_timeout(0.3).with_poll_interval(0.05)
    expected = r"not ready after 0s .*answered 503.*raise container.startup_timeout"
    with pytest.raises(ReadinessTimeout, match=expected) as info:
        wait.wait_until_ready(Target(loading_server))
    assert transitions(info.value.health) == ("503",)


def test_port_refused_tells_a_dead_server_from_a_live_one(closed_port: int, loading_server: str) -> None:
    assert port_refused(loading_server)() is None
    assert "refused connections" in (port_refused(f"http://127.0.0.1:{closed_port}")() or "")
