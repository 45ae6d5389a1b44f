"""Readiness as small composable strategies, never a fixed sleep.

    wait = AllOf(HttpWait("/health"), ModelListedWait("cpu-tiny")).with_startup_timeout(300)
    ready = wait.wait_until_ready(target)    # ready.seconds, ready.health: ("no answer", "503", "200", ...)

On every poll the target is asked whether it is still alive: a server that exited fails the wait at
once with its exit code, OOM flag and log tail, instead of burning the whole timeout.

A strategy keeps no state of its own: each poll returns an `Observation` (the verdict, what /health
answered), the wait collects them, and hands them back in `Ready`, or on the error it raises
(`BootError.health`). Configuring one (`with_startup_timeout`) returns a configured copy.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
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
    removed: bool = False  # the container is gone (so nothing more is known about how it ended)


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


@dataclass(frozen=True)
class Observation:
    """What one poll of a strategy saw."""

    reason: str | None  # None: ready; else why not yet (shown if the wait times out)
    health: tuple[str, ...] = ()  # what each /health request of this poll got: "503", "200", "no answer"
    answered: bool = True  # False: the request got no HTTP answer at all (the port may never have opened)


@dataclass(frozen=True)
class Ready:
    """A wait that ended ready: how long it took and what /health answered, poll by poll."""

    seconds: float
    health: tuple[str, ...]


class WaitStrategy:
    startup_timeout: float = 600.0
    poll_interval: float = 0.5

    def with_startup_timeout(self, seconds: float) -> Self:
        configured = copy.copy(self)
        configured.startup_timeout = seconds
        return configured

    def with_poll_interval(self, seconds: float) -> Self:
        configured = copy.copy(self)
        configured.poll_interval = seconds
        return configured

    def observe(self, http: httpx.Client) -> Observation:
        """One poll: ready or why not yet."""
        raise NotImplementedError

    def wait_until_ready(self, target: ReadinessTarget) -> Ready:
        """Block until ready; a BootError (with the health seen) when the server exits or the time runs out."""
        started = time.monotonic()
        deadline = started + self.startup_timeout
        health: tuple[str, ...] = ()
        ever_answered = False  # did anything ever answer over HTTP? If not, the port never opened
        with httpx.Client(base_url=target.base_url, headers=target.headers, timeout=5.0) as http:
            while True:
                status = target.exit_status()
                if status is not None:
                    raise ContainerExited(_exit_message(target.description, status), target.log_tail(), health)
                try:
                    seen = self.observe(http)
                except httpx.HTTPError as exc:
                    seen = _no_answer(exc)
                health += seen.health
                ever_answered = ever_answered or seen.answered
                if seen.reason is None:
                    return Ready(time.monotonic() - started, health)
                if time.monotonic() >= deadline:
                    message = self._timeout_message(target, seen.reason, ever_answered)
                    raise ReadinessTimeout(message, target.log_tail(), health)
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


def _no_answer(exc: httpx.HTTPError, health: tuple[str, ...] = ()) -> Observation:
    return Observation(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, health, answered=False)


class HttpWait(WaitStrategy):
    """Ready when GET `path` answers `status_code`; what it answered is the health the wait reports."""

    def __init__(self, path: str = "/health", status_code: int = 200) -> None:
        self.path = path
        self.status_code = status_code

    def for_status_code(self, status_code: int) -> Self:
        configured = copy.copy(self)
        configured.status_code = status_code
        return configured

    def observe(self, http: httpx.Client) -> Observation:
        try:
            response = http.get(self.path)
        except httpx.HTTPError as exc:
            return _no_answer(exc, ("no answer",))
        answer = str(response.status_code)
        if response.status_code != self.status_code:
            return Observation(f"GET {self.path} answered {answer}", (answer,))
        return Observation(None, (answer,))


class ModelListedWait(WaitStrategy):
    """Ready when /v1/models lists the served name: /health can answer before the API routes are up."""

    def __init__(self, model: str) -> None:
        self.model = model

    def observe(self, http: httpx.Client) -> Observation:
        response = http.get("/v1/models")
        if response.status_code != 200:
            return Observation(f"GET /v1/models answered {response.status_code}")
        try:
            ids = [m.get("id") for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return Observation("GET /v1/models did not answer a JSON model list")
        return Observation(None if self.model in ids else f"/v1/models lists {ids}, not '{self.model}'")


class AllOf(WaitStrategy):
    """Ready when each strategy is, asked in order; a poll stops at the first that is not."""

    def __init__(self, *strategies: WaitStrategy) -> None:
        self.strategies = strategies

    def observe(self, http: httpx.Client) -> Observation:
        health: tuple[str, ...] = ()
        for strategy in self.strategies:
            try:
                seen = strategy.observe(http)
            except httpx.HTTPError as exc:  # what the strategies before it saw still counts
                seen = _no_answer(exc)
            health += seen.health
            if seen.reason is not None or not seen.answered:
                return Observation(seen.reason, health, seen.answered)
        return Observation(None, health)


class ConditionWait(WaitStrategy):
    """Ready when `check()` returns None; for what is not asked over the target's HTTP port (e.g. the
    replicas of a stack, seen from inside their containers)."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self.check = check

    def observe(self, http: httpx.Client) -> Observation:
        return Observation(self.check())


def server_ready(health_path: str, model: str) -> AllOf:
    return AllOf(HttpWait(health_path), ModelListedWait(model))


def transitions(seen: Sequence[str]) -> tuple[str, ...]:
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
