"""Run records: typed models (`models`), their one writer (`RunRecorder`) and their one reader (`read_run`).

The pytest session writes a run (suites get its folder and writer as the `run_dir` and `record` fixtures);
history, compare, trend, the gate and the nightly read the same models.
"""

from harness.results.history_file import append as append_history
from harness.results.history_file import read as read_history
from harness.results.models import (
    Environment,
    GreedyAnswer,
    HistoryLine,
    ImageRecord,
    LevelMetrics,
    LoadLevel,
    LoadReport,
    LoadVerdict,
    RunRecord,
    Served,
    TestOutcome,
    Verdict,
)
from harness.results.reader import RunFolder, load_folders, read_run
from harness.results.recorder import RunRecorder

__all__ = [
    "Environment",
    "GreedyAnswer",
    "HistoryLine",
    "ImageRecord",
    "LevelMetrics",
    "LoadLevel",
    "LoadReport",
    "LoadVerdict",
    "RunFolder",
    "RunRecord",
    "RunRecorder",
    "Served",
    "TestOutcome",
    "Verdict",
    "append_history",
    "load_folders",
    "read_history",
    "read_run",
]
