"""Variant specs: one folder per image variant under images/, described by `variant.toml`.

A spec is read once into frozen dataclasses; every later stage (build, boot, suites) reads those, never
the TOML. Unknown keys and wrong types are errors naming the file, the field and what is allowed, so a
typo cannot silently fall back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from harness.errors import SpecError, UnknownVariant, UsageError
from harness.spec_table import Table, allowed
from harness.variant_load import LoadSpec, parse_load

SPEC_FILE = "variant.toml"

GpuVendor = Literal["nvidia", "amd", "none"]
CAPABILITY_FLAGS = (
    "chat",
    "completions",
    "vision",
    "video",
    "audio",
    "tools",
    "structured_output",
    "encoder_decoder",
    "responses",
)


@dataclass(frozen=True)
class BaseImageSpec:
    """A Debian base made locally with debootstrap + `docker import` (no registry needed)."""

    suite: str = "bookworm"
    packages: tuple[str, ...] = ()
    mirror: str | None = None  # None: the host's own Debian mirror
    build_arg: str = "BASE_IMAGE"  # the Dockerfile ARG that receives the base's tag


@dataclass(frozen=True)
class WheelhouseSpec:
    """Python wheels downloaded on the host and copied into the build context (air-gapped installs)."""

    requirements: str = "requirements.txt"
    python_version: str = "3.11"
    glibc: str = "2.36"  # the image's glibc: every manylinux tag up to it is accepted
    exclude: tuple[str, ...] = ()  # distributions dropped after download (e.g. triton on CPU)
    directory: str = "wheelhouse"  # where it lands inside the build context


@dataclass(frozen=True)
class BuildSpec:
    dockerfile: str = "Dockerfile"
    repository: str = ""  # image repository; the tag is a hash of the variant's content
    args: dict[str, str] = field(default_factory=dict)
    base: BaseImageSpec | None = None
    wheelhouse: WheelhouseSpec | None = None
    image: str | None = None  # a prebuilt image reference instead of a Dockerfile build
    context: str = "."  # the build context, relative to the variant folder
    variant: str | None = None  # the image is the one this sibling variant builds (shared, never copied)
    # the build arg that carries the vLLM version (`vllm-harness gate` builds the variant at two values);
    # its current value is build.args[vllm_version_arg]
    vllm_version_arg: str | None = None

    @property
    def vllm_version(self) -> str | None:
        return self.args.get(self.vllm_version_arg) if self.vllm_version_arg else None


@dataclass(frozen=True)
class ServeSpec:
    """What `vllm serve` is told; see harness.serve_command for how it becomes argv."""

    model: str
    served_model_name: str
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    dtype: str | None = None
    enforce_eager: bool = False
    trust_remote_code: bool = False
    chat_template: str | None = None
    extra_args: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None  # None: the image's own ENTRYPOINT
    api_key_env: str | None = None  # host env var whose value becomes --api-key (a secret)


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class GpuSpec:
    vendor: GpuVendor = "none"
    devices: tuple[str, ...] = ()  # explicit device ids; empty means `count`
    count: int = -1  # -1: all GPUs (only used when devices is empty)


@dataclass(frozen=True)
class ContainerSpec:
    port: int = 8000
    health_path: str = "/health"
    startup_timeout: float = 600.0
    shm_size: str | None = None
    ipc_mode: str | None = None
    memory_limit: str | None = None


@dataclass(frozen=True)
class Capabilities:
    chat: bool = True
    completions: bool = True
    vision: bool = False
    multi_image: int = 0  # the most images one request may carry; 0: not declared
    video: bool = False
    audio: bool = False
    tools: bool = False
    structured_output: bool = False
    encoder_decoder: bool = False
    responses: bool = False  # serves the Responses API, /v1/responses (vLLM >= 0.26)

    def has(self, name: str) -> bool:
        if name == "multi_image":
            return self.multi_image > 1
        if name not in CAPABILITY_FLAGS:
            raise UsageError(f"unknown capability '{name}'; known: {', '.join(capability_names())}")
        return bool(getattr(self, name))

    def enabled(self) -> list[str]:
        names = [n for n in CAPABILITY_FLAGS if getattr(self, n)]
        if self.multi_image > 1:
            names.append(f"multi_image={self.multi_image}")
        return names

    @classmethod
    def parse(cls, text: str) -> Capabilities:
        """Parse the `--capabilities` form: `chat,vision,multi_image=4`. Unlisted flags are off."""
        values: dict[str, Any] = dict.fromkeys(CAPABILITY_FLAGS, False)
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name == "multi_image":
                if not value.isdigit():
                    raise UsageError(f"--capabilities: multi_image needs a count, e.g. multi_image=4 (got '{item}')")
                values["multi_image"] = int(value)
            elif name in CAPABILITY_FLAGS and not value:
                values[name] = True
            else:
                raise UsageError(f"--capabilities: unknown '{item}'; known: {', '.join(capability_names())}")
        return cls(**values)


def capability_names() -> list[str]:
    return [*CAPABILITY_FLAGS, "multi_image"]


@dataclass(frozen=True)
class ProcessSpec:
    """How `--runtime process` runs the server as a local subprocess (hosts without Docker)."""

    command: tuple[str, ...] = ("vllm", "serve")
    model: str | None = None  # the model path on the host, when it differs from the image's
    # for servers whose flags are not vLLM's: a template with {model}, {host} and {port}
    args: tuple[str, ...] | None = None


@dataclass(frozen=True)
class KnownIssue:
    """A check known to fail on this variant: run as a strict xfail, so the day it passes the run says so."""

    check: str  # fnmatch pattern on the test name (e.g. `test_vision_*`) or its node id
    reason: str
    link: str = ""


@dataclass(frozen=True)
class Probe:
    """A known-answer multimodal probe, for real models only: the greedy answer to `prompt` about the
    generated `image` must contain every word of `expect` (case-insensitive)."""

    image: str  # a harness.imagegen spec: "solid:red", "text:INVOICE 2024", "shapes", ...
    expect: tuple[str, ...]
    prompt: str = "What is in this image? Answer briefly."
    max_tokens: int = 64


@dataclass(frozen=True)
class StackSpec:
    """[stack]: the server as several containers (seed 003): `replicas` serving containers on a network of
    their own, behind an nginx gateway that is the only container with a published port."""

    replicas: int = 1
    offline: bool = True  # the serving network is `internal`: no published port, no route out
    gateway: BuildSpec = field(default_factory=BuildSpec)  # [stack.gateway]: an nginx image, built or given
    gateway_port: int = 80  # where nginx listens inside its container


@dataclass(frozen=True)
class Variant:
    name: str
    folder: Path
    serve: ServeSpec
    description: str = ""
    build: BuildSpec = field(default_factory=BuildSpec)
    env: dict[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()  # host env vars passed through and always redacted
    mounts: tuple[Mount, ...] = ()
    gpu: GpuSpec = field(default_factory=GpuSpec)
    container: ContainerSpec = field(default_factory=ContainerSpec)
    capabilities: Capabilities = field(default_factory=Capabilities)
    process: ProcessSpec = field(default_factory=ProcessSpec)
    known_issues: tuple[KnownIssue, ...] = ()
    # ids of upstream deviations (harness/upstream_issues.toml) this image ships a fix for: not applied
    upstream_patched: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()  # [[probes]]: known-answer checks of the multimodal suite
    load: LoadSpec = field(default_factory=LoadSpec)  # [load], [load.slo]: load-test defaults and SLOs
    stack: StackSpec | None = None  # [stack]: replicas behind a gateway instead of one container

    @property
    def spec_path(self) -> Path:
        return self.folder / SPEC_FILE


def host_path(text: str, folder: Path, what: str) -> str:
    """A host path from a spec: `~` and `$VARS` expanded, relative paths taken from the variant folder."""
    expanded = os.path.expandvars(os.path.expanduser(text))
    if "$" in expanded:
        raise UsageError(f"{what} '{text}' names an environment variable that is not set; set it or edit "
                         f"{folder / SPEC_FILE}")
    path = Path(expanded)
    return str(path if path.is_absolute() else (folder / path).resolve())


# --- the registry -------------------------------------------------------------------------------


def default_images_dir() -> Path:
    return Path(os.environ.get("VLLM_HARNESS_IMAGES", "images")).resolve()


def variant_names(images_dir: Path) -> list[str]:
    if not images_dir.is_dir():
        return []
    return sorted(p.name for p in images_dir.iterdir() if (p / SPEC_FILE).is_file())


def load_variant(images_dir: Path, name: str) -> Variant:
    folder = images_dir / name
    if not (folder / SPEC_FILE).is_file():
        raise UnknownVariant(name, variant_names(images_dir))
    return parse_spec(folder / SPEC_FILE)


def load_all(images_dir: Path) -> list[Variant]:
    return [load_variant(images_dir, name) for name in variant_names(images_dir)]


# --- parsing ------------------------------------------------------------------------------------


def parse_spec(path: Path) -> Variant:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "<syntax>", f"not valid TOML: {exc}") from None
    root = Table(path, "", raw)
    root.check_known(["description", "build", "serve", "env", "secret_env", "mounts", "gpu", "container",
                      "capabilities", "process", "known_issues", "upstream_patched", "probes", "load", "stack"])
    serve = root.table("serve")
    if serve is None:
        raise SpecError(path, "serve", "is required (at least serve.model and serve.served_model_name)")
    return Variant(
        name=path.parent.name,
        folder=path.parent.resolve(),
        description=root.get("description", str, ""),
        build=_build(root.table("build")),
        serve=_serve(serve),
        env=root.mapping("env"),
        secret_env=root.strings("secret_env") or (),
        mounts=tuple(_mount(t) for _, t in _array(path, raw.get("mounts", []), "mounts", Mount)),
        gpu=_gpu(root.table("gpu")),
        container=_container(root.table("container")),
        capabilities=_capabilities(root.table("capabilities")),
        process=_process(root.table("process")),
        known_issues=_known_issues(path, raw.get("known_issues", [])),
        upstream_patched=root.strings("upstream_patched") or (),
        probes=_probes(path, raw.get("probes", [])),
        load=parse_load(root.table("load")),
        stack=_stack(root.table("stack")),
    )


def _build(t: Table | None) -> BuildSpec:
    if t is None:
        return BuildSpec()
    t.check_known(allowed(BuildSpec))
    base = t.table("base")
    wheels = t.table("wheelhouse")
    sources = [k for k in ("image", "variant") if k in t.data]
    if len(sources) > 1 or (sources == ["variant"] and ("dockerfile" in t.data or base or wheels)):
        raise SpecError(t.path, t.qualified(sources[-1]), "give one of dockerfile, image or variant")
    context = t.get("context", str, ".")
    if Path(context).is_absolute() or ".." in Path(context).parts:
        raise SpecError(t.path, t.qualified("context"), f"must be a folder inside the variant folder, got '{context}'")
    args = t.mapping("args")
    version_arg = t.get("vllm_version_arg", str, None)  # type: ignore[arg-type]
    if version_arg is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", version_arg):
        raise SpecError(t.path, "build.vllm_version_arg", f"must be a build arg name like VLLM_VERSION, got "
                                                          f"'{version_arg}'")
    if version_arg is not None and version_arg not in args:
        raise SpecError(t.path, "build.vllm_version_arg", f"names '{version_arg}', so build.args must give the "
                                                          f"current version, e.g. {version_arg} = \"v0.14.1\"")
    return BuildSpec(
        # an image without a dockerfile is used as it is; a folder's own Dockerfile must not shadow it
        dockerfile=t.get("dockerfile", str, "" if "image" in t.data else "Dockerfile"),
        repository=t.get("repository", str, ""),
        args=args,
        base=_base(base) if base else None,
        wheelhouse=_wheelhouse(wheels) if wheels else None,
        image=t.get("image", str, None),  # type: ignore[arg-type]
        context=context,
        variant=t.get("variant", str, None),  # type: ignore[arg-type]
        vllm_version_arg=version_arg,
    )


def _stack(t: Table | None) -> StackSpec | None:
    if t is None:
        return None
    t.check_known(allowed(StackSpec))
    replicas = t.get("replicas", int, 1)
    if replicas < 1:
        raise SpecError(t.path, "stack.replicas", f"must be at least 1, got {replicas}")
    port = t.get("gateway_port", int, 80)
    if not 0 < port < 65536:
        raise SpecError(t.path, "stack.gateway_port", f"must be a TCP port (1-65535), got {port}")
    gateway = t.table("gateway")
    if gateway is None:
        raise SpecError(t.path, "stack.gateway", "is required: an nginx image (image = ...) or its Dockerfile")
    spec = _build(gateway)
    if spec.variant:
        raise SpecError(t.path, "stack.gateway.variant", "the gateway is an nginx image: give image or dockerfile")
    return StackSpec(replicas=replicas, offline=t.get("offline", bool, True), gateway=spec, gateway_port=port)


def _base(t: Table) -> BaseImageSpec:
    t.check_known(allowed(BaseImageSpec))
    return BaseImageSpec(
        suite=t.get("suite", str, "bookworm"),
        packages=t.strings("packages") or (),
        mirror=t.get("mirror", str, None),  # type: ignore[arg-type]
        build_arg=t.get("build_arg", str, "BASE_IMAGE"),
    )


def _wheelhouse(t: Table) -> WheelhouseSpec:
    t.check_known(allowed(WheelhouseSpec))
    return WheelhouseSpec(
        requirements=t.get("requirements", str, "requirements.txt"),
        python_version=t.get("python_version", str, "3.11"),
        glibc=t.get("glibc", str, "2.36"),
        exclude=t.strings("exclude") or (),
        directory=t.get("directory", str, "wheelhouse"),
    )


def _serve(t: Table) -> ServeSpec:
    t.check_known(allowed(ServeSpec))
    utilization = t.get("gpu_memory_utilization", float, None)  # type: ignore[arg-type]
    if utilization is not None and not 0 < utilization <= 1:
        raise SpecError(t.path, "serve.gpu_memory_utilization", f"must be in (0, 1], got {utilization}")
    max_len = t.get("max_model_len", int, None)  # type: ignore[arg-type]
    if max_len is not None and max_len <= 0:
        raise SpecError(t.path, "serve.max_model_len", f"must be a positive integer, got {max_len}")
    return ServeSpec(
        model=t.required("model", str),
        served_model_name=t.required("served_model_name", str),
        max_model_len=max_len,
        gpu_memory_utilization=utilization,
        dtype=t.get("dtype", str, None),  # type: ignore[arg-type]
        enforce_eager=t.get("enforce_eager", bool, False),
        trust_remote_code=t.get("trust_remote_code", bool, False),
        chat_template=t.get("chat_template", str, None),  # type: ignore[arg-type]
        extra_args=t.strings("extra_args") or (),
        entrypoint=t.strings("entrypoint"),
        api_key_env=t.get("api_key_env", str, None),  # type: ignore[arg-type]
    )


def _mount(t: Table) -> Mount:
    return Mount(source=t.required("source", str), target=t.required("target", str),
                 read_only=t.get("read_only", bool, True))


def _gpu(t: Table | None) -> GpuSpec:
    if t is None:
        return GpuSpec()
    t.check_known(allowed(GpuSpec))
    vendor = t.get("vendor", str, "none")
    if vendor not in get_args(GpuVendor):
        raise SpecError(t.path, "gpu.vendor", f"must be one of {', '.join(get_args(GpuVendor))}, got '{vendor}'")
    count = t.get("count", int, -1)
    if count == 0 or count < -1:
        raise SpecError(t.path, "gpu.count", f"must be a positive integer or -1 for all, got {count}")
    return GpuSpec(vendor=vendor, devices=t.strings("devices") or (), count=count)  # type: ignore[arg-type]


def _container(t: Table | None) -> ContainerSpec:
    if t is None:
        return ContainerSpec()
    t.check_known(allowed(ContainerSpec))
    port = t.get("port", int, 8000)
    if not 0 < port < 65536:
        raise SpecError(t.path, "container.port", f"must be a TCP port (1-65535), got {port}")
    timeout = t.get("startup_timeout", float, 600.0)
    if timeout <= 0:
        raise SpecError(t.path, "container.startup_timeout", f"must be positive seconds, got {timeout}")
    health = t.get("health_path", str, "/health")
    if not health.startswith("/"):
        raise SpecError(t.path, "container.health_path", f"must start with '/', got '{health}'")
    return ContainerSpec(
        port=port,
        health_path=health,
        startup_timeout=timeout,
        shm_size=t.get("shm_size", str, None),  # type: ignore[arg-type]
        ipc_mode=t.get("ipc_mode", str, None),  # type: ignore[arg-type]
        memory_limit=t.get("memory_limit", str, None),  # type: ignore[arg-type]
    )


def _capabilities(t: Table | None) -> Capabilities:
    if t is None:
        return Capabilities()
    t.check_known(capability_names())
    flags = {name: t.get(name, bool, getattr(Capabilities, name)) for name in CAPABILITY_FLAGS}
    multi = t.get("multi_image", int, 0)
    if multi < 0:
        raise SpecError(t.path, "capabilities.multi_image", f"must be the max image count (>= 0), got {multi}")
    return Capabilities(**flags, multi_image=multi)


def _process(t: Table | None) -> ProcessSpec:
    if t is None:
        return ProcessSpec()
    t.check_known(allowed(ProcessSpec))
    command = t.strings("command") or ProcessSpec.command
    if not command:
        raise SpecError(t.path, "process.command", "must not be empty")
    args = t.strings("args")
    for arg in args or ():
        try:
            arg.format(model="", host="", port=0)
        except (KeyError, IndexError, ValueError):
            raise SpecError(t.path, "process.args", f"'{arg}' may only use {{model}}, {{host}} and {{port}}") from None
    return ProcessSpec(command=command, model=t.get("model", str, None), args=args)  # type: ignore[arg-type]


def _array(path: Path, raw: object, name: str, cls: type) -> list[tuple[int, Table]]:
    """An array of tables (`[[name]]`), each checked for unknown keys against `cls`'s fields."""
    if not isinstance(raw, list):
        raise SpecError(path, name, f"must be an array of tables ([[{name}]])")
    tables = [(i, Table(path, f"{name}[{i}]", item)) for i, item in enumerate(raw)]
    for _, t in tables:
        t.check_known(allowed(cls))
    return tables


def _known_issues(path: Path, raw: object) -> tuple[KnownIssue, ...]:
    issues = []
    for i, t in _array(path, raw, "known_issues", KnownIssue):
        check, reason = t.required("check", str), t.required("reason", str)
        if not check.strip() or not reason.strip():
            raise SpecError(path, f"known_issues[{i}]", "check and reason must not be empty")
        issues.append(KnownIssue(check=check, reason=reason, link=t.get("link", str, "")))
    return tuple(issues)


def _probes(path: Path, raw: object) -> tuple[Probe, ...]:
    from harness.imagegen import check_spec

    probes = []
    for i, t in _array(path, raw, "probes", Probe):
        image, expect = t.required("image", str), t.strings("expect")
        problem = check_spec(image)
        if problem:
            raise SpecError(path, f"probes[{i}].image", problem)
        if not expect or not all(w.strip() for w in expect):
            raise SpecError(path, f"probes[{i}].expect", "must list the words the answer must contain")
        max_tokens = t.get("max_tokens", int, 64)
        if max_tokens <= 0:
            raise SpecError(path, f"probes[{i}].max_tokens", f"must be positive, got {max_tokens}")
        probes.append(Probe(image=image, expect=expect, prompt=t.get("prompt", str, Probe.prompt),
                            max_tokens=max_tokens))
    return tuple(probes)
