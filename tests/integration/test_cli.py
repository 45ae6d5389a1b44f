"""The console script as a user types it, against the real engine and the stub variant."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest

from harness.server.labels import VARIANT

pytestmark = pytest.mark.integration


def cli(*args: str, images: Path | None = None, tmp: Path | None = None) -> list[str]:
    prefix = [sys.executable, "-m", "harness"]
    if images is not None:
        prefix += ["--images-dir", str(images)]
    if tmp is not None:
        prefix += ["--reports-dir", str(tmp / "reports")]
    return [*prefix, *args]


def test_list_shows_variants_and_capabilities(make_variant: Callable[..., Path]) -> None:
    images = make_variant(name="stubby")
    result = subprocess.run(cli("list", images=images), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "stubby" in result.stdout and "chat" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("up", "nope"), "unknown image variant 'nope'; variants are: stub"),
    (("build", "nope"), "unknown image variant 'nope'"),
])
def test_user_mistakes_are_one_line_and_exit_2(make_variant: Callable[..., Path], tmp_path: Path,
                                                args: tuple[str, ...], message: str) -> None:
    result = subprocess.run(cli(*args, images=make_variant(), tmp=tmp_path), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_up_prints_url_serves_and_ctrl_c_removes(docker_client: docker.DockerClient,
                                                 make_variant: Callable[..., Path], tmp_path: Path) -> None:
    images = make_variant(name="stub-up")
    process = subprocess.Popen(cli("up", "stub-up", images=images, tmp=tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # blocks until the server is ready
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
        assert [m["id"] for m in httpx.get(f"{url}/models").json()["data"]] == ["stub"]
        mine = docker_client.containers.list(filters={"label": f"{VARIANT}=stub-up"})
        assert len(mine) == 1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-up"}) == []


def test_reap_command_runs(docker_client: docker.DockerClient) -> None:
    result = subprocess.run(cli("reap"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "leftover(s)" in result.stderr
