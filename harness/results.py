"""A run's results folder: written as results are produced, so nothing is lost if the run dies.

    reports/runs/<time>-<target>-<session>/
        run.json        what was run: variant, image (id, size, build seconds), ready seconds, ...
        results.jsonl   one line per test outcome, appended as each finishes
        build.log, server.log
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import UsageError
from harness.labels import SESSION_ID


class RunRecorder:
    def __init__(self, reports_dir: Path, target: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.reports_dir = reports_dir
        self.dir = reports_dir / "runs" / f"{stamp}-{target}-{SESSION_ID}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".writable"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"report folder {reports_dir} is not writable ({exc.strerror}); "
                             "pass --reports-dir with a writable folder") from None
        self.run: dict[str, Any] = {"session": SESSION_ID, "target": target, "harness_version": __version__,
                                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.update()

    def update(self, **fields: Any) -> None:
        """Merge into run.json, replacing the file atomically so a reader never sees half of it."""
        self.run.update(fields)
        tmp = self.dir / "run.json.tmp"
        tmp.write_text(json.dumps(self.run, indent=2, default=str))
        os.replace(tmp, self.dir / "run.json")

    def append(self, record: dict[str, Any]) -> None:
        with (self.dir / "results.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=str) + "\n")

    def finish(self) -> None:
        """Mark the run finished and append its line to the results history (reports/history.jsonl)."""
        from harness import history

        if self.run.get("finished"):  # pytest's sessionfinish and unconfigure both close the run
            return
        self.update(finished=True)
        history.append(self.reports_dir, history.run_record(self.dir))
