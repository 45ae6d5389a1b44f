"""Each way a boot (or build) fails, made for real with the stub variant, is classified and explained:
OOM-killed, port never open, image build failed (the step named), and the log tail reaches the failing
pytest report (terminal and JUnit XML) with secrets masked. Exit during start-up and health never
ready are proven in test_lifecycle.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from harness.errors import BuildError, ContainerExited, ReadinessTimeout
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.server.labels import VARIANT
from harness.server.launch import TargetOptions, launch

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECRET = "hf_TOPSECRET_boot_failure_4242"


def edit_spec(images: Path, name: str, serve: str = "", container: str = "") -> None:
    spec = images / name / "variant.toml"
    text = spec.read_text().replace('served_model_name = "stub"', f'served_model_name = "stub"\n{serve}')
    spec.write_text(text.replace("[container]\n", f"[container]\n{container}\n"))


def boot(images: Path, name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    recorder = RunRecorder(tmp_path / "reports", name)
    options = TargetOptions(images_dir=images, reports_dir=tmp_path / "reports", image=name)
    return launch(options, recorder, LogProgress(recorder.dir / "build.log", show=print))


def mine(client: docker.DockerClient, name: str) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"label": f"{VARIANT}={name}"})]


def test_oom_killed_during_startup(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                                   tmp_path: Path) -> None:
    images = make_variant(name="stub-oom", startup_timeout=120)
    # writes 1 GiB, page by page, under a 64 MiB limit
    edit_spec(images, "stub-oom",
              serve='entrypoint = ["python3", "-c", "print(\'allocating\', flush=True); x = b\'x\' * (1 << 30)"]',
              container='memory_limit = "64m"')
    with pytest.raises(ContainerExited) as info, boot(images, "stub-oom", tmp_path):
        pass
    message = str(info.value)
    assert "was OOM-killed during start-up (exit code 137)" in message, message
    assert "raise the memory limit" in message
    assert "allocating" in info.value.log_tail
    assert mine(docker_client, "stub-oom") == []


def test_port_never_open(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                         tmp_path: Path) -> None:
    images = make_variant(name="stub-deaf", startup_timeout=5)
    edit_spec(images, "stub-deaf", serve='entrypoint = ["python3", "-c", '
                                         '"import time; print(\'loading forever\', flush=True); time.sleep(600)"]')
    with pytest.raises(ReadinessTimeout) as info, boot(images, "stub-deaf", tmp_path):
        pass
    message = str(info.value)
    assert "never answered HTTP at http://127.0.0.1:" in message and "the port never opened" in message, message
    assert "loading forever" in info.value.log_tail
    assert mine(docker_client, "stub-deaf") == []


def test_build_failure_names_the_step(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                                      tmp_path: Path) -> None:
    images = make_variant(name="stub-nobuild")
    with (images / "stub-nobuild" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write('RUN echo "compiling kernels" && exit 9\n')
    with pytest.raises(BuildError) as info, boot(images, "stub-nobuild", tmp_path):
        pass
    message = str(info.value)
    assert re.search(r'failed at Step \d+/\d+ : RUN echo "compiling kernels" && exit 9', message), message
    assert "returned a non-zero code: 9" in message
    assert "compiling kernels" in info.value.log_tail
    # through the CLI: one line, the step, then the tail
    result = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images), "build", "stub-nobuild"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("vllm-harness: error:")]
    assert len(errors) == 1 and 'RUN echo "compiling kernels"' in errors[0], result.stderr
    assert "compiling kernels" in result.stderr and "Traceback" not in result.stderr


def test_failing_boot_reaches_the_pytest_report_with_secrets_masked(
        docker_client: docker.DockerClient, make_variant: Callable[..., Path], tmp_path: Path) -> None:
    """The stub prints STUB_SECRET (declared secret_env) at start-up, then dies: the exit code and the log
    tail are in the terminal report and the JUnit XML; the secret is in neither, nor in the run folder."""
    images = make_variant(name="stub-dies", extra_args=["--ready-after", "600", "--exit-after", "0.5",
                                                        "--exit-code", "5"])
    junit = tmp_path / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", "suites/test_preflight.py", "-p", "no:cacheprovider",
                             "--image", "stub-dies", "--images-dir", str(images), "--reports-dir",
                             str(tmp_path / "reports"), f"--junitxml={junit}"],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "STUB_SECRET": SECRET, "HF_TOKEN": SECRET})
    assert result.returncode == 1, result.stdout[-3000:]
    xml = junit.read_text()
    for text in (result.stdout, xml):
        assert "exited during start-up with exit code 5" in text
        assert "dying with exit code 5" in text  # the log tail
        assert "secret seen: ***" in text
        assert SECRET not in text
    (run_dir,) = (tmp_path / "reports" / "runs").iterdir()
    for path in run_dir.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path
    assert "exit code 5" in json.loads((run_dir / "run.json").read_text())["boot_error"]
    assert mine(docker_client, "stub-dies") == []
