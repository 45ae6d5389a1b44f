"""harness.server.transport against a real local server that behaves as uvicorn did after an unhandled 500: it
keeps the connection open without `Connection: close`, reads the next request on it, and then drops it
without an answer."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import httpx
import pytest

from harness.server.transport import FreshAfterServerError


class DropsAfterA500(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        failed = False
        while True:
            line = self.rfile.readline()
            if not line:
                return
            while self.rfile.readline() not in (b"\r\n", b""):
                pass  # the headers (GET requests carry no body)
            if failed:
                return  # the request after the 500 reached a connection that is closing: no answer
            failed = line.startswith(b"GET /boom")
            status = b"500 Internal Server Error" if failed else b"200 OK"
            self.wfile.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\n\r\nok")
            self.wfile.flush()


@pytest.fixture
def url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), DropsAfterA500)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_pooled_connection_after_a_500_breaks_the_next_request(url: str) -> None:
    # the failure the transport exists for: without it the next, innocent request gets no status at all
    with httpx.Client(base_url=url, transport=httpx.HTTPTransport(retries=0)) as client:
        assert client.get("/boom").status_code == 500
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/ok")


def test_no_connection_is_reused_after_a_500(url: str) -> None:
    with httpx.Client(base_url=url, transport=FreshAfterServerError()) as client:
        assert client.get("/ok").status_code == 200
        assert client.get("/boom").status_code == 500
        assert client.get("/ok").status_code == 200
        assert client.get("/ok").status_code == 200  # a healthy connection is pooled again
