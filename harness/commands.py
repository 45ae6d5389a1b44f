"""Running a host command while its output streams to the user's log."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from typing import IO


def run_logged(command: list[str], log: Callable[[str], None], skip: Callable[[str], bool] = lambda _: False,
               tail_lines: int = 20, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run to completion, passing each output line to `log`; returns the exit code and the last lines."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    tail: list[str] = []
    with process:
        for raw in process.stdout:
            line = raw.rstrip()
            if skip(line):
                continue
            log(line)
            tail = [*tail[-(tail_lines - 1):], line]
    return process.returncode, "\n".join(tail)


def run_session(command: list[str], *, timeout: float, stdout: IO[str] | None = None,
                env: Mapping[str, str] | None = None, grace: float = 60.0) -> int:
    """Run a child pytest session to its end and return its exit code. When this process is interrupted
    (Ctrl-C, CI cancel's SIGTERM) or the timeout passes, the child gets SIGTERM and `grace` seconds to
    remove its containers before it is killed: subprocess.run would SIGKILL it at once and orphan them."""
    child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT if stdout else None, env=env)
    try:
        return child.wait(timeout=timeout)
    except BaseException:
        child.terminate()
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
