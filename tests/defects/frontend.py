"""A Dynamo-like HTTP frontend, run as its own process: `python -m tests.defects.frontend UPSTREAM LOG`.

Not a defect: the frontend's routing. /health is its own; only the OpenAI routes reach the worker (each
forwarded path is appended to LOG). It runs apart from the test process so that nothing that process
holds (its heap, its threads, the GIL) can delay a stream on its way through: in the full CI session an
in-process proxy delivered streams in one read, and a timing check must see the server, not the test.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from tests.defects.proxy import Defect, DefectProxy, Exchange, Reply

ROUTES = ("/v1/models", "/v1/chat/completions", "/v1/completions")


class Frontend(Defect):
    def __init__(self, log: Path) -> None:
        self.log = log

    def request(self, exchange: Exchange) -> Reply | None:
        path = exchange.path.split("?", 1)[0]
        if path == "/health":
            return Reply(200, b'{"status": "healthy"}')
        if path not in ROUTES:
            return Reply(404, b'{"error": {"message": "not found", "type": "not_found"}}')
        with self.log.open("a") as out:
            out.write(path + "\n")
        return None


def main() -> None:
    upstream, log = sys.argv[1], Path(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with DefectProxy(upstream, Frontend(log)) as url:
        print(f"frontend on {url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
