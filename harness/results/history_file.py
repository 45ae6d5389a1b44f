"""reports/history.jsonl: one `HistoryLine` per finished run, appended, never rewritten, so trends and the
nightly report are drawn from it (also with `pandas.read_json(lines=True)`). The raw per-request samples
stay in the run folder (`path`), where `vllm-harness compare` reads them."""

from __future__ import annotations

import os
from pathlib import Path

from harness.results.models import HistoryLine
from harness.results.reader import read_lines

FILE = "history.jsonl"
# set by `vllm-harness nightly` (and usable by CI) so that history lines can be told apart
TAG_ENV = "VLLM_HARNESS_HISTORY_TAG"


def append(reports_dir: Path, line: HistoryLine) -> Path:
    """One line, written with a single O_APPEND write and synced: concurrent runs never interleave."""
    path = reports_dir / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.model_dump_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read(reports_dir: Path) -> list[HistoryLine]:
    """Every history line, oldest first (lines cut short by a crash are skipped)."""
    return list(read_lines(reports_dir / FILE, HistoryLine))
