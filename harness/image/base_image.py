"""Base images made locally: debootstrap a Debian into a folder, then `docker import` it. For hosts
that reach Debian's mirror but no Docker registry. Made once per (suite, packages, mirror), reused."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import docker
import docker.errors

from harness.commands import run_logged
from harness.errors import BuildError, EnvironmentProblem
from harness.image.cache import cache_dir, digest, locked
from harness.progress import Progress
from harness.spec.variant import BaseImageSpec

REPOSITORY = "vllm-harness-base"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def host_mirror() -> str:
    """The Debian mirror the host's apt uses: the one this network is known to reach."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        if not source.is_file() or source.suffix not in ("", ".list", ".sources"):
            continue
        for line in source.read_text(errors="replace").splitlines():
            match = re.match(r"\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?(?:\s|$)", line)
            if match:
                return match.group(1)
    return DEFAULT_MIRROR


def base_tag(spec: BaseImageSpec) -> str:
    return f"{REPOSITORY}:{spec.suite}-{digest(spec.suite, sorted(spec.packages), spec.mirror)[:12]}"


def ensure_base_image(client: docker.DockerClient, spec: BaseImageSpec, progress: Progress) -> str:
    """The tag of the base image for `spec`, bootstrapping it first if the engine does not have it."""
    tag = base_tag(spec)
    with locked(tag.replace(":", "-").replace("/", "-")):
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        _bootstrap(client, spec, tag, progress)
    return tag


def _bootstrap(client: docker.DockerClient, spec: BaseImageSpec, tag: str, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed; it makes the local base image: "
                                 "apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise EnvironmentProblem("making a base image with debootstrap needs root; run once as root "
                                 f"(it is cached as {tag})")
    mirror = spec.mirror or host_mirror()
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    try:
        rootfs = work / "rootfs"
        command = ["debootstrap", "--variant=minbase"]
        if spec.packages:
            command.append("--include=" + ",".join(spec.packages))
        command += [spec.suite, str(rootfs), mirror]
        progress.note(f"bootstrapping base image {tag} from {mirror} (once; about a minute)")
        _run(command, progress, "debootstrap")
        # apt caches are dead weight in an image that never runs apt again
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        archive = work / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], progress, "tar")
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=version,
                                          changes=["ENV LANG=C.UTF-8"])
        progress.note(f"imported {tag}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(command: list[str], progress: Progress, what: str) -> None:
    code, tail = run_logged(command, progress.output)
    if code != 0:
        raise BuildError(f"{what} failed with exit code {code} while making the base image", tail)
