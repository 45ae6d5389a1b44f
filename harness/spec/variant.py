"""Variant specs: one folder per image variant under images/, described by `variant.toml`.

A spec is read once into frozen dataclasses; every later stage (build, boot, suites) reads those, never
the TOML. The dataclasses are pydantic's: each key's type and limits are declared once, here, and give
both the strict reading (unknown keys and wrong types are one line naming the file, the key and what is
allowed, so a typo cannot silently fall back to a default) and the JSON Schema for editors
(`images/variant.schema.json`, written by `python -m harness.spec.variant_schema`).
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from harness.errors import SpecError, UnknownVariant, UsageError
from harness.spec.failure import StatedFailure
from harness.spec.spec_table import (
    Bool,
    FieldProblem,
    Float,
    Int,
    NonBlank,
    Str,
    TextTable,
    Words,
    read_toml,
    spec,
    validate,
)
from harness.spec.variant_load import LoadSpec

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
    "messages",
    "operations",
    "tokenize",
    "embeddings",
    "score",
    "classify",
    "lora",
    "reasoning",
    "server_load",
)
Port = Annotated[int, Field(strict=True, ge=1, le=65535, description="a TCP port (1-65535)")]


@spec()
class BaseImageSpec:
    """A Debian base made locally with debootstrap + `docker import` (no registry needed)."""

    suite: Str = "bookworm"
    packages: Words = ()
    mirror: Str | None = None  # None: the host's own Debian mirror
    build_arg: Str = "BASE_IMAGE"  # the Dockerfile ARG that receives the base's tag


@spec()
class WheelhouseSpec:
    """Python wheels downloaded on the host and copied into the build context (air-gapped installs)."""

    requirements: Str = "requirements.txt"
    python_version: Str = "3.11"
    glibc: Str = "2.36"  # the image's glibc: every manylinux tag up to it is accepted
    exclude: Words = ()  # distributions dropped after download (e.g. triton on CPU)
    directory: Str = "wheelhouse"  # where it lands inside the build context


@spec()
class BuildSpec:
    """How the image is made: a Dockerfile build, a prebuilt `image`, or a sibling `variant`'s image."""

    dockerfile: Str = "Dockerfile"
    repository: Str = ""  # image repository; the tag is a hash of the variant's content
    args: TextTable = field(default_factory=dict)
    base: BaseImageSpec | None = None
    wheelhouse: WheelhouseSpec | None = None
    image: Str | None = None  # a prebuilt image reference instead of a Dockerfile build
    context: Str = "."  # the build context, relative to the variant folder
    variant: Str | None = None  # the image is the one this sibling variant builds (shared, never copied)
    # the build arg that carries the vLLM version (`vllm-harness gate` builds the variant at two values);
    # its current value is build.args[vllm_version_arg]
    vllm_version_arg: Str | None = None

    @property
    def vllm_version(self) -> str | None:
        return self.args.get(self.vllm_version_arg) if self.vllm_version_arg else None

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        if not isinstance(data, dict):  # constructed in code, not read from a spec
            return data
        sources = [k for k in ("image", "variant") if k in data]
        if len(sources) > 1 or (sources == ["variant"] and {"dockerfile", "base", "wheelhouse"} & set(data)):
            raise FieldProblem(sources[-1], "give one of dockerfile, image or variant")
        # an image without a dockerfile is used as it is; a folder's own Dockerfile must not shadow it
        return {"dockerfile": ""} | data if "image" in data else data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if Path(self.context).is_absolute() or ".." in Path(self.context).parts:
            raise FieldProblem("context", f"must be a folder inside the variant folder, got '{self.context}'")
        arg = self.vllm_version_arg
        if arg is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arg):
            raise FieldProblem("vllm_version_arg", f"must be a build arg name like VLLM_VERSION, got '{arg}'")
        if arg is not None and arg not in self.args:
            raise FieldProblem("vllm_version_arg", f"names '{arg}', so build.args must give the current "
                                                   f"version, e.g. {arg} = \"v0.14.1\"")
        return self


@spec()
class ServeSpec:
    """What `vllm serve` is told; see harness.server.serve_command for how it becomes argv."""

    model: Str
    served_model_name: Str
    max_model_len: Annotated[Int, Field(gt=0, description="a positive integer")] | None = None
    gpu_memory_utilization: Annotated[Float, Field(gt=0, le=1, description="a share in (0, 1]")] | None = None
    dtype: Str | None = None
    enforce_eager: Bool = False
    trust_remote_code: Bool = False
    chat_template: Str | None = None
    extra_args: Words = ()
    entrypoint: Words | None = None  # None: the image's own ENTRYPOINT
    api_key_env: Str | None = None  # host env var whose value becomes --api-key (a secret)


@spec()
class Mount:
    source: Str
    target: Str
    read_only: Bool = True


@spec()
class GpuSpec:
    vendor: GpuVendor = "none"
    devices: Words = ()  # explicit device ids; empty means `count`
    count: Int = -1  # -1: all GPUs (only used when devices is empty)

    @field_validator("count")
    @classmethod
    def _count(cls, count: int) -> int:
        if count == 0 or count < -1:
            raise ValueError(f"must be a positive integer or -1 for all, got {count}")
        return count


@spec()
class ContainerSpec:
    port: Port = 8000
    health_path: Annotated[Str, Field(pattern="^/", description="a URL path: it must start with '/'")] = "/health"
    startup_timeout: Annotated[Float, Field(gt=0, description="positive seconds")] = 600.0
    shm_size: Str | None = None
    ipc_mode: Str | None = None
    memory_limit: Str | None = None


@spec()
class Capabilities:
    chat: Bool = True
    completions: Bool = True
    vision: Bool = False
    # the most images one request may carry; 0: not declared
    multi_image: Annotated[Int, Field(ge=0, description="the max image count (>= 0)")] = 0
    video: Bool = False
    audio: Bool = False
    tools: Bool = False
    structured_output: Bool = False
    encoder_decoder: Bool = False
    responses: Bool = False  # serves the Responses API, /v1/responses (vLLM >= 0.26)
    messages: Bool = False  # serves Anthropic's Messages API, /v1/messages (vLLM 0.32)
    # serves vLLM's /ping and /invocations (SageMaker's contract): not every gateway passes them on
    operations: Bool = False
    # serves vLLM's /tokenize and /detokenize (its extension: prompt and chat forms over the served tokenizer)
    tokenize: Bool = False
    # vLLM's pooling routes, each served by a model of its kind (`--runner pooling`): /v1/embeddings and
    # /pooling; /score and /rerank (/v1/rerank, /v2/rerank) of a cross-encoder; /classify
    embeddings: Bool = False
    score: Bool = False
    classify: Bool = False
    # loads and unloads LoRA adapters at run time (/v1/load_lora_adapter, /v1/unload_lora_adapter: vLLM with
    # --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING); the adapters to load are the [[lora_adapters]]
    lora: Bool = False
    # splits answers into `reasoning` and `content` (vLLM's --reasoning-parser); how is the [reasoning] table
    reasoning: Bool = False
    # serves vLLM's /load, its count of requests in flight (--enable-server-load-tracking)
    server_load: Bool = False

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


@spec()
class ProcessSpec:
    """How `--runtime process` runs the server as a local subprocess (hosts without Docker)."""

    command: Annotated[Words, Field(min_length=1, description="a non-empty list: the program and its "
                                                              "arguments")] = ("vllm", "serve")
    model: Str | None = None  # the model path on the host, when it differs from the image's
    # for servers whose flags are not vLLM's: a template with {model}, {host} and {port}
    args: Words | None = None
    # env for the process only (over [env]), e.g. PYTHONPATH of the environment vLLM is installed in
    env: TextTable = field(default_factory=dict)
    # no Docker image: `--runtime docker` refuses the variant instead of failing at its build
    only: Bool = False

    @field_validator("args")
    @classmethod
    def _templates(cls, args: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for arg in args or ():
            try:
                arg.format(model="", host="", port=0)
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"'{arg}' may only use {{model}}, {{host}} and {{port}}") from None
        return args

    # `{BUILD_ARG}` filled from the build args (the version the gate sets goes where a Docker build arg
    # goes), then `$VARS`/`~` expanded from the host environment
    def resolved_command(self, build_args: dict[str, str], folder: Path) -> tuple[str, ...]:
        return tuple(_host_text(c.format(**build_args), folder, "process.command") for c in self.command)

    def resolved_env(self, build_args: dict[str, str], folder: Path) -> dict[str, str]:
        return {k: _host_text(v.format(**build_args), folder, f"process.env.{k}") for k, v in self.env.items()}

    def placeholders(self) -> set[str]:
        """The build args that command and env name, e.g. {"VLLM_VERSION"}."""
        texts = [*self.command, *self.env.values()]
        return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


@spec(kw_only=True)
class KnownIssue(StatedFailure):
    """A check known to fail on this variant, in the way it states (`status`, `message`: harness.spec.failure):
    run as a strict xfail, so the day it passes the run says so; a failure of another kind stays a failure."""

    check: NonBlank  # fnmatch pattern on the test name (e.g. `test_vision_*`) or its node id
    reason: NonBlank
    link: Str = ""


def _image_spec(image: str) -> str:
    from harness.checks.imagegen import check_spec  # PIL: only where a spec declares probes

    problem = check_spec(image)
    if problem:
        raise ValueError(problem)
    return image


@spec()
class Probe:
    """A known-answer multimodal probe, for real models only: the greedy answer to `prompt` about the
    generated `image` must contain every word of `expect` (case-insensitive)."""

    # a harness.checks.imagegen spec: "solid:red", "text:INVOICE 2024", "shapes", ...
    image: Annotated[Str, AfterValidator(_image_spec)]
    expect: Annotated[tuple[NonBlank, ...], Field(min_length=1, description="a non-empty list of the words "
                                                                            "the answer must contain")]
    prompt: Str = "What is in this image? Answer briefly."
    max_tokens: Annotated[Int, Field(gt=0, description="positive")] = 64


@spec()
class LoraAdapter:
    """[[lora_adapters]]: an adapter the server can load at run time, for the LoRA checks: its name, and its
    folder (PEFT's adapter_config.json and weights) as the server sees it (inside the image or a mount)."""

    name: NonBlank
    path: NonBlank


@spec(kw_only=True)
class ReasoningSpec:
    """[reasoning]: what the server's reasoning parser cuts on, for the reasoning checks: the text that opens
    the reasoning (empty where the chat template opens it) and the one that ends it. A random-weight model
    never reasons on its own: `force_regex` makes it write that shape through structured output (the server
    must constrain reasoning too: vLLM's `--structured-outputs-config '{"enable_in_reasoning": true}'`)."""

    start: Str = ""
    end: NonBlank
    force_regex: Str = ""


@spec(kw_only=True)
class StackSpec:
    """[stack]: the server as several containers (seed 003): `replicas` serving containers on a network of
    their own, behind an nginx gateway that is the only container with a published port."""

    replicas: Annotated[Int, Field(ge=1, description="at least 1")] = 1
    offline: Bool = True  # the serving network is `internal`: no published port, no route out
    # [stack.gateway]: an nginx image, built or given
    gateway: BuildSpec = Field(description="an nginx image (image = ...) or its Dockerfile")
    gateway_port: Port = 80  # where nginx listens inside its container

    @model_validator(mode="after")
    def _gateway_is_nginx(self) -> Self:
        if self.gateway.variant:
            raise FieldProblem("gateway.variant", "the gateway is an nginx image: give image or dockerfile")
        return self


@spec(kw_only=True)
class Variant:
    # the folder's name and place: set by the loader, never written in variant.toml
    name: SkipJsonSchema[str] = Field(exclude=True)
    folder: SkipJsonSchema[Path] = Field(exclude=True)
    description: Str = ""
    build: BuildSpec = field(default_factory=BuildSpec)
    serve: ServeSpec = Field(description="a table with at least model and served_model_name")
    env: TextTable = field(default_factory=dict)
    secret_env: Words = ()  # host env vars passed through and always redacted
    mounts: tuple[Mount, ...] = ()
    gpu: GpuSpec = field(default_factory=GpuSpec)
    container: ContainerSpec = field(default_factory=ContainerSpec)
    capabilities: Capabilities = field(default_factory=Capabilities)
    process: ProcessSpec = field(default_factory=ProcessSpec)
    known_issues: tuple[KnownIssue, ...] = ()
    # ids of upstream deviations (harness/spec/upstream_issues.toml) this image ships a fix for: not applied
    upstream_patched: Words = ()
    probes: tuple[Probe, ...] = ()  # [[probes]]: known-answer checks of the multimodal suite
    lora_adapters: tuple[LoraAdapter, ...] = ()  # [[lora_adapters]]: what the LoRA checks load (capability lora)
    reasoning: ReasoningSpec | None = None  # [reasoning]: the parser's markers (capability reasoning)
    load: LoadSpec = field(default_factory=LoadSpec)  # [load], [load.slo]: load-test defaults and SLOs
    stack: StackSpec | None = None  # [stack]: replicas behind a gateway instead of one container

    @property
    def spec_path(self) -> Path:
        return self.folder / SPEC_FILE

    @model_validator(mode="after")
    def _placeholders_are_build_args(self) -> Self:
        for text in [*self.process.command, *self.process.env.values()]:
            try:
                text.format(**self.build.args)
            except (KeyError, IndexError, ValueError):
                known = ", ".join(f"{{{a}}}" for a in self.build.args) or "none (no build.args)"
                raise FieldProblem("process", f"'{text}' may only use build args as placeholders: {known}") from None
        return self


def _host_text(text: str, folder: Path, what: str) -> str:
    expanded = os.path.expandvars(os.path.expanduser(text))
    if "$" in expanded:
        raise UsageError(f"{what} '{text}' names an environment variable that is not set; set it or edit "
                         f"{folder / SPEC_FILE}")
    return expanded


def host_path(text: str, folder: Path, what: str) -> str:
    """A host path from a spec: `~` and `$VARS` expanded, relative paths taken from the variant folder."""
    path = Path(_host_text(text, folder, what))
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
    raw = read_toml(path)
    for key in ("name", "folder"):  # the loader's, from the folder
        if key in raw:
            raise SpecError(path, key, "unknown key: a variant's name is its folder's name")
    return validate(Variant, {**raw, "name": path.parent.name, "folder": path.parent.resolve()}, path)

