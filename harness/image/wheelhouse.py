"""Wheelhouses: Python packages downloaded on the host for the image's Python and glibc, cached, and
copied into the build context. Containers (and many GPU clusters) cannot reach PyPI; the Dockerfile
installs with `pip install --no-index --no-deps`, so the wheelhouse is the lock file.

The requirements file may name build args (`requirements/${VLLM_VERSION}.txt`), so each vLLM version a
variant is built at gets its own wheelhouse, resolved for that release's pins. Wheels two wheelhouses
share are downloaded once and stored once (hard links)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from harness.commands import run_logged
from harness.errors import BuildError, SpecError
from harness.image.cache import cache_dir, digest, locked
from harness.progress import Progress
from harness.spec.variant import SPEC_FILE, WheelhouseSpec

COMPLETE = ".complete"
_BUILD_ARG = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def platform_tags(glibc: str) -> list[str]:
    """Every manylinux tag the image's glibc accepts, newest first: pip does not fall back from one
    --platform to older manylinux tags by itself."""
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def _dist_name(wheel: str) -> str:
    return re.sub(r"[-_.]+", "-", wheel.split("-", 1)[0]).lower()


def requirements_file(spec: WheelhouseSpec, folder: Path, build_args: Mapping[str, str]) -> Path:
    """The requirements file for these build args: `${NAME}` in build.wheelhouse.requirements is the
    build arg's value, so a variant keeps one file per version it supports."""
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in build_args:
            raise SpecError(folder / SPEC_FILE, "build.wheelhouse.requirements",
                            f"'{spec.requirements}' names ${{{match.group(1)}}}, which is not a build arg; "
                            "give it under [build.args]")
        return build_args[match.group(1)]

    relative = _BUILD_ARG.sub(value, spec.requirements)
    path = folder / relative
    if not path.is_file():
        used = ", ".join(f"{name}={build_args[name]}" for name in _BUILD_ARG.findall(spec.requirements))
        why = f" (no requirements for {used}: add that file to support it)" if used else ""
        raise SpecError(folder / SPEC_FILE, "build.wheelhouse.requirements",
                        f"file '{relative}' does not exist in {folder}{why}")
    return path


def requirements_pattern(spec: WheelhouseSpec) -> str:
    """Every requirements file the spec can name, as an fnmatch pattern (`requirements/*.txt`)."""
    return _BUILD_ARG.sub("*", spec.requirements)


def _pins(requirements: Path) -> list[str]:
    """The requirement lines without comments or blank lines: editing a comment changes no wheel."""
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line]


def wheelhouse_key(spec: WheelhouseSpec, folder: Path, build_args: Mapping[str, str] | None = None) -> str:
    """The wheelhouse's cache name: what it holds is fixed by the requirements and the target platform."""
    requirements = requirements_file(spec, folder, build_args or {})
    return digest(_pins(requirements), spec.python_version, spec.glibc, sorted(spec.exclude))


def ensure_wheelhouse(spec: WheelhouseSpec, folder: Path, progress: Progress,
                      build_args: Mapping[str, str] | None = None) -> Path:
    """The cached wheelhouse for this spec and these build args; downloaded first if not complete yet."""
    key = wheelhouse_key(spec, folder, build_args)
    requirements = requirements_file(spec, folder, build_args or {})
    target = cache_dir() / "wheelhouse" / key
    if (target / COMPLETE).exists():
        return target
    with locked(f"wheelhouse-{key}"):
        if (target / COMPLETE).exists():  # another run made it while we waited
            return target
        _download(spec, requirements, folder, target, progress)
    return target


def _pip_target(spec: WheelhouseSpec) -> list[str]:
    command = ["--python-version", spec.python_version, "--implementation", "cp", "--only-binary=:all:"]
    for tag in platform_tags(spec.glibc):
        command += ["--platform", tag]
    return command


def _download(spec: WheelhouseSpec, requirements: Path, folder: Path, target: Path, progress: Progress) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seeded = _seed_from_siblings(partial, target.parent)
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
               "-d", str(partial), *_pip_target(spec), "-r", str(requirements)]
    progress.note(f"downloading wheelhouse for {folder.name} from {requirements.name} (python "
                  f"{spec.python_version}, glibc {spec.glibc}; {len(seeded)} wheels already in the cache)")
    # this machine's pip config names local indexes that may not exist: their warnings are noise
    code, tail = run_logged(command, progress.output, skip=lambda line: "is neither a file nor a directory" in line)
    if code != 0:
        raise BuildError(f"pip download for the {folder.name} wheelhouse failed (exit {code}); "
                         "check the requirements and that PyPI is reachable from this host", tail)
    needed = _resolved_offline(spec, requirements, partial)
    stray = {p.name for p in partial.glob("*.whl")} - needed - seeded
    if stray:  # pip downloaded something the offline install would not take: the lock would lie
        raise BuildError(f"the {folder.name} wheelhouse does not resolve offline to what pip downloaded "
                         f"(unused: {', '.join(sorted(stray))})")
    excluded = {_dist_name(e) for e in spec.exclude}
    for wheel in partial.glob("*.whl"):
        if wheel.name not in needed or _dist_name(wheel.name) in excluded:
            wheel.unlink()
    (partial / COMPLETE).write_text("")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _seed_from_siblings(partial: Path, root: Path) -> set[str]:
    """Hard-link every wheel of the other complete wheelhouses into the download folder. pip takes a
    file already in its -d folder instead of downloading it again; what this wheelhouse does not need
    is removed afterwards."""
    seeded: set[str] = set()
    for other in sorted(root.iterdir()) if root.is_dir() else ():
        if other == partial or not (other / COMPLETE).exists():
            continue
        for wheel in other.glob("*.whl"):
            if wheel.name not in seeded:
                _link_or_copy(wheel, partial / wheel.name)
                seeded.add(wheel.name)
    return seeded


def _resolved_offline(spec: WheelhouseSpec, requirements: Path, folder: Path) -> set[str]:
    """The wheel files an offline install of the requirements takes from `folder` (pip's dry-run report):
    proof the wheelhouse is complete, and the list of what to keep."""
    with tempfile.TemporaryDirectory(prefix="wheelhouse-check-") as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--dry-run",
                   "--ignore-installed", "--quiet", "--no-index", "--find-links", str(folder),
                   "--target", str(Path(scratch) / "never-written"), "--report", str(report),
                   *_pip_target(spec), "-r", str(requirements)]
        env = {**os.environ, "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}  # the folder alone
        code, tail = run_logged(command, lambda _: None, env=env)
        if code != 0 or not report.is_file():
            raise BuildError(f"the wheelhouse in {folder} does not install offline (pip exit {code})", tail)
        install = json.loads(report.read_text())["install"]
    return {Path(unquote(urlparse(item["download_info"]["url"]).path)).name for item in install}


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)
