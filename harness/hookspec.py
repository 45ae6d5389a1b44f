"""The harness plugin's own hooks: implement them in a conftest.py or a plugin to extend a run.

    def pytest_harness_ready(config, endpoint):            the target is up (e.g. warm a cache, tag a dashboard)
    def pytest_harness_run_finished(config, run_dir, line): the run folder is complete (e.g. upload it)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import pytest

    from harness.results import HistoryLine
    from harness.server.endpoint import Endpoint

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_harness_ready(config: pytest.Config, endpoint: Endpoint) -> None:
    """Called once, when the server under test is ready, before the first test that needs it."""


@hookspec
def pytest_harness_run_finished(config: pytest.Config, run_dir: Path, line: HistoryLine | None) -> None:
    """Called once at the end of a run that had a run folder; `line` is what the history got (None when the
    run adds none)."""
