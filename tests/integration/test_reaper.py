from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.image.base_image import ensure_base_image
from harness.progress import LogProgress
from harness.server.labels import OWNER, SESSION, owner_token
from harness.server.reaper import reap
from harness.spec.variant import BaseImageSpec, load_variant

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"


def dead_owner() -> str:
    """An owner label naming a process of this host that has exited."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    return f"{socket.gethostname()}:{finished.pid}:1"


def assert_reaps_only_the_orphan(client: docker.DockerClient, make: Callable[[dict[str, str]], Any],
                                 present: Callable[[], set[str]], discard: Callable[[Any], None], kind: str) -> None:
    """Make an orphan (owner gone), one of a live run, and a stranger (no harness label); reap; only the
    orphan may go."""
    made: list[Any] = []
    try:
        for labels in ({SESSION: "gone", OWNER: dead_owner()}, {SESSION: "alive", OWNER: owner_token()},
                       {"other": "x"}):
            made.append(make(labels))
        orphan, alive, stranger = made
        removed = reap(client)
        remaining = present()
        assert orphan.id not in remaining and any(orphan.short_id in r for r in removed)
        assert alive.id in remaining, f"reaped a {kind} whose run is alive"
        assert stranger.id in remaining, f"reaped a {kind} that is not the harness's"
    finally:
        for thing in made:
            with contextlib.suppress(docker.errors.NotFound):
                discard(thing)


def test_reap_removes_only_orphans_of_the_harness(docker_client: docker.DockerClient) -> None:
    spec = load_variant(FIXTURES, "stub-variant").build.base
    assert isinstance(spec, BaseImageSpec)
    base = ensure_base_image(docker_client, spec, LogProgress(None, show=print))
    sleeper = ["python3", "-c", "import time; time.sleep(600)"]
    assert_reaps_only_the_orphan(
        docker_client, lambda labels: docker_client.containers.run(base, sleeper, detach=True, labels=labels),
        lambda: {c.id for c in docker_client.containers.list(all=True)}, lambda c: c.remove(force=True),
        "container")


def test_reap_removes_orphaned_networks_only(docker_client: docker.DockerClient) -> None:
    """Networks carry the same labels (stacks of several containers make them)."""
    suffix = uuid.uuid4().hex[:8]
    names = iter(f"harness-test-{role}-{suffix}" for role in ("orphan", "alive", "stranger"))
    assert_reaps_only_the_orphan(
        docker_client, lambda labels: docker_client.networks.create(next(names), labels=labels),
        lambda: {n.id for n in docker_client.networks.list()}, lambda n: n.remove(), "network")
