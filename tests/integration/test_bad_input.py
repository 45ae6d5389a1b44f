"""Bad input to the harness itself, through the real CLI and the real pytest plugin: each mistake is one
line that says what is wrong and what to do, exit code 2 for a usage error (through
the CLI and through pytest alike), never a traceback, and nothing left running."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from harness.server.labels import VARIANT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEAD_DOCKER = "unix:///nonexistent/docker.sock"


def harness(*args: str, images: Path, tmp: Path, env: dict[str, str] | None = None,
            reports: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images),
                           "--reports-dir", str(reports or tmp / "reports"), *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def suites(*args: str, images: Path, tmp: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "pytest", "suites/test_preflight.py", "-p", "no:cacheprovider",
                           "--images-dir", str(images), "--reports-dir", str(tmp / "reports"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower()]


@pytest.fixture
def images(make_variant: Callable[..., Path]) -> Path:
    """A stub variant plus broken copies of it: 'bad-toml', 'no-dockerfile', 'needs-gpu'."""
    images = make_variant(name="stub")
    for name in ("bad-toml", "no-dockerfile", "needs-gpu"):
        make_variant(name=name)
    with (images / "bad-toml" / "variant.toml").open("a") as spec:
        spec.write("\n[serve\n")
    (images / "no-dockerfile" / "Dockerfile").unlink()
    with (images / "needs-gpu" / "variant.toml").open("a") as spec:
        spec.write('\n[gpu]\nvendor = "nvidia"\n')
    return images


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _no_gpu(client: docker.DockerClient) -> bool:
    return "nvidia" not in (client.info().get("Runtimes") or {})


CASES = {
    # name: (CLI args, exit code, what the one line must say)
    "malformed spec": (("up", "bad-toml"), 2, "variant.toml: field '<syntax>': not valid TOML"),
    "unknown variant": (("up", "nope"), 2, "unknown image variant 'nope'; variants are: bad-toml, needs-gpu"),
    "missing Dockerfile": (("up", "no-dockerfile"), 2, "'Dockerfile' does not exist in"),
    "base-url unreachable": (("load", "--base-url", "http://127.0.0.1:9", "--requests", "1"), 2,
                             "--base-url http://127.0.0.1:9 is unreachable (ConnectError); check the URL"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_usage_mistakes(case: str, images: Path, tmp_path: Path) -> None:
    args, code, message = CASES[case]
    result = harness(*args, images=images, tmp=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = error_lines(result.stderr)
    assert line.startswith("vllm-harness: error: ") and message in line, line


def test_cli_docker_daemon_not_running(images: Path, tmp_path: Path) -> None:
    result = harness("up", "stub", images=images, tmp=tmp_path, env={"DOCKER_HOST": DEAD_DOCKER})
    assert result.returncode == 1, result.stderr  # the machine's problem, not a usage error
    (line,) = error_lines(result.stderr)
    assert "cannot reach the Docker engine" in line and "start dockerd (or set DOCKER_HOST)" in line
    assert "Traceback" not in result.stderr


def test_cli_report_folder_not_writable(images: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = harness("up", "stub", images=images, tmp=tmp_path, reports=blocker / "reports")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "is not writable (Not a directory); pass --reports-dir with a writable folder" in line


def test_cli_no_gpu_on_a_gpu_variant(docker_client: docker.DockerClient, images: Path, tmp_path: Path) -> None:
    if not _no_gpu(docker_client):
        pytest.skip("this engine has the NVIDIA runtime: the fault cannot be made here")
    result = harness("up", "needs-gpu", images=images, tmp=tmp_path)
    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result.stderr)
    assert "needs-gpu needs nvidia GPUs, but this Docker engine cannot give them" in line
    assert "run it on a GPU host" in line and "Traceback" not in result.stderr
    # the engine refused to start it, but it had been created: it must not be left behind
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=needs-gpu"}) == []


def test_cli_port_in_use(docker_client: docker.DockerClient, images: Path, tmp_path: Path, busy_port: int) -> None:
    result = harness("up", "stub", "--port", str(busy_port), images=images, tmp=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert f"port {busy_port} on 127.0.0.1 is in use; pick another --port" in line
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub"}) == []


@pytest.mark.parametrize(("args", "env", "code", "message"), [
    (("--image", "bad-toml"), {}, 2, "not valid TOML"),
    (("--image", "nope"), {}, 2, "unknown image variant 'nope'"),
    (("--image", "no-dockerfile"), {}, 2, "'Dockerfile' does not exist in"),
    (("--base-url", "http://127.0.0.1:9", "--capabilities", "chat"), {}, 2, "is unreachable (ConnectError)"),
    (("--image", "stub"), {"DOCKER_HOST": DEAD_DOCKER}, 1, "cannot reach the Docker engine"),
], ids=["malformed-spec", "unknown-variant", "missing-dockerfile", "base-url-unreachable", "docker-down"])
def test_pytest_usage_mistakes(images: Path, tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
                               code: int, message: str) -> None:
    result = suites(*args, images=images, tmp=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-2000:]
    assert message in output and "Traceback" not in output
    # a boot that fails is one message per test at most, never a stack
    assert all(message in line for line in output.splitlines() if line.startswith("E ")), output[-2000:]
