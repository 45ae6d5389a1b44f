"""Running the user's suites from a proof: `pytest SUITE --base-url URL --image VARIANT` in a subprocess, as a
user types it, and the verdict a proof expects when a defect was injected."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from harness.server.endpoint import Endpoint
from tests.conftest import launched

REPO = Path(__file__).resolve().parents[1]


def run_suites(url: str, tmp: Path, image: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The suites (files or node ids in `args`, with any pytest options) against a running server."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--base-url", url, "--image", image, "-p", "no:cacheprovider",
         "--reports-dir", str(tmp), "-q", "-rfEXs", "--no-header"],
        cwd=REPO, capture_output=True, text=True, timeout=timeout)


def assert_caught(hits: int, name: str, result: subprocess.CompletedProcess[str], node: str) -> None:
    """The defect fired, and exactly the check named for it failed; a check that said it could not observe
    this host (its inconclusive skip) makes the proof inconclusive too."""
    assert hits > 0, f"{name} never changed anything: the check did not exercise it"
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED") and "inconclusive" in line]
    if result.returncode == 0 and skipped:
        pytest.skip(f"inconclusive: {node} could not tell on this host: {skipped[0][:600]}")
    assert result.returncode == 1 and f"FAILED {node}" in result.stdout, result.stdout[-3000:]


def served(variant: str) -> Callable[..., Iterator[Endpoint]]:
    """A module-scoped fixture: the shipped `variant` built and booted as `pytest suites/ --image` does."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Endpoint]:
        with launched(tmp_path_factory, variant) as endpoint:
            yield endpoint

    return server
