"""`pytest suites/ ...` as users type it, through the plugin's entry point, against the stub image."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from harness.server.labels import VARIANT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def run_suites(*args: str, tmp: Path, path: str = "suites/") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", path, "-p", "no:cacheprovider",
                           "--reports-dir", str(tmp / "reports"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=900)


def test_suites_against_a_booted_variant_record_results(docker_client: docker.DockerClient,
                                                        make_variant: Callable[..., Path], tmp_path: Path) -> None:
    images = make_variant(name="stub-suite")
    # the stub speaks just enough OpenAI for the preflight suite (no streaming, no errors)
    result = run_suites("--image", "stub-suite", "--images-dir", str(images), tmp=tmp_path,
                        path="suites/test_preflight.py")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed, 1 skipped" in result.stdout  # the stub declares no vision
    assert "[vllm-harness] stub-suite ready at http://127.0.0.1:" in result.stdout
    (run_dir,) = (tmp_path / "reports" / "runs").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["variant"] == "stub-suite" and run["finished"] is True and run["ready_seconds"] > 0
    outcomes = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted(o["outcome"] for o in outcomes) == ["passed", "passed", "skipped"]
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-suite"}) == []


def test_boot_failure_is_reported_once_with_the_log(make_variant: Callable[..., Path], tmp_path: Path) -> None:
    images = make_variant(name="stub-dies", extra_args=["--ready-after", "600", "--exit-after", "0.5"])
    result = run_suites("--image", "stub-dies", "--images-dir", str(images), tmp=tmp_path)
    assert result.returncode == 1
    assert "exited during start-up with exit code 3" in result.stdout
    assert "dying with exit code 3" in result.stdout  # the log tail reaches the report
    assert "Traceback" not in result.stdout


def test_usage_errors_before_anything_starts(tmp_path: Path) -> None:
    unknown = run_suites("--image", "no-such-variant", tmp=tmp_path)
    assert unknown.returncode == 2  # the harness's usage-error code, also through pytest
    assert "unknown image variant 'no-such-variant'; variants are:" in unknown.stderr
    assert "cpu-tiny" in unknown.stderr
    missing = run_suites(tmp=tmp_path)
    assert missing.returncode == 2 and "pass --image NAME" in missing.stdout + missing.stderr
    remote = run_suites("--base-url", "http://127.0.0.1:9", "--capabilities", "chat", tmp=tmp_path)
    assert remote.returncode == 2 and "--base-url http://127.0.0.1:9 is unreachable" in remote.stdout
