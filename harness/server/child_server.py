"""A server run as a child process that prints its URL once it listens: started, waited for (bounded),
always stopped. For test and benchmark servers that must not share a GIL or a heap with their caller."""

from __future__ import annotations

import contextlib
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def child_server(module: str, *args: str, timeout: float = 30.0, cwd: Path | None = None) -> Iterator[str]:
    """`python -u -m module args...`; yields the last word of its first line (its URL) once printed."""
    process = subprocess.Popen([sys.executable, "-u", "-m", module, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=cwd)
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = process.stdout.readline() if ready else ""
        if "http://" not in line:
            raise RuntimeError(f"{module} did not start within {timeout:g} s (exit {process.poll()}): {line.strip()!r}")
        yield line.split()[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
