"""A run's results folder, written as results are produced so nothing is lost if the run dies. The
recorder is its only writer: the pytest session (and `vllm-harness up/load`) own one; suites reach it
through the plugin's `run_dir` and `record` fixtures.

    reports/runs/<time>-<target>-<session>/
        run.json        RunRecord: what was run (variant, image, ready seconds, ...), replaced atomically
        results.jsonl   TestOutcome per test, appended as each finishes
        greedy.jsonl    GreedyAnswer per fixed-corpus answer
        build.log, server.log
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness import __version__
from harness.errors import UsageError
from harness.results import history_file
from harness.results.models import GreedyAnswer, HistoryLine, RunRecord, TestOutcome
from harness.results.reader import GREEDY_FILE, OUTCOMES_FILE, RUN_FILE, read_run
from harness.server.labels import SESSION_ID


class RunRecorder:
    """`history=False`: a run inside another run (a second server a suite boots) adds no history line."""

    def __init__(self, reports_dir: Path, target: str, *, run_dir: Path | None = None, history: bool = True) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.reports_dir = reports_dir
        self.dir = run_dir or reports_dir / "runs" / f"{stamp}-{target}-{SESSION_ID}"
        self.history = history
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".writable"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"report folder {reports_dir} is not writable ({exc.strerror}); "
                             "pass --reports-dir with a writable folder") from None
        self.run = RunRecord(session=SESSION_ID, target=target, harness_version=__version__,
                             started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.history_line: HistoryLine | None = None  # set by finish()
        self.update()

    def update(self, **fields: Any) -> None:
        """Set fields of run.json and replace the file atomically, so a reader never sees half of it.
        A name RunRecord lacks, or a value of the wrong type, raises here, at the writer."""
        for name, value in fields.items():
            try:
                setattr(self.run, name, value)
            except ValidationError as exc:
                raise TypeError(f"run.json field '{name}': {exc.errors()[0]['msg']}") from None
        tmp = self.dir / f"{RUN_FILE}.tmp"
        tmp.write_text(self.run.model_dump_json(indent=2, exclude_unset=True))
        os.replace(tmp, self.dir / RUN_FILE)

    def append(self, outcome: TestOutcome) -> None:
        # properties are whatever a check recorded: what JSON cannot hold is written as its str()
        self._append_line(OUTCOMES_FILE, json.dumps(outcome.model_dump(exclude_none=True), default=str))

    def answer(self, answer: GreedyAnswer) -> None:
        """Append one fixed-corpus answer to greedy.jsonl, as it arrives."""
        self._append_line(GREEDY_FILE, json.dumps(answer.model_dump()))  # as written before the models

    def _append_line(self, name: str, line: str) -> None:
        with (self.dir / name).open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def finish(self) -> HistoryLine | None:
        """Mark the run finished and append its line to the results history (reports/history.jsonl)."""
        if self.run.finished:  # pytest's sessionfinish and unconfigure both close the run
            return self.history_line
        self.update(finished=True)
        if self.history:
            self.history_line = read_run(self.dir).history_line(os.environ.get(history_file.TAG_ENV, ""))
            history_file.append(self.reports_dir, self.history_line)
        return self.history_line
