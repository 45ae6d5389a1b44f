"""Variant → image. The tag is a hash of everything that goes into the build (the variant folder, the
build args, the base image, the wheelhouse), so an unchanged variant is never rebuilt and a changed one
always is."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import docker.errors

from harness import __version__
from harness.errors import BuildError, SpecError
from harness.image.base_image import ensure_base_image
from harness.image.cache import cache_dir, digest, locked, tree_digest
from harness.image.wheelhouse import COMPLETE, ensure_wheelhouse, requirements_pattern
from harness.progress import Progress
from harness.server.labels import HARNESS_VERSION, PREFIX, VARIANT
from harness.spec.variant import SPEC_FILE, BuildSpec, Variant, load_variant

CONTENT = f"{PREFIX}.content"
# files that describe the variant but never enter the image: editing them must not force a rebuild
NOT_BUILD_INPUTS = (SPEC_FILE, "README.md")


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    id: str
    size_bytes: int
    build_seconds: float  # 0.0 when the image was already there
    cached: bool
    base: str | None = None

    def as_record(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """What one image is made from. The build executes it and `vllm-harness plan` prints it, so the
    plan cannot say anything the build would not do."""

    name: str  # the variant's name, or NAME-gateway for a stack's gateway
    folder: Path  # the variant folder
    spec: BuildSpec
    spec_path: Path

    @property
    def context(self) -> Path:
        return self.folder / self.spec.context

    @property
    def dockerfile_path(self) -> Path:
        return self.context / self.spec.dockerfile

    @property
    def prebuilt(self) -> bool:
        """A given image (build.image) and no Dockerfile to make it from."""
        return bool(self.spec.image) and (not self.spec.dockerfile or not self.dockerfile_path.is_file())

    @property
    def repository(self) -> str:
        return self.spec.repository or f"vllm-harness/{self.name}"

    def content(self, build_args: dict[str, str], wheels: str | None) -> str:
        # requirements files reach the image only through the wheelhouse, whose name is hashed: editing
        # one release's pins must not rebuild the variant at every other release
        requirements = ([requirements_pattern(self.spec.wheelhouse)] if self.spec.wheelhouse else [])
        return digest(tree_digest(self.context, NOT_BUILD_INPUTS, requirements), self.spec.dockerfile, build_args,
                      wheels)


def build_labels(recipe: Recipe, content: str) -> dict[str, str]:
    return {VARIANT: recipe.name, HARNESS_VERSION: __version__, CONTENT: content}


def recipe_of(variant: Variant) -> Recipe:
    return Recipe(variant.name, variant.folder, variant.build, variant.spec_path)


def gateway_recipe(variant: Variant) -> Recipe:
    if variant.stack is None:
        raise SpecError(variant.spec_path, "stack", "is not set: this variant has no gateway")
    return Recipe(f"{variant.name}-gateway", variant.folder, variant.stack.gateway, variant.spec_path)


def image_source(variant: Variant) -> Variant:
    """The variant whose image this one runs: itself, or the sibling named by build.variant."""
    if not variant.build.variant:
        return variant
    source = load_variant(variant.folder.parent, variant.build.variant)
    if source.build.variant:
        raise SpecError(variant.spec_path, "build.variant",
                        f"'{source.name}' takes its image from another variant itself; name that one")
    return source


def build_variant(client: docker.DockerClient, variant: Variant, progress: Progress, *,
                  force: bool = False, no_cache: bool = False) -> BuiltImage:
    """Build (or find) the variant's image. `force` builds even when the content tag exists;
    `no_cache` also ignores the engine's layer cache (a cold build)."""
    return build_recipe(client, recipe_of(image_source(variant)), progress, force=force, no_cache=no_cache)


def build_recipe(client: docker.DockerClient, recipe: Recipe, progress: Progress, *,
                 force: bool = False, no_cache: bool = False) -> BuiltImage:
    spec = recipe.spec
    if recipe.prebuilt:
        return _prebuilt(client, spec.image, progress)  # type: ignore[arg-type]
    if not recipe.dockerfile_path.is_file():
        raise SpecError(recipe.spec_path, "build.dockerfile",
                        f"'{spec.dockerfile}' does not exist in {recipe.context}; set build.image, or run this "
                        "variant with --runtime process")
    started = time.monotonic()
    base = ensure_base_image(client, spec.base, progress) if spec.base else None
    build_args = dict(spec.args)
    wheels = ensure_wheelhouse(spec.wheelhouse, recipe.context, progress, build_args) if spec.wheelhouse else None
    if spec.base and base:
        build_args[spec.base.build_arg] = client.images.get(base).id  # by id: a re-made base changes the hash
    content = recipe.content(build_args, wheels.name if wheels else None)
    ref = f"{recipe.repository}:{content}"
    # one build per content at a time: a second run of the same variant waits, then finds it built
    with locked(f"build-{recipe.name}-{content}"):
        if not (force or no_cache):
            try:
                image = client.images.get(ref)
                progress.note(f"{ref} is up to date (content {content}); not rebuilding")
                return BuiltImage(ref, image.id, int(image.attrs.get("Size", 0)), 0.0, True, base)
            except docker.errors.ImageNotFound:
                pass
        with _staged_context(recipe, wheels, spec.wheelhouse.directory if spec.wheelhouse else "") as context:
            labels = build_labels(recipe, content)
            image_id = _docker_build(client, context, spec.dockerfile, ref, build_args, labels, progress, no_cache)
    image = client.images.get(image_id)
    seconds = time.monotonic() - started
    progress.note(f"built {ref} in {seconds:.0f}s ({int(image.attrs.get('Size', 0)) / 1e9:.2f} GB)")
    return BuiltImage(ref, image.id, int(image.attrs.get("Size", 0)), seconds, False, base)


def _prebuilt(client: docker.DockerClient, ref: str, progress: Progress) -> BuiltImage:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        progress.note(f"pulling {ref}")
        try:
            image = client.images.pull(ref)
        except docker.errors.APIError as exc:
            raise BuildError(f"image {ref} is not on this engine and could not be pulled "
                             f"({exc.explanation or exc}); load it with `docker load` or build it") from None
    return BuiltImage(ref, image.id, int(image.attrs.get("Size", 0)), 0.0, True)


class _staged_context:
    """The build context plus its wheelhouse in one temporary folder, hard-linked where possible."""

    def __init__(self, recipe: Recipe, wheels: Path | None, wheel_dir: str) -> None:
        self.recipe, self.wheels, self.wheel_dir = recipe, wheels, wheel_dir
        self.path = Path(tempfile.mkdtemp(prefix=f"context-{recipe.name}-", dir=cache_dir()))

    def __enter__(self) -> Path:
        root = self.path / "context"
        shutil.copytree(self.recipe.context, root, ignore=shutil.ignore_patterns("__pycache__"))
        if self.wheels is not None:
            target = root / self.wheel_dir
            target.mkdir(parents=True, exist_ok=True)
            for wheel in self.wheels.iterdir():
                if wheel.name != COMPLETE:
                    _link_or_copy(wheel, target / wheel.name)
        return root

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


def _docker_build(client: docker.DockerClient, context: Path, dockerfile: str, ref: str,
                  build_args: dict[str, str], labels: dict[str, str], progress: Progress, no_cache: bool) -> str:
    step = "preparing the build context"
    tail: list[str] = []
    image_id: str | None = None
    try:
        for chunk in client.api.build(path=str(context), dockerfile=dockerfile, tag=ref, buildargs=build_args,
                                      labels=labels, rm=True, forcerm=True, decode=True, nocache=no_cache):
            if "error" in chunk:
                detail = str(chunk["error"]).strip()
                raise BuildError(f"docker build of {ref} failed at {step}: {detail.splitlines()[-1][:300]}",
                                 "\n".join(tail))
            for line in str(chunk.get("stream", "")).splitlines():
                if not line.strip():
                    continue
                tail = [*tail[-39:], line]
                if re.match(r"Step \d+/\d+ :", line):
                    step = line
                    progress.note(line)
                else:
                    progress.output(line)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = aux["ID"]
    except docker.errors.APIError as exc:
        raise BuildError(f"docker build of {ref} failed at {step}: {exc.explanation or exc}",
                         "\n".join(tail)) from None
    if image_id is None:
        image_id = client.images.get(ref).id
    return image_id
