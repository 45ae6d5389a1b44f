"""Removes what harness runs left behind: containers and networks carrying the session label whose
owning process is gone (after a kill -9, a crash, a lost CI runner). Never touches anything without
the label, nor what belongs to a run that is still alive."""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from harness.labels import OWNER, SESSION, owner_is_alive


def reap(client: docker.DockerClient, *, everything: bool = False) -> list[str]:
    """Remove orphaned harness containers and networks (or all of them); return what was removed."""
    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": SESSION}):
        if everything or not owner_is_alive(container.labels.get(OWNER, "")):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed.append(f"container {container.short_id} ({container.name})")
    for network in client.networks.list(filters={"label": SESSION}):
        if everything or not owner_is_alive((network.attrs.get("Labels") or {}).get(OWNER, "")):
            # NotFound: another reaper was first; APIError: still in use by a live run's container
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
                removed.append(f"network {network.short_id} ({network.name})")
    return removed
