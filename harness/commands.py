"""Running a host command while its output streams to the user's log."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping


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
