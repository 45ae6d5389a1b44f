"""The gate and the nightly run pytest sessions as children: interrupted, the child must get SIGTERM and
time to remove its containers, not the SIGKILL subprocess.run gives it (orphaned containers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.commands import run_session

# a child that, like pytest with the harness plugin, cleans up on SIGTERM (slowly, like `docker stop`)
CHILD = """
import signal, sys, time
from pathlib import Path
def cleanup(*_):
    time.sleep(0.5)
    Path(sys.argv[1]).write_text("removed")
    sys.exit(130)
signal.signal(signal.SIGTERM, cleanup)
Path(sys.argv[2]).write_text("started")
time.sleep(60)
"""


def test_interrupted_session_gets_to_clean_up(tmp_path: Path) -> None:
    cleaned, started = tmp_path / "cleaned", tmp_path / "started"
    with pytest.raises(subprocess.TimeoutExpired):
        run_session([sys.executable, "-c", CHILD, str(cleaned), str(started)], timeout=3)
    assert started.exists(), "the child never started"
    assert cleaned.read_text() == "removed"


def test_exit_code_is_returned(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as log:
        assert run_session([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], stdout=log, timeout=30) == 3
    assert (tmp_path / "log").read_text() == "hi\n"
