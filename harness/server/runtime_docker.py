"""The Docker runtime: one container per variant, published on 127.0.0.1 at a port the engine picks."""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from harness.errors import BootError, EnvironmentProblem, UsageError
from harness.server.docker_run import run_kwargs
from harness.server.server import ManagedServer
from harness.server.wait import ExitStatus
from harness.spec.variant import Variant

STOP_GRACE_SECONDS = 10


def exit_status_of(container: Container, refresh: bool = True) -> ExitStatus | None:
    """None while `container` runs (or is about to); else how it ended. The one reader of a container's
    State; `refresh=False` when the caller has just fetched it."""
    try:
        if refresh:
            container.reload()
    except docker.errors.NotFound:
        return ExitStatus(code=None, detail="the container was removed", removed=True)
    state = container.attrs["State"]
    if state.get("Running") or state.get("Status") in ("created", "restarting"):
        return None
    return ExitStatus(code=state.get("ExitCode"), oom_killed=bool(state.get("OOMKilled")),
                      detail=state.get("Error") or "")


class DockerServer(ManagedServer):
    runtime = "docker"

    def __init__(self, client: docker.DockerClient, variant: Variant, image: str, run_dir: Path, *,
                 api_key: str | None = None, host_ip: str = "127.0.0.1", host_port: int | None = None,
                 startup_timeout: float | None = None, name_suffix: str = "") -> None:
        super().__init__(variant, run_dir, api_key=api_key, startup_timeout=startup_timeout)
        self.client = client
        self.image = image
        self.host_ip = host_ip
        self.requested_port = host_port
        self.name_suffix = name_suffix  # set for a second container of the variant in the same session
        self.container: Container | None = None
        self.host_port: int | None = None

    @property
    def description(self) -> str:
        short = self.container.short_id if self.container else "not started"
        return f"container {short} ({self.variant.name})"

    @property
    def container_id(self) -> str | None:
        return self.container.id if self.container else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host_ip}:{self.host_port}"

    def _start(self) -> None:
        kwargs = run_kwargs(self.variant, self.image, host_ip=self.host_ip, host_port=self.requested_port,
                            api_key=self.api_key)
        if self.name_suffix:
            kwargs["name"] += f"-{self.name_suffix}"
        kwargs.pop("detach")
        try:
            # create, then start: a container that fails to start is already ours to remove
            self.container = self.client.containers.create(**kwargs)
            self.container.start()
        except docker.errors.APIError as exc:
            raise self._start_error(self.redact(str(exc.explanation or exc))) from None
        self.container.reload()
        bindings = self.container.attrs["NetworkSettings"]["Ports"].get(f"{self.variant.container.port}/tcp")
        if not bindings:
            raise BootError(f"{self.description} has no published port {self.variant.container.port}")
        self.host_port = int(bindings[0]["HostPort"])
        self._follow_log(self.container.logs(stream=True, follow=True))

    def _start_error(self, reason: str) -> Exception:
        """The engine's refusal, as what the user can do about it."""
        if "could not select device driver" in reason or "nvidia-container-cli" in reason:
            return EnvironmentProblem(
                f"{self.variant.name} needs {self.variant.gpu.vendor} GPUs, but this Docker engine cannot give "
                f"them ({reason.splitlines()[0][:160]}); run it on a GPU host with the NVIDIA container toolkit")
        if "port is already allocated" in reason or "address already in use" in reason:
            return UsageError(f"port {self.requested_port} on {self.host_ip} is in use; pick another --port, "
                              "or leave --port out to let the engine choose a free one")
        return BootError(f"docker could not start {self.variant.name}: {reason}")

    def exit_status(self) -> ExitStatus | None:
        return None if self.container is None else exit_status_of(self.container)

    def _stop(self) -> None:
        if self.container is None:
            return
        # already stopped or gone is fine: what matters is that it is removed
        with contextlib.suppress(docker.errors.APIError):
            self.container.stop(timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True, v=True)
        self.container = None
