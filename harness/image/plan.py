"""`vllm-harness plan NAME`: what a run of the variant would build and start, as docker commands, made
from the very objects the run executes — the build's `Recipe`, `docker_run.run_kwargs` and
`stack.stack_layout` — so the plan cannot say what the run would not do. Needs no GPU and no engine
(with an engine, the tag of an image made on a local base is exact too). Secrets are masked."""

from __future__ import annotations

import shlex
from typing import Any

import docker
import docker.errors

from harness.image.base_image import base_tag, host_mirror
from harness.image.build import Recipe, build_labels, gateway_recipe, image_source, recipe_of
from harness.image.wheelhouse import requirements_file, wheelhouse_key
from harness.redact import ALWAYS_SECRET, MASK
from harness.server.docker_run import AMD_GROUPS, host_group_ids, run_kwargs
from harness.server.stack import ContainerPlan, stack_layout
from harness.spec.variant import Variant

CONTENT_LATER = "<content hash: computed at build time>"


def optional_engine() -> docker.DockerClient | None:
    """The engine if one answers, else None: a plan is made without one too."""
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except docker.errors.DockerException:
        return None
    return client


def build_commands(recipe: Recipe, client: docker.DockerClient | None) -> tuple[str, list[str]]:
    """The image reference and the lines that say how it is made (commands and # notes)."""
    spec = recipe.spec
    if recipe.prebuilt:
        return str(spec.image), [f"# {recipe.name}: prebuilt image {spec.image} (pulled if the engine lacks it)"]
    if not recipe.dockerfile_path.is_file():
        return "<no image>", [f"# {recipe.name}: no {spec.dockerfile} and no build.image: a docker run fails with "
                              "a spec error; this variant runs with --runtime process"]
    lines = [f"# {recipe.name}: built from {recipe.dockerfile_path}; skipped when the tag already exists"]
    args = dict(spec.args)
    exact = True
    if spec.base:
        tag = base_tag(spec.base)
        include = f" --include={','.join(spec.base.packages)}" if spec.base.packages else ""
        lines.append(f"# base made locally once: debootstrap --variant=minbase{include} {spec.base.suite} ROOTFS "
                     f"{spec.base.mirror or host_mirror()} | docker import - {tag}")
        try:
            args[spec.base.build_arg] = client.images.get(tag).id if client else ""
        except docker.errors.ImageNotFound:
            args[spec.base.build_arg] = ""
        if not args[spec.base.build_arg]:
            args[spec.base.build_arg], exact = f"<id of {tag}>", False
    wheels = None
    if spec.wheelhouse:
        wheels = wheelhouse_key(spec.wheelhouse, recipe.context, args)
        requirements = requirements_file(spec.wheelhouse, recipe.context, args).relative_to(recipe.context)
        excluded = f", without {', '.join(spec.wheelhouse.exclude)}" if spec.wheelhouse.exclude else ""
        lines.append(f"# wheelhouse {wheels}: pip download -r {requirements} for python "
                     f"{spec.wheelhouse.python_version}, glibc <= {spec.wheelhouse.glibc}{excluded}; copied into "
                     f"the context as {spec.wheelhouse.directory}/")
    content = recipe.content(args, wheels) if exact else CONTENT_LATER
    ref = f"{recipe.repository}:{content}"
    argv = ["docker", "build", "--file", spec.dockerfile, "--tag", ref]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in build_labels(recipe, content).items():
        argv += ["--label", f"{key}={value}"]
    lines.append(shlex.join([*argv, str(recipe.context)]))
    return ref, lines


def _gpus(request: Any) -> str:
    if request.get("DeviceIDs"):
        return f'"device={",".join(request["DeviceIDs"])}"'
    return "all" if request.get("Count", -1) == -1 else str(request["Count"])


def container_argv(kwargs: dict[str, Any], secrets: set[str], verb: str = "run") -> list[str]:
    """`docker run`/`docker create` arguments equal to `containers.run/create(**kwargs)`. A key it does not
    know is an error, so a new setting in run_kwargs cannot be left out of the plan unnoticed."""
    kw = dict(kwargs)
    argv = ["docker", verb]
    if kw.pop("detach", False):
        argv.append("--detach")
    argv += ["--name", kw.pop("name")]
    for key, value in kw.pop("labels", {}).items():
        argv += ["--label", f"{key}={value}"]
    if "network" in kw:
        argv += ["--network", kw.pop("network")]
    for container_port, (host_ip, host_port) in kw.pop("ports", {}).items():
        argv += ["--publish", f"{host_ip}:{host_port or ''}:{container_port.split('/')[0]}"]
    for host, address in kw.pop("extra_hosts", {}).items():
        argv += ["--add-host", f"{host}:{address}"]
    for source, bind in kw.pop("volumes", {}).items():
        argv += ["--volume", f"{source}:{bind['bind']}:{bind['mode']}"]
    for request in kw.pop("device_requests", []):
        argv += ["--gpus", _gpus(request)]
    for device in kw.pop("devices", []):
        argv += ["--device", device]
    for group in kw.pop("group_add", []):
        argv += ["--group-add", group]
    for option in kw.pop("security_opt", []):
        argv += ["--security-opt", option]
    flags = {"shm_size": "--shm-size", "ipc_mode": "--ipc", "mem_limit": "--memory"}
    for key, flag in flags.items():
        if key in kw:
            argv += [flag, str(kw.pop(key))]
    for name, value in kw.pop("environment", {}).items():
        argv += ["--env", f"{name}={MASK if name in secrets else value}"]
    command = list(kw.pop("command", None) or [])
    entrypoint = kw.pop("entrypoint", None)
    if entrypoint:
        argv += ["--entrypoint", entrypoint[0]]
        command = [*entrypoint[1:], *command]
    argv.append(kw.pop("image"))
    if kw:
        raise KeyError(f"plan cannot render docker settings {sorted(kw)}")
    return [*argv, *command]


def _gpu_notes(variant: Variant, kwargs: dict[str, Any], group_ids: dict[str, int]) -> list[str]:
    gpu = variant.gpu
    if gpu.vendor == "nvidia":
        return [f"# GPU: NVIDIA through the container toolkit (--gpus {_gpus(kwargs['device_requests'][0])})"]
    if gpu.vendor == "amd":
        found = ", ".join(f"{g} (gid {group_ids[g]})" for g in AMD_GROUPS if g in group_ids)
        missing = [g for g in AMD_GROUPS if g not in group_ids]
        notes = ["# GPU: AMD ROCm: /dev/kfd and /dev/dri, the groups that own them added by GID: " + (found or "-")]
        if missing:
            notes.append(f"# note: no group {', '.join(missing)} on this host; on the ROCm host it is added by gid")
        return notes
    return ["# GPU: none"]


def plan_lines(variant: Variant, *, host_env: dict[str, str], group_ids: dict[str, int] | None = None,
               client: docker.DockerClient | None = None, api_key: str | None = None) -> list[str]:
    ids = host_group_ids(AMD_GROUPS) if group_ids is None else group_ids
    secrets = {*ALWAYS_SECRET, *variant.secret_env}
    lines = [f"# plan for {variant.name}: {variant.description}", f"# spec: {variant.spec_path}", ""]
    source = image_source(variant)
    if source is not variant:
        lines.append(f"# the image is {source.name}'s (build.variant): the same image, not rebuilt for {variant.name}")
    image, steps = build_commands(recipe_of(source), client)
    lines += [*steps, ""]
    if image == "<no image>":
        env = variant.process.resolved_env(variant.build.args, variant.folder)
        prefix = [f"{k}={v}" for k, v in env.items()]  # the environment the version picks, e.g. PYTHONPATH
        return [*lines, "# --runtime process: " + shlex.join([*prefix, *_process_argv(variant)])]
    if variant.stack is None:
        kwargs = run_kwargs(variant, image, host_env=host_env, api_key=api_key, group_ids=ids)
        lines += _gpu_notes(variant, kwargs, ids)
        lines.append(shlex.join(container_argv(kwargs, secrets)))
        return lines
    gateway_image, gateway_steps = build_commands(gateway_recipe(variant), client)
    lines += [*gateway_steps, ""]
    layout = stack_layout(variant, image, gateway_image, host_env=host_env, api_key=api_key, group_ids=ids)
    net = layout.network
    lines.append(f"# stack: {len(layout.replicas)} replica(s) on network {net.name} "
                 f"({'internal: no published port, no route out' if net.internal else 'a plain bridge'}); "
                 "the gateway is the only published port")
    lines.append(shlex.join(["docker", "network", "create", "--driver", "bridge",
                             *(["--internal"] if net.internal else []),
                             *[a for k, v in net.options.items() for a in ("--opt", f"{k}={v}")],
                             *[a for k, v in net.labels.items() for a in ("--label", f"{k}={v}")], net.name]))
    lines += _gpu_notes(variant, layout.replicas[0].kwargs, ids)
    files: list[str] = []
    for plan in layout.containers:
        lines += _container_lines(plan, secrets)
        for path, content in plan.files:
            files += ["", f"# --- {path} in the {plan.role} ---", *content.rstrip().splitlines()]
    return lines + files


def _process_argv(variant: Variant) -> list[str]:
    from pathlib import Path
    from tempfile import gettempdir

    from harness.server.runtime_process import ProcessServer

    return ProcessServer(variant, Path(gettempdir()), port=8000).argv


def _container_lines(plan: ContainerPlan, secrets: set[str]) -> list[str]:
    lines = [shlex.join(container_argv(plan.kwargs, secrets, verb="create"))]
    lines += [shlex.join(["docker", "network", "connect", network, plan.name]) for network in plan.connect]
    lines += [shlex.join(["docker", "cp", path.rsplit("/", 1)[-1], f"{plan.name}:{path}"]) for path, _ in plan.files]
    return [*lines, shlex.join(["docker", "start", plan.name])]


def print_plan(variant: Variant) -> None:
    """What `vllm-harness plan NAME` prints: the host's environment, with secrets masked."""
    import os

    print("\n".join(plan_lines(variant, host_env=dict(os.environ), client=optional_engine())))
