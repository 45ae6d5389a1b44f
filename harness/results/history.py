"""The results history (reports/history.jsonl, one `HistoryLine` per finished run: see
harness.results.history_file), and the facts about where a run happens that its line carries.

A line holds what identifies the run (variant, image id and ref, vLLM version, GPU model and driver,
harness version, the git revision of the images folder, times) and what it found: the final verdict of
every test, and the headline load metrics per level.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from harness import __version__
from harness.results.history_file import FILE, TAG_ENV, append, read
from harness.results.models import Environment, GpuFacts, HistoryLine, ImagesGit
from harness.results.reader import read_run


def environment(images_dir: Path, gpu_vendor: str | None = None) -> Environment:
    """Facts about where a run happens, gathered once before boot."""
    return Environment(harness_version=__version__, host=platform.node(), images_git=images_git(images_dir),
                       gpu=gpu_facts(gpu_vendor))


def images_git(images_dir: Path) -> ImagesGit | None:
    """The last commit that touched the images folder, and whether it has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(images_dir), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()
    try:
        return ImagesGit(commit=git("log", "-1", "--format=%H", "--", "."), head=git("rev-parse", "HEAD"),
                         dirty=bool(git("status", "--porcelain", "--", ".")))
    except (OSError, subprocess.SubprocessError):
        return None


def gpu_facts(vendor: str | None) -> GpuFacts | None:
    from harness.telemetry.gpu import open_gpu_sampler

    sampler, _ = open_gpu_sampler(vendor)
    if sampler is None:
        return None
    try:
        described = sampler.describe()
    finally:
        sampler.close()
    names = sorted({str(d.get("name")) for d in described.get("devices", [])})
    driver = described.get("driver")
    return GpuFacts(model=", ".join(names), driver=None if driver is None else str(driver),
                    count=len(described.get("devices", [])))


def run_record(run_dir: Path, tag: str = "") -> HistoryLine:
    """The history line of one run folder."""
    return read_run(run_dir).history_line(tag)


__all__ = ["FILE", "TAG_ENV", "append", "environment", "read", "run_record"]
