"""What the user sees while slow things happen (bootstrap, wheel download, docker build, boot).

Every line goes to a log file; milestones (`note`) are shown; tool output (`output`) is only glimpsed,
e.g. as a spinner's text, so a 3-minute build shows life without flooding the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO


class Progress(Protocol):
    def note(self, message: str) -> None:
        """A milestone the user should see."""

    def output(self, line: str) -> None:
        """One line of a tool's output: logged, at most glimpsed."""


class LogProgress:
    def __init__(self, log_path: Path | None, show: Callable[[str], None],
                 glimpse: Callable[[str], None] | None = None) -> None:
        self.show = show
        self.glimpse = glimpse
        self._file: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = log_path.open("a", encoding="utf-8")

    def _write(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def note(self, message: str) -> None:
        self._write(message)
        self.show(message)

    def output(self, line: str) -> None:
        self._write(line)
        if self.glimpse is not None:
            self.glimpse(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
