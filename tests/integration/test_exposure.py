"""Security through the real CLI and engine: the port is published on 127.0.0.1 unless the user asks
otherwise (and then where asked); a secret (HF_TOKEN, the API key, a spec's secret_env) that passes
through a real container's log and a load run is in none of the run's files or output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from harness.server.labels import VARIANT

pytestmark = pytest.mark.integration

SECRET = "hf_exposure_" + "Zq9" * 8
API_KEY = "sk-exposure-" + "Wv4" * 8


def outward_address() -> str:
    """This host's address on its default route (no packet is sent): not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only
        return sock.getsockname()[0]


@pytest.fixture
def up(make_variant: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., tuple[str, str]]]:
    """Start `vllm-harness up NAME [args]`; return (URL, variant). Ctrl-C'd at the end."""
    running: list[subprocess.Popen[str]] = []

    def start(name: str, *args: str) -> tuple[str, str]:
        images = make_variant(name=name)
        process = subprocess.Popen([sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir",
                                    str(tmp_path / "reports"), "up", name, *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append(process)
        assert process.stdout is not None
        return process.stdout.readline().strip(), name

    yield start
    for process in running:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130


def bindings(client: docker.DockerClient, variant: str) -> list[str]:
    (container,) = client.containers.list(filters={"label": f"{VARIANT}={variant}"})
    return [b["HostIp"] for b in container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]]


def test_published_on_loopback_only_by_default(docker_client: docker.DockerClient,
                                               up: Callable[..., tuple[str, str]]) -> None:
    url, variant = up("stub-private")
    assert url.startswith("http://127.0.0.1:"), url
    assert set(bindings(docker_client, variant)) == {"127.0.0.1"}
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert httpx.get(f"{url}/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{outward_address()}:{port}/v1/models", timeout=5)


def test_published_where_the_user_asks(docker_client: docker.DockerClient, up: Callable[..., tuple[str, str]]) -> None:
    address = outward_address()
    url, variant = up("stub-public", "--host-ip", address)
    assert url.startswith(f"http://{address}:"), url
    assert set(bindings(docker_client, variant)) == {address}
    assert httpx.get(f"{url}/models").status_code == 200


def test_secrets_never_reach_a_run_folder_or_output(docker_client: docker.DockerClient,
                                                    make_variant: Callable[..., Path], tmp_path: Path) -> None:
    """The stub prints STUB_SECRET (its spec's secret_env) in its log; the API key (serve.api_key_env)
    goes to the container's environment and every request's header; HF_TOKEN is in the harness's own
    environment. A load run through the CLI writes its whole run folder: none of it, nor the console,
    holds any of them."""
    images = make_variant(name="stub-secrets", extra_args=["--token-delay", "0.001"])
    spec = images / "stub-secrets" / "variant.toml"
    spec.write_text(spec.read_text().replace('served_model_name = "stub"',
                                             'served_model_name = "stub"\napi_key_env = "EXPOSURE_KEY"'))
    env = {**os.environ, "STUB_SECRET": SECRET, "HF_TOKEN": SECRET + "-hf", "EXPOSURE_KEY": API_KEY}
    result = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir",
                             str(tmp_path / "reports"), "load", "stub-secrets", "--requests", "4", "--concurrency",
                             "1", "--warmup", "0", "--kinds", "chat", "--output-len", "4"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "reports" / "runs").iterdir()
    log = (run_dir / "server.log").read_text()
    assert "secret seen: ***" in log, "the fault was not made: the secret never reached the log"
    files = [p for p in run_dir.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert {"server.log", "run.json", "results.json", "index.html", "requests.csv"} <= {p.name for p in files}
    for text, where in [(result.stdout + result.stderr, "console"), *((p.read_text(errors="replace"), p.name)
                                                                       for p in files)]:
        for secret in (SECRET, SECRET + "-hf", API_KEY):
            assert secret not in text, f"a secret leaked into {where}"
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-secrets"}) == []
