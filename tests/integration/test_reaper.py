from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from harness.base_image import ensure_base_image
from harness.labels import OWNER, SESSION, owner_token
from harness.progress import LogProgress
from harness.reaper import reap
from harness.variant import BaseImageSpec, load_variant

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_reap_removes_only_orphans_of_the_harness(docker_client: docker.DockerClient) -> None:
    spec = load_variant(FIXTURES, "stub-variant").build.base
    assert isinstance(spec, BaseImageSpec)
    base = ensure_base_image(docker_client, spec, LogProgress(None, show=print))
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_owner = f"{socket.gethostname()}:{finished.pid}:1"
    sleeper = ["python3", "-c", "import time; time.sleep(600)"]
    started = []
    try:
        orphan = docker_client.containers.run(base, sleeper, detach=True,
                                              labels={SESSION: "gone", OWNER: dead_owner})
        alive = docker_client.containers.run(base, sleeper, detach=True,
                                             labels={SESSION: "alive", OWNER: owner_token()})
        stranger = docker_client.containers.run(base, sleeper, detach=True, labels={"other": "x"})
        started = [orphan, alive, stranger]
        removed = reap(docker_client)
        remaining = {c.id for c in docker_client.containers.list(all=True)}
        assert orphan.id not in remaining and any(orphan.short_id in r for r in removed)
        assert alive.id in remaining, "reaped a container whose run is alive"
        assert stranger.id in remaining, "reaped a container that is not the harness's"
    finally:
        for container in started:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_reap_removes_orphaned_networks_only(docker_client: docker.DockerClient) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_owner = f"{socket.gethostname()}:{finished.pid}:1"
    suffix = uuid.uuid4().hex[:8]
    made = []
    try:
        orphan = docker_client.networks.create(f"harness-test-orphan-{suffix}",
                                               labels={SESSION: "gone", OWNER: dead_owner})
        alive = docker_client.networks.create(f"harness-test-alive-{suffix}",
                                              labels={SESSION: "alive", OWNER: owner_token()})
        stranger = docker_client.networks.create(f"harness-test-stranger-{suffix}", labels={"other": "x"})
        made = [orphan, alive, stranger]
        removed = reap(docker_client)
        remaining = {n.id for n in docker_client.networks.list()}
        assert orphan.id not in remaining and any(orphan.short_id in r for r in removed)
        assert alive.id in remaining, "reaped a network whose run is alive"
        assert stranger.id in remaining, "reaped a network that is not the harness's"
    finally:
        for network in made:
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
