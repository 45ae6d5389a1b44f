"""A server the harness starts and owns, as a context manager: entering starts it and waits until it
is ready (removing it again if that fails), leaving always stops and removes it."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TextIO

from harness.redact import Redactor
from harness.server.endpoint import Endpoint
from harness.server.transport import auth_headers
from harness.server.wait import ExitStatus, WaitStrategy, server_ready, transitions
from harness.spec.variant import Variant


class ManagedServer(ABC):
    runtime = "managed"

    def __init__(self, variant: Variant, run_dir: Path, *, api_key: str | None = None,
                 startup_timeout: float | None = None) -> None:
        self.variant = variant
        self.api_key = api_key
        self.startup_timeout = startup_timeout or variant.container.startup_timeout
        self.log_path = run_dir / "server.log"
        self.redact = Redactor.from_env(variant.secret_env, [api_key])
        self.ready_seconds: float | None = None
        self.health_seen: tuple[str, ...] = ()  # /health as the readiness wait saw it, poll by poll
        self._log_threads: list[threading.Thread] = []
        self._log_lock = threading.Lock()  # several containers may write one log (a stack)

    @property
    @abstractmethod
    def description(self) -> str: ...

    @property
    @abstractmethod
    def base_url(self) -> str: ...

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None:
        """Stop and remove everything `_start` made; safe to call when `_start` failed half-way."""

    @abstractmethod
    def exit_status(self) -> ExitStatus | None: ...

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _follow_log(self, chunks: Iterable[bytes], prefix: str = "") -> None:
        """Copy the server's output to its log file as it comes, secrets masked, in a daemon thread;
        `prefix` tells apart the containers of a stack that share one log."""

        def write(out: TextIO, lines: list[str]) -> None:
            with self._log_lock:
                out.writelines(prefix + self.redact(line) + "\n" for line in lines)
                out.flush()

        def pump() -> None:
            with self.log_path.open("a", encoding="utf-8") as out:
                pending = ""
                for chunk in chunks:
                    pending += chunk.decode("utf-8", errors="replace")
                    *lines, pending = pending.split("\n")
                    write(out, lines)
                if pending:
                    write(out, [pending])

        thread = threading.Thread(target=pump, name=f"log-{self.variant.name}{prefix}", daemon=True)
        self._log_threads.append(thread)
        thread.start()

    def readiness(self) -> WaitStrategy:
        """What ready means: /health and the served name listed (a stack adds its replicas)."""
        return server_ready(self.variant.container.health_path, self.variant.serve.served_model_name)

    @property
    def container_id(self) -> str | None:
        return None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(base_url=self.base_url, model=self.variant.serve.served_model_name,
                        capabilities=self.variant.capabilities, runtime=self.runtime, api_key=self.api_key,
                        variant=self.variant, log_path=self.log_path, health_path=self.variant.container.health_path,
                        container_id=self.container_id, boot_health=transitions(self.health_seen))

    def __enter__(self) -> Endpoint:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start()
            left = max(0.0, self.startup_timeout - (time.monotonic() - started))
            self.health_seen = self.readiness().with_startup_timeout(left).wait_until_ready(self).health
        except BaseException:
            self._stop()
            raise
        self.ready_seconds = time.monotonic() - started
        return self.endpoint

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()
        for thread in self._log_threads:
            thread.join(timeout=5)
