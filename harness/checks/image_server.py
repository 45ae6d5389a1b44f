"""An HTTP server on the harness's machine that serves test media, so suites can send images, video
and audio as http URLs that the server under test fetches itself.

Where it listens depends on where the server under test runs:
    docker runtime   the Docker bridge gateway; the container reaches it as host.docker.internal
                     (every harness container gets `--add-host host.docker.internal:host-gateway`)
    process runtime  127.0.0.1
    --base-url       only where `--image-host HOST` says (an address of this machine that the server
                     can reach); `--image-host docker` means the Docker bridge, as for the docker runtime
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from harness.checks.media_faults import SERVED, UNRESOLVABLE_HOST, Fault, closed_port
from harness.checks.media_faults import serve as serve_fault
from harness.errors import UsageError
from harness.server.host_gateway import host_gateway_address

DOCKER = "docker"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "audio/wav": "wav", "video/mp4": "mp4", "video/webm": "webm", "application/octet-stream": "bin"}


@dataclass(frozen=True)
class ServeAddress:
    bind: str  # the local address the socket listens on
    url_host: str  # the host name the server under test puts in its request


def serve_address(runtime: str, image_host: str | None) -> ServeAddress | None:
    """Where to serve media for a target of this runtime; None when there is no way to know."""
    if image_host is None:
        image_host = {"docker": DOCKER, "process": "127.0.0.1"}.get(runtime)
    if image_host is None:
        return None
    if image_host == DOCKER:
        return ServeAddress(bind=host_gateway_address(), url_host="host.docker.internal")
    return ServeAddress(bind=image_host, url_host=image_host)


class MediaServer:
    """Serves published byte strings at content-addressed paths; a context manager (started on enter)."""

    def __init__(self, address: ServeAddress) -> None:
        self.address = address
        self._blobs: dict[str, tuple[bytes, str]] = {}
        self._faults: dict[str, tuple[Fault, bytes, str]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._closed_port: socket.socket | None = None
        self._stop = threading.Event()
        self.requests: list[str] = []  # paths fetched, so a check can tell the server really fetched

    @property
    def base_url(self) -> str:
        """The URL root as the server under test sees it; paths not published answer 404."""
        assert self._server is not None, "the media server is not started (use it as a context manager)"
        return f"http://{self.address.url_host}:{self._server.server_address[1]}"

    def publish(self, payload: bytes, mime: str) -> str:
        """The http URL at which the server under test can fetch `payload`."""
        path = f"/media/{hashlib.sha256(payload).hexdigest()[:20]}.{EXTENSIONS.get(mime, 'bin')}"
        self._blobs[path] = (payload, mime)
        return self.base_url + path

    def fault_url(self, fault: Fault, payload: bytes, mime: str) -> str:
        """A URL for `payload` that fails the `fault` way (harness.checks.media_faults); the payload is what a
        trickle or an oversized answer starts with."""
        name = f"{hashlib.sha256(payload).hexdigest()[:12]}.{EXTENSIONS.get(mime, 'bin')}"
        if fault is Fault.REFUSED:
            assert self._closed_port is not None, "the media server is not started"
            return f"http://{self.address.url_host}:{self._closed_port.getsockname()[1]}/media/{name}"
        if fault is Fault.UNRESOLVABLE:
            return f"http://{UNRESOLVABLE_HOST}/media/{name}"
        assert fault in SERVED
        path = f"/fault/{fault.value}/{name}"
        for suffix in ("a", "b") if fault is Fault.REDIRECT_LOOP else ("",):
            self._faults[path + suffix] = (fault, payload, mime)
        return self.base_url + path + ("a" if fault is Fault.REDIRECT_LOOP else "")

    def __enter__(self) -> MediaServer:
        blobs, faults, fetched, stop = self._blobs, self._faults, self.requests, self._stop

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fetched.append(self.path)
                if self.path in faults:
                    serve_fault(self, *faults[self.path], self.path, stop)
                    return
                found = blobs.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                payload, mime = found
                self.send_response(200)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        try:
            self._server = ThreadingHTTPServer((self.address.bind, 0), Handler)
        except OSError as exc:
            raise UsageError(f"cannot serve test media on {self.address.bind}: {exc}; pass --image-host "
                             "with an address of this machine") from None
        self._server.daemon_threads = True
        self._closed_port = closed_port(self.address.bind)
        threading.Thread(target=self._server.serve_forever, name="media-server", daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()  # ends faulty answers still holding a connection
        if self._closed_port is not None:
            self._closed_port.close()
            self._closed_port = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
