"""One side of a comparison: one run folder or several repeated ones, read into per-request samples
(pooled over the runs), one value per run for run-level facts, test verdicts and greedy answers.

A path may be a run folder (`reports/runs/<run>`, with run.json, or a load run's folder with
results.json), a folder holding runs (every run folder below it), or a glob of either.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare.thresholds import REPORTED
from harness.errors import UsageError
from harness.load import metrics
from harness.load.records import FILE as REQUESTS
from harness.load.records import read
from harness.results import GreedyAnswer, LoadReport, Verdict, read_run


@dataclass
class Side:
    label: str
    runs: list[Path]
    samples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (level, metric) -> pooled
    per_run: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (level, metric) -> one per run
    errors: dict[str, tuple[int, int]] = field(default_factory=dict)  # level -> (failed, sent), summed
    run_values: dict[str, list[float]] = field(default_factory=dict)  # run-level metric -> one per run
    verdicts: list[dict[str, Verdict]] = field(default_factory=list)  # one per suite run
    greedy: dict[str, GreedyAnswer] | None = None  # the first run's fixed-corpus answers, by image label
    facts: dict[str, Any] = field(default_factory=dict)  # identity of the first run: vLLM version, image
    invalid: list[str] = field(default_factory=list)  # load runs whose client judged itself saturated
    left_out: list[str] = field(default_factory=list)  # those of them not compared: valid runs of their levels exist
    boot_errors: list[str] = field(default_factory=list)  # why a run's server never came up (build or boot)

    @property
    def levels(self) -> list[str]:
        return list(dict.fromkeys(level for level, _ in self.per_run))


def discover(paths: list[str]) -> list[Path]:
    """Run folders named by paths, folders of runs or globs; each once, in order."""
    found: list[Path] = []
    for text in paths:
        matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
        if not matches:
            raise UsageError(f"'{text}' matches no run folder; pass run folders (reports/runs/<run>) or a glob")
        for match in matches:
            path = Path(match)
            if not path.is_dir():
                raise UsageError(f"{path} is not a folder; pass run folders (reports/runs/<run>) or a glob")
            found.extend(_runs_in(path))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError(f"no run folder (run.json or results.json) in {', '.join(paths)}")
    return unique


def _runs_in(path: Path) -> list[Path]:
    if (path / "run.json").exists() or (path / "results.json").exists():
        return [path]
    found = {p.parent for p in path.rglob("run.json")}
    # a run inside another run (the differential's second boot files its logs there) is part of its
    # parent, not a round of its own (seen: a 3-round gate side counted as 6 runs)
    runs = sorted(r for r in found if not any(parent in found for parent in r.parents))
    loose = sorted({p.parent for p in path.rglob("results.json")
                    if not any(r in p.parents for r in runs)})
    return runs + loose


def load_side(label: str, paths: list[str], invalid_fallback: bool = True) -> Side:
    """`invalid_fallback=False` (the gate's noise floor): an invalid load run is never compared, so a
    floor is not made of a busy client's delays."""
    side = Side(label, discover(paths))
    invalid: list[tuple[str, str, Path, LoadReport]] = []
    for run_dir in side.runs:
        invalid += _read_run(side, run_dir)
    # an invalid run's latencies are the busy client's, not the server's: compared only where a level has
    # no valid run at all (then every invalid run of it, and said in the notes)
    valid = set(side.levels)
    for name, prefix, folder, _ in invalid:
        if not invalid_fallback or any(level.startswith(prefix) for level in valid):
            side.left_out.append(name)
        else:
            _read_requests(side, prefix, folder)
    for _, prefix, _, report in invalid:  # the server's counters do not depend on the client's delays
        _read_reported(side, prefix, report)
    return side


def _read_run(side: Side, run_dir: Path) -> list[tuple[str, str, Path, LoadReport]]:
    """Read one run into the side; returns its invalid load runs (name, level prefix, folder), unread."""
    invalid = []
    found = read_run(run_dir)
    if found.run.boot_error:
        side.boot_errors.append(found.run.boot_error[:300])
    for load in found.loads:
        if not (load.folder / REQUESTS).exists():
            continue
        if load.report.valid is False:
            name = f"{run_dir.name}/{load.prefix or '.'}"
            side.invalid.append(f"{name}: {(load.report.invalid_reasons or ['?'])[0]}")
            invalid.append((name, load.prefix, load.folder, load.report))
        else:
            _read_requests(side, load.prefix, load.folder)
            _read_reported(side, load.prefix, load.report)
    served, image = found.served, found.image
    if not side.facts:
        side.facts = {"run": run_dir.name, "vllm_version": served.vllm_version,
                      "image_id": image.id if image else None, "image_ref": image.ref if image else None}
    values = {"peak_gpu_memory_bytes": found.peak_gpu_memory_bytes, "ready_seconds": found.run.ready_seconds,
              "image_size_bytes": image.size_bytes if image else None, "kv_cache_tokens": served.kv_cache_tokens,
              "max_model_len": served.max_model_len}
    for name, value in values.items():
        if value is not None:
            side.run_values.setdefault(name, []).append(float(value))
    if found.outcomes:
        side.verdicts.append(found.verdicts)
    if side.greedy is None and found.greedy:
        side.greedy = found.greedy
    return invalid


def _read_reported(side: Side, prefix: str, report: LoadReport) -> None:
    """The per-level values only results.json has (cache hit rates, energy), one per run."""
    for level in report.levels:
        for name, key in REPORTED.items():
            value = getattr(level, key, None)
            if value is not None:
                side.per_run.setdefault((f"{prefix}{level.level}", name), []).append(float(value))


def _read_requests(side: Side, prefix: str, folder: Path) -> None:
    frame = read(folder / REQUESTS)
    measured = frame[frame["phase"] == "measure"]
    for level, rows in measured.groupby("level", sort=False):
        key = f"{prefix}{level}"
        ok = rows[metrics.successful(rows)]
        out = metrics.output_tokens(ok)
        ttft = ok["ttft"].to_numpy(dtype=float)
        e2el = ok["e2el"].to_numpy(dtype=float)
        multi = out > 1
        per_request = {
            "ttft": ttft * 1e3, "e2el": e2el * 1e3, "itl": metrics.itls(ok) * 1e3,
            "tpot": ((e2el - ttft) / np.maximum(out - 1, 1))[multi] * 1e3,
            # throughput has no per-request sample: each request's own output rate stands in for it
            "output_throughput": np.where(e2el > 0, out / np.maximum(e2el, 1e-9), 0.0),
            "request_throughput": np.where(e2el > 0, 1 / np.maximum(e2el, 1e-9), 0.0),
        }
        for name, values in per_request.items():
            old = side.samples.get((key, name))
            side.samples[(key, name)] = values if old is None else np.concatenate([old, values])
        duration = metrics.duration(rows)
        aggregate = {"ttft": np.median(ttft) * 1e3 if len(ttft) else np.nan,
                     "ttft_p90": np.percentile(ttft, 90) * 1e3 if len(ttft) else np.nan,
                     "e2el": np.median(e2el) * 1e3 if len(e2el) else np.nan,
                     "itl": np.median(per_request["itl"]) if len(per_request["itl"]) else np.nan,
                     "tpot": np.median(per_request["tpot"]) if len(per_request["tpot"]) else np.nan,
                     "request_throughput": len(ok) / duration if duration > 0 else np.nan,
                     "output_throughput": out.sum() / duration if duration > 0 else np.nan}
        for name, value in aggregate.items():
            side.per_run.setdefault((key, name), []).append(float(value))
        failed, sent = side.errors.get(key, (0, 0))
        side.errors[key] = (failed + int((~metrics.successful(rows)).sum()), sent + len(rows))
