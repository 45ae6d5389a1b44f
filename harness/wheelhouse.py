"""Wheelhouses: Python packages downloaded on the host for the image's Python and glibc, cached, and
copied into the build context. Containers (and many GPU clusters) cannot reach PyPI; the Dockerfile
installs with `pip install --no-index --no-deps`, so the wheelhouse is the lock file."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from harness.cache import cache_dir, digest, locked
from harness.commands import run_logged
from harness.errors import BuildError, SpecError
from harness.progress import Progress
from harness.variant import WheelhouseSpec

COMPLETE = ".complete"


def platform_tags(glibc: str) -> list[str]:
    """Every manylinux tag the image's glibc accepts, newest first: pip does not fall back from one
    --platform to older manylinux tags by itself."""
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def _dist_name(wheel: str) -> str:
    return re.sub(r"[-_.]+", "-", wheel.split("-", 1)[0]).lower()


def wheelhouse_key(spec: WheelhouseSpec, folder: Path) -> str:
    """The wheelhouse's cache name: what it holds is fixed by the requirements and the target platform."""
    requirements = folder / spec.requirements
    if not requirements.is_file():
        raise SpecError(folder / "variant.toml", "build.wheelhouse.requirements",
                        f"file '{spec.requirements}' does not exist in {folder}")
    return digest(requirements.read_text(), spec.python_version, spec.glibc, sorted(spec.exclude))


def ensure_wheelhouse(spec: WheelhouseSpec, folder: Path, progress: Progress) -> Path:
    """The cached wheelhouse for this spec; downloaded first if it is not complete yet."""
    key = wheelhouse_key(spec, folder)
    requirements = folder / spec.requirements
    target = cache_dir() / "wheelhouse" / key
    if (target / COMPLETE).exists():
        return target
    with locked(f"wheelhouse-{key}"):
        if (target / COMPLETE).exists():  # another run made it while we waited
            return target
        _download(spec, requirements, folder, target, progress)
    return target


def _download(spec: WheelhouseSpec, requirements: Path, folder: Path, target: Path, progress: Progress) -> None:
    key = target.name
    partial = target.with_name(key + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
               "-d", str(partial), "--python-version", spec.python_version, "--implementation", "cp",
               "--only-binary=:all:", "-r", str(requirements)]
    for tag in platform_tags(spec.glibc):
        command += ["--platform", tag]
    progress.note(f"downloading wheelhouse for {folder.name} (python {spec.python_version}, glibc {spec.glibc})")
    # this machine's pip config names local indexes that may not exist: their warnings are noise
    code, tail = run_logged(command, progress.output, skip=lambda line: "is neither a file nor a directory" in line)
    if code != 0:
        raise BuildError(f"pip download for the {folder.name} wheelhouse failed (exit {code}); "
                         "check the requirements and that PyPI is reachable from this host", tail)
    excluded = {_dist_name(e) for e in spec.exclude}
    for wheel in partial.glob("*.whl"):
        if _dist_name(wheel.name) in excluded:
            wheel.unlink()
    (partial / COMPLETE).write_text("")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
