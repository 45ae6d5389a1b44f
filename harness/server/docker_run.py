"""A variant as keyword arguments for `docker.containers.run`: pure data, so each GPU vendor's
settings are unit-testable without an engine."""

from __future__ import annotations

import grp
import os
from typing import Any

from docker.types import DeviceRequest

from harness.server.labels import SESSION_ID, labels_for
from harness.server.serve_command import serve_args
from harness.spec.variant import GpuSpec, Variant, host_path

AMD_DEVICES = ("/dev/kfd", "/dev/dri")
AMD_GROUPS = ("video", "render")


def gpu_settings(gpu: GpuSpec, group_ids: dict[str, int] | None = None) -> dict[str, Any]:
    if gpu.vendor == "nvidia":
        if gpu.devices:
            request = DeviceRequest(driver="nvidia", device_ids=list(gpu.devices), capabilities=[["gpu"]])
        else:
            request = DeviceRequest(driver="nvidia", count=gpu.count, capabilities=[["gpu"]])
        return {"device_requests": [request]}
    if gpu.vendor == "amd":
        # ROCm needs the compute (kfd) and render (dri) nodes, and the container user in the groups
        # that own them. The groups go by GID: the image may not know the host's group names.
        ids = group_ids if group_ids is not None else host_group_ids(AMD_GROUPS)
        settings: dict[str, Any] = {
            "devices": [f"{d}:{d}:rwm" for d in AMD_DEVICES],
            "group_add": [str(ids[g]) for g in AMD_GROUPS if g in ids],
            "security_opt": ["seccomp=unconfined"],
        }
        if gpu.devices:
            settings["environment"] = {"HIP_VISIBLE_DEVICES": ",".join(gpu.devices)}
        return settings
    return {}


def host_group_ids(names: tuple[str, ...]) -> dict[str, int]:
    found = {}
    for name in names:
        try:
            found[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return found


def container_environment(variant: Variant, host_env: dict[str, str], api_key: str | None) -> dict[str, str]:
    env = dict(variant.env)
    for name in variant.secret_env:
        if name in host_env:
            env[name] = host_env[name]
    if api_key:
        env["VLLM_API_KEY"] = api_key
    return env


def run_kwargs(
    variant: Variant,
    image: str,
    *,
    host_ip: str = "127.0.0.1",
    host_port: int | None = None,
    host_env: dict[str, str] | None = None,
    api_key: str | None = None,
    group_ids: dict[str, int] | None = None,
) -> dict[str, Any]:
    c = variant.container
    env = container_environment(variant, dict(os.environ) if host_env is None else host_env, api_key)
    kwargs: dict[str, Any] = {
        "image": image,
        "command": serve_args(variant.serve, port=c.port),
        "name": f"vllm-harness-{variant.name}-{SESSION_ID}",
        "detach": True,
        "labels": labels_for(variant.name),
        # None: the engine picks a free host port, so two runs never race for one
        "ports": {f"{c.port}/tcp": (host_ip, host_port)},
        # lets the server fetch test images that the harness serves on the host
        "extra_hosts": {"host.docker.internal": "host-gateway"},
        "volumes": {
            host_path(m.source, variant.folder, "mount source"):
                {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in variant.mounts
        },
    }
    if variant.serve.entrypoint is not None:
        kwargs["entrypoint"] = list(variant.serve.entrypoint)
    if c.shm_size:
        kwargs["shm_size"] = c.shm_size
    if c.ipc_mode:
        kwargs["ipc_mode"] = c.ipc_mode
    if c.memory_limit:
        kwargs["mem_limit"] = c.memory_limit
    gpu = gpu_settings(variant.gpu, group_ids)
    env.update(gpu.pop("environment", {}))
    kwargs.update(gpu)
    kwargs["environment"] = env
    return kwargs
