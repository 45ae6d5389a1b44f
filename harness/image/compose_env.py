"""`vllm-harness env NAME`: seed 000's per-model image selection. Its docker-compose.yml reads three
variables from `.env` (the model-manager's `build_vllm_env()` writes them):

    VLLM_IMAGE       the image to run (and the tag `docker compose build` gives it)
    VLLM_DOCKERFILE  the Dockerfile `docker compose build` uses
    VLLM_PYTHONPATH  an extra import path inside the container (empty: none)

This writes them for a variant: the image reference the harness builds (the same content tag, so
`vllm-harness build NAME` and `docker compose build` name one image), the variant's Dockerfile, and
its PYTHONPATH. Other lines of an existing `.env` are kept; the file is replaced atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import UsageError
from harness.image.build import image_source, recipe_of
from harness.image.plan import CONTENT_LATER, build_commands, optional_engine
from harness.spec.variant import Variant

KEYS = ("VLLM_IMAGE", "VLLM_DOCKERFILE", "VLLM_PYTHONPATH")


def env_values(variant: Variant, image: str) -> dict[str, str]:
    recipe = recipe_of(image_source(variant))
    return {"VLLM_IMAGE": image, "VLLM_DOCKERFILE": str(recipe.dockerfile_path),
            "VLLM_PYTHONPATH": variant.env.get("PYTHONPATH", "")}


def image_ref(variant: Variant) -> str:
    ref, _ = build_commands(recipe_of(image_source(variant)), optional_engine())
    if CONTENT_LATER in ref:
        raise UsageError(f"{variant.name}'s image tag depends on its local base image, which this engine does not "
                         f"have yet; run `vllm-harness build {variant.name}` first")
    if ref == "<no image>":
        raise UsageError(f"{variant.name} has no Dockerfile and no build.image: there is no image to select")
    return ref


def merged(existing: str, values: dict[str, str]) -> str:
    """`existing` with each KEY=... line replaced (or appended), everything else kept as it was."""
    lines, seen = [], set()
    for line in existing.splitlines():
        key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
        if key in values and "=" in line and not line.lstrip().startswith("#"):
            if key not in seen:
                lines.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in values.items() if key not in seen]
    return "\n".join(lines) + "\n"


def write_env(path: Path, values: dict[str, str]) -> None:
    existing = path.read_text() if path.is_file() else ""
    for key, value in values.items():
        if any(c in value for c in "\n\"'$ #"):
            raise UsageError(f"{key}={value!r} cannot be written to a .env unquoted; rename the path")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".env.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(merged(existing, values))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_for(variant: Variant, path: Path) -> dict[str, str]:
    values = env_values(variant, image_ref(variant))
    write_env(path, values)
    return values
