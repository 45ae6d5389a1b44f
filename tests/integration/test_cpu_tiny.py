"""The README's main job, for real: build cpu-tiny (real vLLM CPU build, tiny random LLaVA) through the
engine, boot it, run the suites, tear it down. Slow (minutes when cold) and never skipped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from harness.server.labels import SESSION

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_pytest_suites_image_cpu_tiny(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/", "--image", "cpu-tiny", "-p", "no:cacheprovider",
         "--reports-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|errors?)\b", summary), summary
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    print(f"\ncpu-tiny: image {run['image']['size_bytes'] / 1e9:.2f} GB, "
          f"build {run['image']['build_seconds']:.0f}s (cached={run['image']['cached']}), "
          f"ready after {run['ready_seconds']:.1f}s")
    log = (run_dir / "server.log").read_text()
    assert "Starting vLLM" in log or "vLLM API server" in log, "the server log is not vLLM's"
    # only what that run started (other runs of cpu-tiny may be alive on this engine)
    assert docker_client.containers.list(all=True, filters={"label": f"{SESSION}={run['session']}"}) == []
