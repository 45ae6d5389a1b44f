"""The wait strategy against real local HTTP servers (no mocks of the wait itself)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.errors import ContainerExited, ReadinessTimeout
from harness.server.wait import ExitStatus, HttpWait, ModelListedWait, server_ready, transitions


class Target:
    description = "test server"

    def __init__(self, base_url: str, status: ExitStatus | None = None) -> None:
        self.base_url = base_url
        self.headers: dict[str, str] = {}
        self.status = status
        self.polls = 0

    def exit_status(self) -> ExitStatus | None:
        self.polls += 1
        return self.status

    def log_tail(self, lines: int = 60) -> str:
        return "RuntimeError: engine core died"


class Scripted(BaseHTTPRequestHandler):
    ready_after = 0.0
    started = 0.0

    def do_GET(self) -> None:
        loading = time.monotonic() - Scripted.started < Scripted.ready_after
        if self.path == "/health":
            self.send_response(503 if loading else 200)
            self.end_headers()
        elif self.path == "/v1/models" and not loading:
            body = json.dumps({"object": "list", "data": [{"id": "tiny", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Scripted.started = time.monotonic()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_waits_through_503_until_ready(server: str) -> None:
    Scripted.ready_after = 0.6
    wait = server_ready("/health", "tiny")
    ready = wait.with_poll_interval(0.05).wait_until_ready(Target(server))
    assert 0.5 <= ready.seconds < 5
    # what /health answered comes back with the result; the strategy itself was not changed by polling
    assert transitions(ready.health) == ("503", "200") and len(ready.health) > 2
    assert wait.poll_interval == 0.5 and vars(wait.strategies[0]) == {"path": "/health", "status_code": 200}


def test_exited_container_fails_at_once_with_code_and_log() -> None:
    target = Target("http://127.0.0.1:9", ExitStatus(code=137, oom_killed=True))
    started = time.monotonic()
    with pytest.raises(ContainerExited) as info:
        HttpWait("/health").with_startup_timeout(60).wait_until_ready(target)
    assert time.monotonic() - started < 1
    assert "OOM-killed" in str(info.value) and "137" in str(info.value)
    assert "engine core died" in info.value.log_tail
    assert target.polls == 1


def test_plain_exit_reports_exit_code() -> None:
    with pytest.raises(ContainerExited, match="exit code 1"):
        HttpWait().wait_until_ready(Target("http://127.0.0.1:9", ExitStatus(code=1)))


def test_timeout_says_why_and_carries_log(server: str) -> None:
    Scripted.ready_after = 60
    wait = server_ready("/health", "tiny").with_startup_timeout(0.4).with_poll_interval(0.05)
    with pytest.raises(ReadinessTimeout) as info:
        wait.wait_until_ready(Target(server))
    assert "answered 503" in str(info.value) and "startup_timeout" in str(info.value)
    assert info.value.log_tail


def test_model_must_be_listed(server: str) -> None:
    Scripted.ready_after = 0
    wait = ModelListedWait("other").with_startup_timeout(0.3).with_poll_interval(0.05)
    with pytest.raises(ReadinessTimeout, match=r"lists \['tiny'\], not 'other'"):
        wait.wait_until_ready(Target(server))


def test_connection_refused_is_a_reason_not_a_crash() -> None:
    wait = HttpWait().with_startup_timeout(0.3).with_poll_interval(0.05)
    with pytest.raises(ReadinessTimeout, match="ConnectError"):
        wait.wait_until_ready(Target("http://127.0.0.1:9"))
