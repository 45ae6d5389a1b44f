"""Removes what harness runs left behind: containers and networks carrying the session label whose
owning process is gone (after a kill -9, a crash, a lost CI runner). Never touches anything without
the label, nor what belongs to a run that is still alive."""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from harness.server.labels import OWNER, SESSION, owner_is_alive


def reap(client: docker.DockerClient, *, everything: bool = False) -> list[str]:
    """Remove orphaned harness containers and networks (or all of them); return what was removed."""
    removed: list[str] = []
    # sparse: the list's own data, no inspect per container (one removed meanwhile by another run would
    # make that inspect fail with NotFound: seen when two sessions shared an engine)
    for container in client.containers.list(all=True, sparse=True, filters={"label": SESSION}):
        labels = container.attrs.get("Labels") or {}
        if everything or not owner_is_alive(labels.get(OWNER, "")):
            name = ",".join(n.lstrip("/") for n in container.attrs.get("Names") or [])
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed.append(f"container {container.short_id} ({name})")
    for network in client.networks.list(filters={"label": SESSION}):
        if everything or not owner_is_alive((network.attrs.get("Labels") or {}).get(OWNER, "")):
            # NotFound: another reaper was first; APIError: still in use by a live run's container
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
                removed.append(f"network {network.short_id} ({network.name})")
    return removed
