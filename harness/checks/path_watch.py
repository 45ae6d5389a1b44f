"""Whether the path to the server answered other requests while a stream's text was held back.

A stream whose text arrives in one burst at its end was held somewhere: by the server or a gateway that
buffers (a defect), or by this machine, when the server's own busy threads leave no CPU to the client or
to a relay on the way (Docker's userland proxy; measured: vLLM's CPU build on a 2-core host holds the
proxy, not the stream, for up to the whole answer). The two differ in what else gets through: a buffering
hop answers other requests while it holds the stream; a frozen path answers none. So while a stream is
read, a second connection asks for `GET /v1/models` (cheap, served by every OpenAI-compatible server)
one after another, and the times each was sent and answered are kept."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import httpx

PROBE_PATH = "/v1/models"
PROBE_TIMEOUT_S = 5.0
PAUSE_S = 0.01  # between probes: enough to read the path's state, too little to load the server
JOIN_S = PROBE_TIMEOUT_S + 1.0


class PathWatch:
    """Context manager: probes the path in a thread until the block ends (each probe bounded by its
    timeout, the thread joined on exit)."""

    def __init__(self, api: httpx.Client, path: str = PROBE_PATH) -> None:
        self.api, self.path = api, path
        self.answered: list[tuple[float, float]] = []  # (sent, answered), perf_counter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="path-watch", daemon=True)

    def __enter__(self) -> PathWatch:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(JOIN_S)

    def _probe(self) -> None:
        while not self._stop.is_set():
            sent = time.perf_counter()
            try:
                response = self.api.get(self.path, timeout=PROBE_TIMEOUT_S)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                self.answered.append((sent, time.perf_counter()))
            self._stop.wait(PAUSE_S)

    def answered_within(self, start: float, end: float) -> int:
        """How many probes were both sent and answered inside [start, end]."""
        return sum(1 for sent, done in list(self.answered) if sent >= start and done <= end)
