"""The typed run records: one writer that refuses drift, one reader that still reads old folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import parser
from harness.errors import UsageError
from harness.results import RunRecorder, TestOutcome, Verdict, read_history, read_run


def test_the_writer_refuses_a_field_the_record_lacks(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path, "t", history=False)
    recorder.update(ready_seconds=1.5, image={"ref": "r", "id": "sha256:1", "size_bytes": 3})
    with pytest.raises(TypeError, match=r"run.json field .ready_secs.: Object has no attribute"):
        recorder.update(ready_secs=2)
    with pytest.raises(TypeError, match=r"run.json field 'ready_seconds'"):
        recorder.update(ready_seconds="soon")
    written = json.loads((recorder.dir / "run.json").read_text())
    assert written["ready_seconds"] == 1.5 and written["image"]["id"] == "sha256:1"
    assert "boot_error" not in written  # only what the run set is written


def test_old_lines_without_verdicts_still_read(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"target": "x", "some_future_field": 1}))
    lines = [{"test": "a", "phase": "call", "outcome": "failed", "detail": ["XPASS(strict) fixed"]},
             {"test": "b", "phase": "setup", "outcome": "failed"},
             {"test": "c", "phase": "call", "outcome": "passed", "verdict": "passed"},
             {"test": "c", "phase": "teardown", "outcome": "failed", "verdict": "error"}]
    (run / "results.jsonl").write_text("\n".join(map(json.dumps, lines)) + '\n{"test": "cut sh')
    found = read_run(run)
    assert found.verdicts == {"a": Verdict.XPASSED, "b": Verdict.ERROR, "c": Verdict.ERROR}
    line = found.history_line("t")
    assert line.variant == "x" and line.kind == "suite" and line.counts == {"xpassed": 1, "error": 2}


def test_a_file_of_other_records_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"not": "a history line"}\n')
    with pytest.raises(UsageError, match=r"history.jsonl: a line is not a HistoryLine"):
        read_history(tmp_path)


def test_finish_appends_one_history_line_once(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path, "t")
    recorder.append(TestOutcome(test="x", phase="call", outcome="passed", verdict=Verdict.PASSED,
                                properties={"shape": object()}))
    first = recorder.finish()
    assert recorder.finish() is first and first is not None and first.verdicts == {"x": Verdict.PASSED}
    assert [line.run for line in read_history(tmp_path)] == [recorder.dir.name]


def test_target_options_are_shared_with_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_HARNESS_API_KEY", "k")
    args = parser().parse_args(["load", "--base-url", "http://h:1"])
    assert args.api_key == "k" and args.runtime == "docker"
    with pytest.raises(SystemExit):
        parser().parse_args(["up", "x", "--runtime", "kubernetes"])
