"""The process runtime picks the server's environment from the vLLM version (a build arg), so the
bump gate can switch environments where it switches Docker builds: `{BUILD_ARG}` in [process]
command/env, `$VARS` from the host, checked when the spec is read and again by the gate."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.compare.gate import version_arg
from harness.errors import SpecError, UsageError
from harness.server.launch import TargetOptions
from harness.server.runtime_process import ProcessServer
from harness.spec.variant import load_variant, parse_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = """[build]
vllm_version_arg = "VLLM_VERSION"
[build.args]
VLLM_VERSION = "0.26.0"
[serve]
model = "m"
served_model_name = "m"
[env]
HF_HUB_OFFLINE = "1"
[process]
only = true
command = ["python3", "-m", "vllm.entrypoints.cli.main", "serve"]
"""


def variant_with(tmp_path: Path, process_env: str, spec: str = SPEC):  # type: ignore[no-untyped-def]
    folder = tmp_path / "v"
    folder.mkdir(exist_ok=True)
    (folder / "variant.toml").write_text(spec + process_env)
    return parse_spec(folder / "variant.toml")


def test_version_picks_the_environment_and_replaces_the_callers(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_ENVS", "/envs")
    variant = variant_with(tmp_path, '[process.env]\nPYTHONPATH = "$VLLM_ENVS/{VLLM_VERSION}"\n')
    host = {"PYTHONPATH": "/harness/site", "PATH": "/usr/bin"}
    env = ProcessServer(variant, tmp_path, port=1).environment(host)
    assert env["PYTHONPATH"] == "/envs/0.26.0" and env["PATH"] == "/usr/bin" and env["HF_HUB_OFFLINE"] == "1"
    # what launch() does with the gate's --build-arg
    candidate = replace(variant, build=replace(variant.build, args={"VLLM_VERSION": "0.25.0"}))
    assert ProcessServer(candidate, tmp_path, port=1).environment(host)["PYTHONPATH"] == "/envs/0.25.0"


def test_version_in_the_command_too(tmp_path: Path) -> None:
    spec = SPEC.replace('command = ["python3"', 'command = ["/venvs/{VLLM_VERSION}/bin/python"')
    server = ProcessServer(variant_with(tmp_path, "", spec), tmp_path, port=8123)
    assert server.argv[:2] == ["/venvs/0.26.0/bin/python", "-m"]
    assert server.argv[4:5] == ["m"] and "8123" in server.argv


def test_unknown_placeholder_is_refused_when_read(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"process.*\{VLLM_VERSION\}") as caught:
        variant_with(tmp_path, '[process.env]\nPYTHONPATH = "/envs/{VERSION}"\n')
    assert "\n" not in str(caught.value)


def test_unset_host_variable_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_ENVS", raising=False)
    variant = variant_with(tmp_path, '[process.env]\nPYTHONPATH = "$VLLM_ENVS/{VLLM_VERSION}"\n')
    with pytest.raises(UsageError, match=r"process.env.PYTHONPATH .* not set") as caught:
        ProcessServer(variant, tmp_path, port=1).environment({})
    assert "\n" not in str(caught.value)


def test_gate_in_the_process_runtime_needs_the_version_in_command_or_env(tmp_path: Path) -> None:
    used = variant_with(tmp_path, '[process.env]\nPYTHONPATH = "$VLLM_ENVS/{VLLM_VERSION}"\n')
    assert version_arg(used, "process") == "VLLM_VERSION"
    with pytest.raises(UsageError, match="has no `ARG VLLM_VERSION`"):
        version_arg(used, "docker")  # no Dockerfile: the Docker gate still refuses it
    unused = variant_with(tmp_path, '[process.env]\nPYTHONPATH = "/envs/fixed"\n')
    with pytest.raises(UsageError, match=r"never use \{VLLM_VERSION\}: both versions would run the same vLLM"):
        version_arg(unused, "process")


def test_process_only_variant_refuses_docker_in_one_line(tmp_path: Path) -> None:
    variant_with(tmp_path, "")
    options = TargetOptions(images_dir=tmp_path, reports_dir=tmp_path, image="v")
    with pytest.raises(UsageError, match=r"has no Docker image .*--runtime process"):
        options.check()
    replace(options, runtime="process").check()


@pytest.mark.parametrize("name", ["gpu-vllm", "gpu-vllm-7b"])
def test_shipped_gpu_vllm_variants_gate_by_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_ENVS", "/envs")
    monkeypatch.setenv("GPU_VLLM_MODELS", "/models")
    variant = load_variant(REPO / "images", name)
    assert version_arg(variant, "process") == "VLLM_VERSION" and variant.process.only
    server = ProcessServer(variant, Path("/nonexistent"), port=8000)
    assert server.environment({})["PYTHONPATH"] == f"/envs/{variant.build.vllm_version}"
    assert server.argv[4] == f"/models/{variant.serve.model}"
    assert server.environment({})["VLLM_USE_FLASHINFER_SAMPLER"] == "0"


def test_dummy_llama_is_7b_shaped_over_the_tiny_tokenizer(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("prepare_models", REPO / "images/gpu-vllm/prepare_models.py")
    assert spec and spec.loader
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "tokenizer_config.json").write_text(json.dumps({"processor_class": "LlavaProcessor", "eos_token": "x"}))
    (tiny / "tokenizer.json").write_text("{}")
    (tiny / "config.json").write_text(json.dumps({"text_config": {"vocab_size": 1024, "eos_token_id": 6}}))
    prepare.dummy_llama(tiny, tmp_path / "out")
    config = json.loads((tmp_path / "out/config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (4096, 32, 1024)
    assert config["eos_token_id"] == 6 and not (tmp_path / "out/model.safetensors").exists()
    assert "processor_class" not in json.loads((tmp_path / "out/tokenizer_config.json").read_text())


def test_plan_shows_the_environment_the_version_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.image.plan import plan_lines

    monkeypatch.setenv("VLLM_ENVS", "/envs")
    monkeypatch.setenv("GPU_VLLM_MODELS", "/models")
    variant = load_variant(REPO / "images", "gpu-vllm-7b")
    (line,) = [x for x in plan_lines(variant, host_env={}, client=None) if x.startswith("# --runtime process:")]
    assert line.startswith("# --runtime process: PYTHONPATH=/envs/0.26.0 python3 -m vllm.entrypoints.cli.main serve")
    assert "/models/dummy-llama-7b" in line and "--load-format dummy" in line
