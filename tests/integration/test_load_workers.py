"""Locust's distributed mode for real: a master and two local worker processes drive the timed server;
every request any worker sent is in the one requests.csv, once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.load.config import LoadConfig
from harness.load.records import Chunks, read
from harness.load.runner import LoadError, run_agent
from harness.load.timed_server import running

REQUESTS = 40
OUTPUT_LEN = 6


def test_two_worker_processes_merge_into_one_record_file(tmp_path: Path) -> None:
    with running(10, 5) as url:
        config = LoadConfig(base_url=url, model="timed", concurrency=(8,), requests=REQUESTS, input_len=4,
                            output_len=OUTPUT_LEN, warmup=1, workers=2)
        run_agent(config, tmp_path)
    frame = read(tmp_path / "requests.csv")
    measured = frame[frame["phase"] == "measure"]
    assert len(measured) == REQUESTS and measured["id"].is_unique
    assert (frame["phase"] == "warmup").sum() == 1  # the master's, once
    assert measured["worker"].nunique() == 2, measured["worker"].value_counts().to_dict()
    assert (measured["status"] == 200).all() and (measured["error_type"].fillna("") == "").all()
    assert (Chunks.of(measured).counts == OUTPUT_LEN).all()
    assert (tmp_path / "client.csv").read_text().count("\n") > 1  # the workers' self-check rows reached it


def test_several_workers_several_levels_finish(tmp_path: Path) -> None:
    """The field report's hang: with 2 workers a level of 1 stream leaves one worker without users, and
    it never reported its level done. A duration sweep and a request-count sweep must both finish."""
    with running(2, 1) as url:
        for mode, amount in (("duration", {"duration": 2.0}), ("requests", {"requests": 24})):
            config = LoadConfig(base_url=url, model="timed", concurrency=(1, 3, 8), input_len=4, output_len=4,
                                warmup=0, workers=2, timeout=10, **amount)  # type: ignore[arg-type]
            started = time.monotonic()
            run_agent(config, tmp_path / mode)
            took = time.monotonic() - started
            measured = read(tmp_path / mode / "requests.csv")
            counts = measured.groupby("level").size().to_dict()
            assert set(counts) == {"c=1", "c=3", "c=8"}, counts
            if mode == "requests":
                assert all(n == 24 for n in counts.values()), counts
            assert took < 60, f"{mode} sweep took {took:.0f} s"
            log = (tmp_path / mode / "agent.log").read_text()
            assert "level c=8 done" in log, log[-2000:]


def test_a_worker_lost_mid_level_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    """A run that cannot progress fails at once and says why, instead of waiting for the lost worker."""
    killed: list[int] = []

    def kill_a_worker(_: int) -> None:
        records = tmp_path / "requests.csv"
        if killed or not records.exists() or ",c=4," not in records.read_text():  # not measuring yet
            return
        for proc in Path("/proc").iterdir():  # this run's workers: their command line names its folder
            cmdline = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
            if str(tmp_path).encode() in cmdline and b"worker" in cmdline:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
                return

    with running(2, 1) as url:
        config = LoadConfig(base_url=url, model="timed", concurrency=(4,), duration=30.0, input_len=4,
                            output_len=4, warmup=1, workers=2, timeout=120)
        started = time.monotonic()
        with pytest.raises(LoadError, match=r"level c=4 cannot finish: local worker \d exited with code -9"):
            run_agent(config, tmp_path, on_rows=kill_a_worker)
    assert killed and time.monotonic() - started < 25  # well before the level's 30 s, let alone the stall bound
