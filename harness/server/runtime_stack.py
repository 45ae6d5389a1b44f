"""The stack runtime: a variant with [stack] runs as its serving network, N replicas and an nginx
gateway (the layout is `stack.stack_layout`). Entering creates them in order and waits until the
gateway answers and every replica is healthy; leaving (also on failure, Ctrl-C, SIGTERM) removes the
containers and then the network. Everything carries the session/owner labels, so `reap` finds leftovers."""

from __future__ import annotations

import contextlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from harness.errors import BootError
from harness.server import container_probe
from harness.server.endpoint import Endpoint, StackMembers
from harness.server.runtime_docker import STOP_GRACE_SECONDS, exit_status_of
from harness.server.server import ManagedServer
from harness.server.stack import ContainerPlan, StackLayout, stack_layout
from harness.server.wait import AllOf, ConditionWait, ExitStatus, WaitStrategy
from harness.spec.variant import Variant


def _tar_of(path: str, content: str) -> bytes:
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(PurePosixPath(path).name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class StackServer(ManagedServer):
    runtime = "stack"

    def __init__(self, client: docker.DockerClient, variant: Variant, image: str, gateway_image: str,
                 run_dir: Path, *, api_key: str | None = None, host_ip: str = "127.0.0.1",
                 startup_timeout: float | None = None) -> None:
        super().__init__(variant, run_dir, api_key=api_key, startup_timeout=startup_timeout)
        self.client = client
        self.layout: StackLayout = stack_layout(variant, image, gateway_image, host_ip=host_ip, api_key=api_key)
        self.host_ip = host_ip
        self.network: Network | None = None
        self.containers: dict[str, Container] = {}  # role → container, in start order
        self.host_port: int | None = None

    @property
    def description(self) -> str:
        return f"stack {self.variant.name} ({len(self.layout.replicas)} replica(s) behind an nginx gateway)"

    @property
    def base_url(self) -> str:
        return f"http://{self.host_ip}:{self.host_port}"

    @property
    def container_id(self) -> str | None:
        first = self.containers.get("replica-0")
        return first.id if first else None

    @property
    def endpoint(self) -> Endpoint:
        gateway = self.containers["gateway"]
        members = StackMembers(gateway=str(gateway.id), network=self.layout.network.name,
                               replicas=tuple(str(self.containers[r.role].id) for r in self.layout.replicas),
                               offline=self.layout.network.internal, port=self.layout.port)
        return replace(super().endpoint, stack=members)

    def _start(self) -> None:
        self.network = self.client.networks.create(**self.layout.network.create_kwargs())
        for plan in self.layout.containers:
            self.containers[plan.role] = self._create(plan)
        gateway = self.containers["gateway"]
        gateway.reload()
        bindings = gateway.attrs["NetworkSettings"]["Ports"].get(next(iter(self.layout.gateway.kwargs["ports"])))
        if not bindings:
            raise BootError(f"the gateway of {self.description} has no published port")
        self.host_port = int(bindings[0]["HostPort"])

    def _create(self, plan: ContainerPlan) -> Container:
        try:
            container = self.client.containers.create(**plan.kwargs)
            self.containers[plan.role] = container  # removed by _stop even if the steps below fail
            for name in plan.connect:
                self.client.networks.get(name).connect(container)
            for path, content in plan.files:
                container.put_archive(str(PurePosixPath(path).parent), _tar_of(path, content))
            container.start()
        except docker.errors.APIError as exc:
            raise BootError(f"docker could not start the {plan.role} of {self.variant.name}: "
                            f"{self.redact(str(exc.explanation or exc))}") from None
        self._follow_log(container.logs(stream=True, follow=True), prefix=f"[{plan.role}] ")
        return container

    def replicas_not_ready(self) -> str | None:
        """Why some replica is not serving yet, asked from inside it (replicas publish no port)."""
        health = self.variant.container.health_path
        for plan in self.layout.replicas:
            probe = container_probe.http_get(self.containers[plan.role], f"http://127.0.0.1:{self.layout.port}{health}")
            if probe.status != 200:
                return f"{plan.role}: GET {health} " + (f"answered {probe.status}" if probe.ok else probe.error)
        return None

    def readiness(self) -> WaitStrategy:
        return AllOf(ConditionWait(self.replicas_not_ready), super().readiness())

    def exit_status(self) -> ExitStatus | None:
        """The first container of the stack that is no longer running, if any."""
        for role, container in self.containers.items():
            status = exit_status_of(container)
            if status is not None:
                ended = "was removed" if status.removed else "stopped" + (f": {status.detail}" if status.detail else "")
                return replace(status, detail=f"the {role} {ended}")
        return None

    def _stop(self) -> None:
        for container in reversed(list(self.containers.values())):
            with contextlib.suppress(docker.errors.APIError):
                container.stop(timeout=STOP_GRACE_SECONDS)
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        self.containers.clear()
        if self.network is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.network.remove()
            self.network = None
