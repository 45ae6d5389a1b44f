"""Readiness as small composable strategies, never a fixed sleep.

    wait = AllOf(HttpWait("/health"), ModelListedWait("cpu-tiny")).with_startup_timeout(300)
    seconds = wait.wait_until_ready(target)

On every poll the target is asked whether it is still alive: a server that exited fails the wait at
once with its exit code, OOM flag and log tail, instead of burning the whole timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

import httpx

from harness.errors import ContainerExited, ReadinessTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class ExitStatus:
    code: int | None
    oom_killed: bool = False
    detail: str = ""


class ReadinessTarget(Protocol):
    """What a wait needs from a server being started."""

    description: str

    @property
    def base_url(self) -> str: ...

    @property
    def headers(self) -> dict[str, str]: ...

    def exit_status(self) -> ExitStatus | None:
        """None while the server still runs."""

    def log_tail(self, lines: int = 60) -> str: ...


class WaitStrategy:
    startup_timeout: float = 600.0
    poll_interval: float = 0.5

    def with_startup_timeout(self, seconds: float) -> Self:
        self.startup_timeout = seconds
        return self

    def with_poll_interval(self, seconds: float) -> Self:
        self.poll_interval = seconds
        return self

    def not_ready_reason(self, http: httpx.Client) -> str | None:
        """None when ready, else why not yet (shown if the wait times out)."""
        raise NotImplementedError

    def wait_until_ready(self, target: ReadinessTarget) -> float:
        """Block until ready; return the seconds it took."""
        started = time.monotonic()
        deadline = started + self.startup_timeout
        reason = "not polled yet"
        answered = False  # did anything ever answer over HTTP? If not, the port never opened
        with httpx.Client(base_url=target.base_url, headers=target.headers, timeout=5.0) as http:
            while True:
                status = target.exit_status()
                if status is not None:
                    raise ContainerExited(_exit_message(target.description, status), target.log_tail())
                try:
                    reason = self.not_ready_reason(http) or ""
                    answered = True
                except httpx.HTTPError as exc:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if not reason:
                    return time.monotonic() - started
                if time.monotonic() >= deadline:
                    raise ReadinessTimeout(self._timeout_message(target, reason, answered), target.log_tail())
                time.sleep(self.poll_interval)

    def _timeout_message(self, target: ReadinessTarget, reason: str, answered: bool) -> str:
        if not answered:
            return (f"{target.description} never answered HTTP at {target.base_url} in {self.startup_timeout:.0f}s "
                    f"(last: {reason}): the port never opened; check that the server listens on 0.0.0.0 at "
                    "container.port, or see the log tail for where it is stuck")
        return (f"{target.description} not ready after {self.startup_timeout:.0f}s (last: {reason}); "
                "see the log tail, or raise container.startup_timeout in the variant spec")


def _exit_message(description: str, status: ExitStatus) -> str:
    if status.oom_killed:
        return (f"{description} was OOM-killed during start-up (exit code {status.code}); lower "
                "max_model_len / gpu_memory_utilization or raise the memory limit")
    detail = f" ({status.detail})" if status.detail else ""
    return f"{description} exited during start-up with exit code {status.code}{detail}; see the log tail"


class HttpWait(WaitStrategy):
    def __init__(self, path: str = "/health", status_code: int = 200) -> None:
        self.path = path
        self.status_code = status_code
        self.seen: list[str] = []  # what each poll got, in order: "503", "200", "no answer"

    def for_status_code(self, status_code: int) -> Self:
        self.status_code = status_code
        return self

    def not_ready_reason(self, http: httpx.Client) -> str | None:
        try:
            response = http.get(self.path)
        except httpx.HTTPError:
            self.seen.append("no answer")
            raise
        self.seen.append(str(response.status_code))
        if response.status_code != self.status_code:
            return f"GET {self.path} answered {response.status_code}"
        return None


class ModelListedWait(WaitStrategy):
    """Ready when /v1/models lists the served name: /health can answer before the API routes are up."""

    def __init__(self, model: str) -> None:
        self.model = model

    def not_ready_reason(self, http: httpx.Client) -> str | None:
        response = http.get("/v1/models")
        if response.status_code != 200:
            return f"GET /v1/models answered {response.status_code}"
        try:
            ids = [m.get("id") for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return "GET /v1/models did not answer a JSON model list"
        if self.model not in ids:
            return f"/v1/models lists {ids}, not '{self.model}'"
        return None


class AllOf(WaitStrategy):
    def __init__(self, *strategies: WaitStrategy) -> None:
        self.strategies = strategies

    def not_ready_reason(self, http: httpx.Client) -> str | None:
        for strategy in self.strategies:
            reason = strategy.not_ready_reason(http)
            if reason:
                return reason
        return None


class ConditionWait(WaitStrategy):
    """Ready when `check()` returns None; for what is not asked over the target's HTTP port (e.g. the
    replicas of a stack, seen from inside their containers)."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self.check = check

    def not_ready_reason(self, http: httpx.Client) -> str | None:
        return self.check()


def server_ready(health_path: str, model: str) -> AllOf:
    return AllOf(HttpWait(health_path), ModelListedWait(model))


def transitions(seen: list[str]) -> tuple[str, ...]:
    """Polls collapsed to their changes: ["no answer", "no answer", "503", "200"] → ("no answer", "503", "200")."""
    return tuple(state for i, state in enumerate(seen) if i == 0 or seen[i - 1] != state)


def poll_until(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `condition` until it returns something truthy (returned); TimeoutError naming `what` if never."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)
