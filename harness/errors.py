"""The harness's exception tree. Callers catch `HarnessError`; the CLI and the pytest plugin print its
message as one line, never a traceback.

    HarnessError
    ├── UsageError             the user asked for something that cannot be (exit code 2)
    │   ├── SpecError          a variant spec file is malformed
    │   └── UnknownVariant     --image names no folder under images/
    ├── EnvironmentProblem     the machine lacks something (Docker engine, debootstrap, a GPU)
    ├── BuildError             an image (or its base, or its wheelhouse) failed to build
    └── BootError              a server did not become ready
        ├── ContainerExited    it exited (or was OOM-killed) during start-up
        └── ReadinessTimeout   it stayed up but never became ready in time
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; its message is one line for the user."""

    exit_code = 1


class UsageError(HarnessError):
    exit_code = 2


class SpecError(UsageError):
    def __init__(self, path: object, field: str, problem: str) -> None:
        super().__init__(f"{path}: field '{field}': {problem}")
        self.path = path
        self.field = field


class UnknownVariant(UsageError):
    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "(none)"
        super().__init__(f"unknown image variant '{name}'; variants are: {listed}")
        self.name = name


class EnvironmentProblem(HarnessError):
    pass


class BuildError(HarnessError):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class BootError(HarnessError):
    def __init__(self, message: str, log_tail: str = "", health: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.health = health  # what /health answered while the readiness wait polled, poll by poll


class ContainerExited(BootError):
    pass


class ReadinessTimeout(BootError):
    pass


__all__ = [
    "BootError",
    "BuildError",
    "ContainerExited",
    "EnvironmentProblem",
    "HarnessError",
    "ReadinessTimeout",
    "SpecError",
    "UnknownVariant",
    "UsageError",
]
