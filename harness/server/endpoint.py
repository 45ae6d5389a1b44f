"""A running OpenAI-compatible server, however it was started (container, process, or given URL).
Suites only ever see this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.server.transport import FreshAfterServerError, auth_headers
from harness.spec.variant import Capabilities, Variant


def server_root(url: str) -> str:
    """Accept the server root or its /v1 URL, with or without a trailing slash."""
    root = url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


@dataclass(frozen=True)
class StackMembers:
    """The containers of a stack the harness runs (seed 003), for checks that look behind the gateway."""

    gateway: str  # container ids
    replicas: tuple[str, ...]
    network: str  # the serving network's name
    offline: bool  # the serving network is internal
    port: int  # the replicas' serving port


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # the server root, without /v1
    model: str  # the name clients put in the `model` field
    capabilities: Capabilities
    runtime: str  # docker | process | remote
    api_key: str | None = None
    variant: Variant | None = None
    log_path: Path | None = None  # where the server's own log is being written, if we own it
    health_path: str = "/health"
    container_id: str | None = None  # the serving container, when the harness runs one
    boot_health: tuple[str, ...] = ()  # /health's states while booting, e.g. ("no answer", "503", "200")
    stack: StackMembers | None = None  # the gateway and replicas, when the target is a stack

    @property
    def v1_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)

    def client(self, timeout: float = 120.0) -> httpx.Client:
        """A plain HTTP client with no retries (a retry would hide the failure a check looks for) that never
        reuses a connection after a 5xx (see harness.server.transport)."""
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout,
                            transport=FreshAfterServerError())

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
