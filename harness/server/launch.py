"""Target options → a ready Endpoint: the one path the CLI and the pytest plugin share.

    --image NAME               build the variant's image, boot it in Docker (default runtime)
    --image NAME --runtime process
                               run its serve command as a local subprocess
    --base-url URL             use a server that is already running (capabilities from --image or
                               --capabilities)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import UsageError
from harness.image.build import build_recipe, build_variant, gateway_recipe
from harness.progress import Progress
from harness.results import RunRecorder
from harness.results.history import environment
from harness.server.endpoint import Endpoint
from harness.server.engine import connect
from harness.server.reaper import reap
from harness.server.runtime_docker import DockerServer
from harness.server.runtime_process import ProcessServer
from harness.server.runtime_remote import connect_remote
from harness.server.runtime_stack import StackServer
from harness.server.served import served_facts
from harness.server.server import ManagedServer
from harness.spec.variant import Capabilities, Variant, load_variant

Runtime = Literal["docker", "process"]
RUNTIMES: tuple[Runtime, ...] = ("docker", "process")


@dataclass(frozen=True)
class TargetOptions:
    images_dir: Path
    reports_dir: Path
    image: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    capabilities: str | None = None
    runtime: Runtime = "docker"
    rebuild: bool = False
    startup_timeout: float | None = None
    host_ip: str = "127.0.0.1"
    host_port: int | None = None  # None: the engine picks a free one
    # extra server env, e.g. VLLM_ENABLE_V1_MULTIPROCESSING=0 for the multimodal suite's second boot;
    # a server launched with it gets its own container name, so it can run beside the first
    extra_env: tuple[tuple[str, str], ...] = ()
    # build args over the variant's own, e.g. (("VLLM_VERSION", "v0.15.0"),) for the bump gate's candidate
    build_args: tuple[tuple[str, str], ...] = ()

    @property
    def has_target(self) -> bool:
        return bool(self.image or self.base_url)

    @property
    def label(self) -> str:
        return self.image or "remote"

    def variant(self) -> Variant | None:
        """The variant named by --image, validated (an unknown name or a malformed spec raises here)."""
        return load_variant(self.images_dir, self.image) if self.image else None

    def check(self) -> None:
        """Cheap validation before anything slow starts."""
        if self.runtime not in RUNTIMES:
            raise UsageError(f"--runtime must be one of {', '.join(RUNTIMES)}, got '{self.runtime}'")
        if self.base_url and self.runtime == "process":
            raise UsageError("--runtime process starts a server; it cannot be combined with --base-url")
        if not self.image and not self.base_url:
            if self.capabilities:
                raise UsageError("--capabilities describes a --base-url server; pass --base-url too")
            return
        variant = self.variant()
        if variant and variant.process.only and self.runtime == "docker" and not self.base_url:
            raise UsageError(f"variant {variant.name} has no Docker image (process.only): add --runtime process")
        if self.capabilities:
            Capabilities.parse(self.capabilities)
        if self.base_url and not self.image and not self.capabilities:
            raise UsageError("--base-url needs --image NAME or --capabilities LIST to know what the server can do")

    def resolved_api_key(self, variant: Variant | None) -> str | None:
        if self.api_key:
            return self.api_key
        if variant and variant.serve.api_key_env:
            return os.environ.get(variant.serve.api_key_env)
        return None


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job, `kill`) unwinds like Ctrl-C, so every context manager cleans up."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def launch(options: TargetOptions, recorder: RunRecorder, progress: Progress) -> Iterator[Endpoint]:
    """Yield a ready endpoint for the options; whatever was started is stopped and removed on exit."""
    variant = options.variant()
    capabilities = (Capabilities.parse(options.capabilities) if options.capabilities
                    else variant.capabilities if variant else Capabilities())
    api_key = options.resolved_api_key(variant)
    recorder.update(environment=environment(options.images_dir, variant.gpu.vendor if variant else None))
    if options.base_url:
        endpoint = connect_remote(options.base_url, model=options.model, api_key=api_key,
                                  capabilities=capabilities, variant=variant)
        recorder.update(runtime="remote", base_url=endpoint.base_url, model=endpoint.model,
                        served=served_facts(endpoint))
        yield endpoint
        return
    assert variant is not None, "check() guarantees --image or --base-url"
    if options.extra_env:
        variant = replace(variant, env={**variant.env, **dict(options.extra_env)})
    if options.build_args:
        args = {**variant.build.args, **dict(options.build_args)}
        variant = replace(variant, build=replace(variant.build, args=args))
    recorder.update(variant=variant.name, runtime=options.runtime, model=variant.serve.served_model_name)
    if options.runtime == "process":
        server: ManagedServer = ProcessServer(
            variant, recorder.dir, api_key=api_key, startup_timeout=options.startup_timeout)
    else:
        client = connect()
        for line in reap(client):
            progress.note(f"removed leftover {line}")
        built = build_variant(client, variant, progress, force=options.rebuild)
        recorder.update(image=built.as_record())
        if variant.stack is not None:
            gateway = build_recipe(client, gateway_recipe(variant), progress, force=options.rebuild)
            recorder.update(gateway_image=gateway.as_record())
            server = StackServer(client, variant, built.ref, gateway.ref, recorder.dir, api_key=api_key,
                                 host_ip=options.host_ip, startup_timeout=options.startup_timeout)
        else:
            server = DockerServer(client, variant, built.ref, recorder.dir, api_key=api_key,
                                  host_ip=options.host_ip, host_port=options.host_port,
                                  startup_timeout=options.startup_timeout,
                                  name_suffix="env" if options.extra_env else "")
    progress.note(f"booting {variant.name} ({options.runtime}); waiting for {variant.container.health_path} "
                  f"and /v1/models to list '{variant.serve.served_model_name}'")
    with server as endpoint:
        recorder.update(ready_seconds=round(server.ready_seconds or 0.0, 2), base_url=endpoint.base_url,
                        served=served_facts(endpoint))
        progress.note(f"{variant.name} ready at {endpoint.base_url} after {server.ready_seconds:.1f}s")
        if capabilities != variant.capabilities:
            endpoint = replace(endpoint, capabilities=capabilities)
        yield endpoint
