"""A lanes deployment of our own, in seed 002's shape, to prove the lanes check: one HTTP endpoint that
lists several models and keeps only one loaded — a real cpu-tiny container (real vLLM) serving under
the lane's name. A request for another lane waits until in-flight requests finish, the container is
stopped and the other lane's container has booted (queued, never dropped); /health answers 503 while
switching. `--reject-while-switching` is the defect: requests that arrive during a switch get 503.

    python -m tests.lanes.front --lanes lane-a,lane-b --run-dir DIR     # prints "READY <port> <session>"
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from harness.image.build import build_variant
from harness.progress import LogProgress
from harness.server.endpoint import Endpoint
from harness.server.engine import connect
from harness.server.labels import SESSION_ID
from harness.server.launch import terminate_as_interrupt
from harness.server.runtime_docker import DockerServer
from harness.spec.variant import load_variant


class Lanes:
    """Which lane is loaded; requests hold it in use, a switch waits for them and for itself."""

    def __init__(self, images: Path, variant: str, run_dir: Path, reject_while_switching: bool) -> None:
        self.client = connect()
        self.variant = load_variant(images, variant)
        self.image = build_variant(self.client, self.variant, LogProgress(run_dir / "build.log", show=print)).ref
        self.run_dir = run_dir
        self.reject = reject_while_switching
        self.cond = threading.Condition()
        self.current: str | None = None
        self.server: DockerServer | None = None
        self.endpoint: Endpoint | None = None
        self.switching = False
        self.active = 0

    def _switch_to(self, lane: str) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server, self.endpoint = None, None
        variant = replace(self.variant, serve=replace(self.variant.serve, served_model_name=lane))
        server = DockerServer(self.client, variant, self.image, self.run_dir / lane, name_suffix=lane)
        self.endpoint = server.__enter__()  # removes what it made if the boot fails
        self.server, self.current = server, lane

    def acquire(self, lane: str) -> Endpoint | None:
        """The endpoint serving `lane`, held in use until `release`; None: rejected (the defect)."""
        while True:
            with self.cond:
                while True:
                    if self.current == lane and not self.switching:
                        self.active += 1
                        return self.endpoint
                    if self.reject and self.switching:
                        return None
                    if not self.switching and self.active == 0:
                        self.switching = True
                        break
                    self.cond.wait()
            try:
                self._switch_to(lane)
            finally:
                with self.cond:
                    self.switching = False
                    self.cond.notify_all()

    def release(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def close(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)


def handler(lanes: Lanes, names: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # a streaming relay, as nginx's tcp_nodelay
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(503 if lanes.switching else 200, b"{}")
            elif self.path == "/v1/models":
                cards = [{"id": n, "object": "model", "owned_by": "lanes"} for n in names]
                self._send(200, json.dumps({"object": "list", "data": cards}).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                lane = json.loads(body).get("model")
            except ValueError:
                lane = None
            if lane not in names:
                self._send(404, json.dumps({"error": {"message": f"unknown model {lane!r}"}}).encode())
                return
            endpoint = lanes.acquire(lane)
            if endpoint is None:
                self._send(503, b'{"error": {"message": "switching lanes"}}')
                return
            try:
                with httpx.Client(base_url=endpoint.base_url, timeout=300) as upstream:
                    answer = upstream.post(self.path, content=body, headers={"Content-Type": "application/json"})
                self._send(answer.status_code, answer.content, answer.headers.get("content-type", "application/json"))
            finally:
                lanes.release()

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images-dir", type=Path, default=Path("images"))
    parser.add_argument("--variant", default="cpu-tiny")
    parser.add_argument("--lanes", default="lane-a,lane-b")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--reject-while-switching", action="store_true")
    args = parser.parse_args()
    names = args.lanes.split(",")
    with terminate_as_interrupt():
        lanes = Lanes(args.images_dir, args.variant, args.run_dir, args.reject_while_switching)
        try:
            lanes.acquire(names[0])  # the first lane loads at start, as the seed's VLLM_MODEL does
            lanes.release()
            with ThreadingHTTPServer(("127.0.0.1", args.port), handler(lanes, names)) as http:
                http.daemon_threads = True
                print(f"READY {http.server_address[1]} {SESSION_ID}", flush=True)
                http.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            lanes.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
