"""Locust's distributed mode for real: a master and two local worker processes drive the timed server;
every request any worker sent is in the one requests.csv, once."""

from __future__ import annotations

from pathlib import Path

from harness.load.config import LoadConfig
from harness.load.records import Chunks, read
from harness.load.runner import run_agent
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
