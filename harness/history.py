"""The results history: one JSON line per finished run appended to `reports/history.jsonl`, never
rewritten, so trends and the nightly report can be drawn from it with `pandas.read_json(lines=True)`.

A line holds what identifies the run (variant, image id and ref, vLLM version, GPU model and driver,
harness version, the git revision of the images folder, times) and what it found: the final verdict of
every test, and the headline load metrics per level. The raw per-request samples stay in the run folder
(`path`), where `vllm-harness compare` reads them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__

if TYPE_CHECKING:
    import pytest

FILE = "history.jsonl"
# the load metrics kept per level (vllm bench serve's keys, plus our error rate)
METRIC_KEYS = ("median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "median_itl_ms", "p99_itl_ms",
               "median_e2el_ms", "p99_e2el_ms", "request_throughput", "output_throughput", "harness_error_rate",
               "completed", "failed")
# set by `vllm-harness nightly` (and usable by CI) so that history lines can be told apart
TAG_ENV = "VLLM_HARNESS_HISTORY_TAG"


def verdict(report: pytest.TestReport) -> str:
    """passed | failed | error | skipped | xfailed | xpassed (a known issue that no longer fails)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed and "XPASS(strict)" in (report.longreprtext or ""):
        return "xpassed"
    if report.failed and report.when != "call":
        return "error"
    return report.outcome


def environment(images_dir: Path, gpu_vendor: str | None = None) -> dict[str, Any]:
    """Facts about where a run happens, gathered once before boot."""
    return {"harness_version": __version__, "host": platform.node(), "images_git": images_git(images_dir),
            "gpu": gpu_facts(gpu_vendor)}


def images_git(images_dir: Path) -> dict[str, Any] | None:
    """The last commit that touched the images folder, and whether it has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(images_dir), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()
    try:
        return {"commit": git("log", "-1", "--format=%H", "--", "."), "head": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.SubprocessError):
        return None


def gpu_facts(vendor: str | None) -> dict[str, Any] | None:
    from harness.telemetry.gpu import open_gpu_sampler

    sampler, _ = open_gpu_sampler(vendor)
    if sampler is None:
        return None
    try:
        described = sampler.describe()
    finally:
        sampler.close()
    names = sorted({str(d.get("name")) for d in described.get("devices", [])})
    return {"model": ", ".join(names), "driver": described.get("driver"), "count": len(described.get("devices", []))}


def final_verdicts(results_jsonl: Path) -> dict[str, str]:
    """test id -> its verdict, from a suite run's results.jsonl (an error in setup or teardown wins)."""
    verdicts: dict[str, str] = {}
    for line in _lines(results_jsonl):
        found = line.get("verdict") or _old_verdict(line)
        first = line["test"] not in verdicts
        if (line.get("phase") == "call" or found == "error" or first) and verdicts.get(line["test"]) != "error":
            verdicts[line["test"]] = found
    return verdicts


def _old_verdict(line: dict[str, Any]) -> str:
    """Lines written before `verdict` was recorded."""
    detail = " ".join(line.get("detail") or [])
    if "XPASS(strict)" in detail:
        return "xpassed"
    if line.get("outcome") == "failed" and line.get("phase") != "call":
        return "error"
    return str(line.get("outcome"))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(text)
        except ValueError:  # a line cut short by a crash
            continue


def load_results(run_dir: Path) -> list[tuple[str, Path]]:
    """(prefix, folder) of every load report in a run: the run itself (`vllm-harness load`) or its
    `load-<test>/` folders (the load suite)."""
    if (run_dir / "results.json").exists():
        return [("", run_dir)]
    return [(f"{d.name.removeprefix('load-')}/", d) for d in sorted(run_dir.glob("load-*"))
            if (d / "results.json").exists()]


def run_record(run_dir: Path) -> dict[str, Any]:
    """The history line of one run folder."""
    run = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    served = run.get("served") or {}
    env = run.get("environment") or {}
    image = run.get("image") or {}
    metrics: dict[str, dict[str, Any]] = {}
    peak_gpu = None
    for prefix, folder in load_results(run_dir):
        results = json.loads((folder / "results.json").read_text())
        meta = results.get("metadata") or {}
        served = {"vllm_version": meta.get("vllm_version"), **served}
        peak = (meta.get("telemetry") or {}).get("peak_gpu_memory_bytes")
        peak_gpu = max(p for p in (peak, peak_gpu) if p is not None) if (peak or peak_gpu) else None
        for level in results.get("levels", []):
            metrics[f"{prefix}{level['level']}"] = {k: level.get(k) for k in METRIC_KEYS}
    verdicts = final_verdicts(run_dir / "results.jsonl")
    counts: dict[str, int] = {}
    for found in verdicts.values():
        counts[found] = counts.get(found, 0) + 1
    gpu = env.get("gpu") or {}
    return {
        "kind": "load" if (run_dir / "results.json").exists() else "suite",
        "run": run_dir.name, "path": str(run_dir.resolve()), "tag": os.environ.get(TAG_ENV, ""),
        "started": run.get("started"), "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variant": run.get("variant") or run.get("target"), "runtime": run.get("runtime"),
        "image_ref": image.get("ref"), "image_id": image.get("id"), "image_size_bytes": image.get("size_bytes"),
        "vllm_version": served.get("vllm_version"), "max_model_len": served.get("max_model_len"),
        "kv_cache_tokens": served.get("kv_cache_tokens"), "ready_seconds": run.get("ready_seconds"),
        "gpu_model": gpu.get("model"), "gpu_driver": gpu.get("driver"),
        "harness_version": env.get("harness_version") or run.get("harness_version"),
        "images_commit": (env.get("images_git") or {}).get("commit"),
        "images_dirty": (env.get("images_git") or {}).get("dirty"),
        "boot_error": run.get("boot_error"), "verdicts": verdicts, "counts": counts,
        "metrics": metrics, "peak_gpu_memory_bytes": peak_gpu,
    }


def append(reports_dir: Path, record: dict[str, Any]) -> Path:
    """One line, written with a single O_APPEND write and synced: concurrent runs never interleave."""
    path = reports_dir / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read(reports_dir: Path) -> list[dict[str, Any]]:
    """Every history line, oldest first (lines cut short by a crash are skipped)."""
    return list(_lines(reports_dir / FILE))
