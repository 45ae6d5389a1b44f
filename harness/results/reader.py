"""The one reader of run folders: history lines, `compare` and the gate read a run through `read_run`.

    reports/runs/<run>/
        run.json, results.jsonl, greedy.jsonl       a suite run (`pytest suites/`) or `vllm-harness load`
        results.json                                 `vllm-harness load`: the run is itself a load report
        load-<test>/results.json                     the load suite: one report per load test
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from harness.errors import UsageError
from harness.results.models import (
    GreedyAnswer,
    HistoryLine,
    ImageRecord,
    LevelMetrics,
    LoadReport,
    RunRecord,
    Served,
    TestOutcome,
    Verdict,
)

RUN_FILE = "run.json"
OUTCOMES_FILE = "results.jsonl"
GREEDY_FILE = "greedy.jsonl"
LOAD_FILE = "results.json"

M = TypeVar("M", bound=BaseModel)


def read_lines(path: Path, model: type[M]) -> Iterator[M]:
    """A JSON-lines file as models; a line cut short by a crash is skipped, a missing file is empty."""
    if not path.exists():
        return
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            yield model.model_validate_json(text)
        except ValidationError:
            if _is_json(text):  # whole but not this record: the file is not what its name says
                raise UsageError(f"{path}: a line is not a {model.__name__}: {text[:120]}") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def read_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise UsageError(f"{path}: field '{where}': {first['msg']}") from None


def final_verdicts(outcomes: list[TestOutcome]) -> dict[str, Verdict]:
    """test id -> its verdict (the call phase's; an error in setup or teardown wins)."""
    verdicts: dict[str, Verdict] = {}
    for line in outcomes:
        found = line.final()
        first = line.test not in verdicts
        if (line.phase == "call" or found is Verdict.ERROR or first) and verdicts.get(line.test) is not Verdict.ERROR:
            verdicts[line.test] = found
    return verdicts


@dataclass(frozen=True)
class LoadRun:
    prefix: str  # "" for `vllm-harness load`, "<test>/" for the load suite's folders
    folder: Path
    report: LoadReport


@dataclass(frozen=True)
class RunFolder:
    """One run folder, read once."""

    path: Path
    run: RunRecord
    outcomes: list[TestOutcome] = field(default_factory=list)
    loads: list[LoadRun] = field(default_factory=list)
    greedy: dict[str, GreedyAnswer] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "load" if (self.path / LOAD_FILE).exists() else "suite"

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return final_verdicts(self.outcomes)

    @property
    def served(self) -> Served:
        """The server's own answers, else what a load report recorded."""
        served = self.run.served or Served()
        for load in self.loads:
            if served.vllm_version is None and load.report.metadata.vllm_version is not None:
                served = served.model_copy(update={"vllm_version": load.report.metadata.vllm_version})
        return served

    @property
    def image(self) -> ImageRecord | None:
        return self.run.image or next((lr.report.metadata.image for lr in self.loads if lr.report.metadata.image),
                                      None)

    @property
    def peak_gpu_memory_bytes(self) -> int | float | None:
        peaks = [lr.report.metadata.telemetry.peak_gpu_memory_bytes for lr in self.loads
                 if lr.report.metadata.telemetry is not None]
        return max((p for p in peaks if p is not None), default=None)

    @property
    def metrics(self) -> dict[str, LevelMetrics]:
        return {f"{lr.prefix}{level.level}": LevelMetrics.model_validate(level.model_dump(exclude={"level"}))
                for lr in self.loads for level in lr.report.levels}

    def history_line(self, tag: str = "") -> HistoryLine:
        verdicts = self.verdicts
        counts: dict[str, int] = {}
        for found in verdicts.values():
            counts[found.value] = counts.get(found.value, 0) + 1
        env = self.run.environment
        gpu = env.gpu if env and env.gpu else None
        git = env.images_git if env and env.images_git else None
        image = self.run.image
        served = self.served
        return HistoryLine(
            kind=self.kind, run=self.path.name, path=str(self.path.resolve()), tag=tag,
            started=self.run.started, recorded=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            variant=self.run.variant or self.run.target, runtime=self.run.runtime,
            image_ref=image.ref if image else None, image_id=image.id if image else None,
            image_size_bytes=image.size_bytes if image else None,
            vllm_version=served.vllm_version, max_model_len=served.max_model_len,
            kv_cache_tokens=served.kv_cache_tokens, ready_seconds=self.run.ready_seconds,
            gpu_model=gpu.model if gpu else None, gpu_driver=gpu.driver if gpu else None,
            harness_version=(env.harness_version if env else None) or self.run.harness_version,
            images_commit=git.commit if git else None, images_dirty=git.dirty if git else None,
            boot_error=self.run.boot_error, verdicts=verdicts, counts=counts, metrics=self.metrics,
            peak_gpu_memory_bytes=self.peak_gpu_memory_bytes)


def load_folders(run_dir: Path) -> list[tuple[str, Path]]:
    """(prefix, folder) of every load report in a run: the run itself (`vllm-harness load`) or its
    `load-<test>/` folders (the load suite)."""
    if (run_dir / LOAD_FILE).exists():
        return [("", run_dir)]
    return [(f"{d.name.removeprefix('load-')}/", d) for d in sorted(run_dir.glob("load-*"))
            if (d / LOAD_FILE).exists()]


def read_run(run_dir: Path) -> RunFolder:
    run = read_model(run_dir / RUN_FILE, RunRecord) if (run_dir / RUN_FILE).exists() else RunRecord()
    loads = [LoadRun(prefix, folder, read_model(folder / LOAD_FILE, LoadReport))
             for prefix, folder in load_folders(run_dir)]
    greedy = {a.label: a for a in read_lines(run_dir / GREEDY_FILE, GreedyAnswer)}
    return RunFolder(run_dir, run, list(read_lines(run_dir / OUTCOMES_FILE, TestOutcome)), loads, greedy)
