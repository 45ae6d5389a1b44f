"""How a variant declares its vLLM version for the bump gate: `[build] vllm_version_arg`, validated
strictly, and checked against the Dockerfile before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compare.gate import version_arg
from harness.errors import SpecError, UsageError
from harness.spec.variant import parse_spec

SERVE = '[serve]\nmodel = "m"\nserved_model_name = "m"\n'


def spec(tmp_path: Path, build: str, dockerfile: str | None = "ARG VLLM_VERSION\nFROM x:${VLLM_VERSION}\n") -> Path:
    folder = tmp_path / "v"
    folder.mkdir(exist_ok=True)
    (folder / "variant.toml").write_text(build + SERVE)
    if dockerfile is not None:
        (folder / "Dockerfile").write_text(dockerfile)
    return folder / "variant.toml"


def test_declared_version_is_read(tmp_path: Path) -> None:
    variant = parse_spec(spec(tmp_path, '[build]\nvllm_version_arg = "VLLM_VERSION"\n'
                                        '[build.args]\nVLLM_VERSION = "v0.14.1"\n'))
    assert variant.build.vllm_version == "v0.14.1"
    assert version_arg(variant) == "VLLM_VERSION"


@pytest.mark.parametrize(("build", "fragment"), [
    ('[build]\nvllm_version_arg = "VLLM_VERSION"\n', "build.args must give the current version"),
    ('[build]\nvllm_version_arg = "not a name"\n[build.args]\nx = "1"\n', "must be a build arg name"),
    ('[build]\nvllm_version_arg = 14\n', "must be str"),
])
def test_bad_declarations_name_the_field(tmp_path: Path, build: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=r"build\.vllm_version_arg") as caught:
        parse_spec(spec(tmp_path, build))
    assert fragment in str(caught.value)


def test_undeclared_or_unused_arg_is_refused_by_the_gate(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="declares no vLLM version"):
        version_arg(parse_spec(spec(tmp_path, "")))
    declared = '[build]\nvllm_version_arg = "VLLM_VERSION"\n[build.args]\nVLLM_VERSION = "v1"\n'
    with pytest.raises(UsageError, match="has no `ARG VLLM_VERSION`"):
        version_arg(parse_spec(spec(tmp_path, declared, dockerfile="FROM x:latest\n")))


def test_bad_build_arg_option_is_one_line() -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pytest", "suites/test_preflight.py", "--image", "cpu-tiny",
                           "--build-arg", "nope", "-p", "no:cacheprovider"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 4  # pytest's usage error
    assert "--build-arg: expected KEY=VALUE" in done.stderr and "Traceback" not in done.stderr
