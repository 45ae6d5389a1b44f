"""Deliberately broken servers for the harness's own tests: a real HTTP proxy in front of a real
upstream (cpu-tiny's vLLM) that injects exactly one defect. A suite's check is proven by running it
through the proxy and watching that check — and only the expected one — fail.

    class NoDone(Defect):
        def response_chunks(self, exchange, chunks):
            for chunk in chunks:
                yield chunk.replace(b"data: [DONE]\\n\\n", b"")

    with DefectProxy(upstream_url, NoDone()) as url:
        run pytest suites/ --base-url url ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

from harness.server.transport import FreshAfterServerError

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Exchange:
    """One request passing through the proxy; a defect may read or rewrite it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Reply:
    """A response the defect sends instead of asking the upstream."""

    status: int
    body: bytes
    content_type: str = "application/json"


class Defect:
    """No defect: override one or both hooks."""

    def request(self, exchange: Exchange) -> Reply | None:
        """Rewrite `exchange.body` in place, or return a Reply to answer without the upstream."""
        return None

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Rewrite the upstream's response body, chunk by chunk (streams stay streams)."""
        yield from chunks

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        """Convenience for non-streaming JSON answers: rewrite the decoded body."""
        return body


def events(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut a stream's network chunks into whole SSE events (each with its blank line), so a defect can
    rewrite an event that the network split in two."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            yield event + b"\n\n"
    if buffer:
        yield buffer


class DefectProxy:
    def __init__(self, upstream: str, defect: Defect) -> None:
        self.upstream = upstream.rstrip("/")
        self.defect = defect
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> str:
        proxy = self
        # uvicorn closes its connection after an unhandled exception (vLLM's 500s): like nginx, never send the
        # next request down a connection that answered 5xx (seen in CI: the health probe after a 500 was lost)
        client = httpx.Client(base_url=self.upstream, timeout=120.0, transport=FreshAfterServerError())

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes: streams pass as-is
            # TCP_NODELAY, as nginx and every streaming proxy set it: with Nagle on, the events written after
            # the headers wait for the client's delayed ACK and can reach it in one read, a stream the
            # incremental-streaming check rightly calls buffered (seen in CI, 6 of 6 streams)
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                exchange = Exchange(self.command, self.path,
                                    {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP},
                                    self.rfile.read(length) if length else b"")
                reply = proxy.defect.request(exchange)
                if reply is not None:
                    self._send(reply.status, {"Content-Type": reply.content_type}, iter([reply.body]))
                    return
                upstream = client.build_request(exchange.method, exchange.path, headers=exchange.headers,
                                                content=exchange.body)
                response = client.send(upstream, stream=True)
                try:
                    exchange.status = response.status_code
                    exchange.response_headers = {k: v for k, v in response.headers.items()
                                                 if k.lower() not in HOP_BY_HOP}
                    chunks: Iterator[bytes] = response.iter_raw()
                    if "application/json" in response.headers.get("content-type", ""):
                        body = json.loads(response.read() or b"null")
                        chunks = iter([json.dumps(proxy.defect.whole_json(exchange, body)).encode()])
                    self._send(exchange.status, exchange.response_headers,
                               proxy.defect.response_chunks(exchange, chunks))
                finally:
                    response.close()

            def _send(self, status: int, headers: dict[str, str], chunks: Iterator[bytes]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._client = client
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()
