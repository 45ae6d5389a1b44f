"""The Docker engine connection: one place that turns 'no daemon' into a one-line instruction."""

from __future__ import annotations

import docker
import docker.errors

from harness.errors import EnvironmentProblem


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        reason = str(exc).splitlines()[0][:160]
        raise EnvironmentProblem(
            f"cannot reach the Docker engine ({reason}); start dockerd (or set DOCKER_HOST), "
            "or use --runtime process / --base-url"
        ) from None
    return client
