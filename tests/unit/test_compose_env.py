"""`vllm-harness env NAME` writes seed 000's .env: the image the harness builds for the variant, its
Dockerfile and PYTHONPATH, keeping every other line of an existing file."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from harness.image.plan import plan_lines
from harness.spec.variant import load_variant

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"


def run_env(name: str, output: Path) -> subprocess.CompletedProcess[str]:
    env = {"DOCKER_HOST": "tcp://127.0.0.1:9", "PATH": "/usr/bin:/bin"}  # no engine needed
    return subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(IMAGES), "env", name,
                           "--output", str(output)], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)


def read_env(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")]
    return dict(pairs)  # type: ignore[arg-type]


def planned_tag(name: str) -> str:
    lines = plan_lines(load_variant(IMAGES, name), host_env={}, group_ids={}, client=None)
    return shlex.split(next(line for line in lines if line.startswith("docker build")))[5]


def test_env_selects_nemotron_then_nightly_and_keeps_other_settings(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# model-manager\nCOMPOSE_PROJECT_NAME=mm\nVLLM_IMAGE=local/vllm-openai:ocr2-nightly\n")
    result = run_env("nemotron", dotenv)
    assert result.returncode == 0, result.stderr
    values = read_env(dotenv)
    assert values["COMPOSE_PROJECT_NAME"] == "mm" and dotenv.read_text().startswith("# model-manager\n")
    assert values["VLLM_IMAGE"] == planned_tag("nemotron") and values["VLLM_IMAGE"].startswith("local/vllm-openai:")
    assert values["VLLM_DOCKERFILE"] == str(IMAGES / "nemotron" / "Dockerfile")
    assert values["VLLM_PYTHONPATH"] == "/vllm-workspace"
    assert dotenv.read_text().count("VLLM_IMAGE=") == 1
    # a model on the default image: nightly's image and Dockerfile, no extra import path
    assert run_env("nightly-qwen-chat", dotenv).returncode == 0
    values = read_env(dotenv)
    assert values["VLLM_IMAGE"] == planned_tag("nightly") != planned_tag("nemotron")
    assert values["VLLM_DOCKERFILE"] == str(IMAGES / "nightly" / "Dockerfile")
    assert values["VLLM_PYTHONPATH"] == ""
    dockerfile = Path(values["VLLM_DOCKERFILE"]).read_text()
    assert "ARG VLLM_VERSION=nightly\nFROM vllm/vllm-openai:${VLLM_VERSION}" in dockerfile


def test_env_for_an_image_without_a_dockerfile_is_one_line(tmp_path: Path) -> None:
    result = run_env("gpu-transformers", tmp_path / ".env")
    assert result.returncode == 2 and "no Dockerfile" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".env").exists()
