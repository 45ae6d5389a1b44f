"""The health, API-key and graceful-shutdown checks (suites/test_health.py, test_auth.py, test_shutdown.py)
proven both ways through real `pytest suites/` runs: they pass on real vLLM (cpu-tiny served with an API
key) and on a stub that drains on SIGTERM; they fail on a stub that ignores its API key and on one that
ignores SIGTERM. Afterwards nothing of any run is left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from harness.server.labels import VARIANT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHECKS = ("suites/test_health.py", "suites/test_auth.py", "suites/test_shutdown.py")
KEY_ENV = "HARNESS_PROOF_API_KEY"
KEY = "sk-proof-" + "k3y" * 6


def run_checks(images: Path, variant: str, tmp: Path) -> tuple[dict[str, tuple[str, str]], str]:
    """Run the three check files against the variant; return {test name: (outcome, message)} and stdout."""
    junit = tmp / f"{variant}.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *CHECKS, "-m", "disruptive or not disruptive", "--image", variant,
         "--images-dir", str(images), "--reports-dir", str(tmp / "reports"), "-p", "no:cacheprovider",
         f"--junitxml={junit}", "-o", "junit_family=xunit1", "-q", "-rfEs"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, KEY_ENV: KEY})
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        outcome = "passed" if problem is None else problem.tag
        outcomes[case.attrib["name"]] = (outcome, "" if problem is None else problem.attrib.get("message", ""))
    assert KEY not in result.stdout and KEY not in junit.read_text(), "the API key leaked into the report"
    for path in (tmp / "reports").rglob("*"):
        assert not path.is_file() or KEY not in path.read_text(errors="replace"), f"the API key leaked into {path}"
    order = [case.attrib["name"] for case in ET.parse(junit).getroot().iter("testcase")]
    assert order[-1] == "test_sigterm_ends_every_request_within_the_grace_period", f"disruptive ran before {order}"
    return outcomes, result.stdout


def stub_variant(make_variant: Callable[..., Path], name: str, *args: str) -> Path:
    images = make_variant(name=name, extra_args=["--ready-after", "2", *args])
    spec = images / name / "variant.toml"
    spec.write_text(spec.read_text().replace('served_model_name = "stub"',
                                             f'served_model_name = "stub"\napi_key_env = "{KEY_ENV}"'))
    return images


def cpu_tiny_copy(tmp_path: Path, *extra_args: str) -> Path:
    """cpu-tiny under another name, its spec setting api_key_env (and more serve arguments): serve settings
    are not build inputs, so it boots the image already built."""
    images = tmp_path / "images"
    shutil.copytree(REPO / "images" / "cpu-tiny", images / "cpu-tiny-key")
    spec = images / "cpu-tiny-key" / "variant.toml"
    text = spec.read_text().replace('served_model_name = "cpu-tiny"',
                                    f'served_model_name = "cpu-tiny"\napi_key_env = "{KEY_ENV}"')
    spec.write_text(text.replace("extra_args = [", "extra_args = [" + "".join(f'"{a}", ' for a in extra_args)))
    return images


def test_checks_pass_on_real_vllm_with_an_api_key(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """Real vLLM served with an API key and --shutdown-timeout 8 (it drains in-flight requests for up to
    8 s on SIGTERM). Without it vLLM aborts them, and in one of two runs here their streams stayed open
    until SIGKILL (so did those of a drain that outran its timeout): the check failed those runs. With
    it, all four checks pass."""
    images = cpu_tiny_copy(tmp_path, "--shutdown-timeout", "8")
    outcomes, stdout = run_checks(images, "cpu-tiny-key", tmp_path)
    print(stdout[-1500:])
    assert outcomes == {name: ("passed", "") for name in (
        "test_health_went_from_failing_to_200_while_booting", "test_health_stays_200_under_load",
        "test_api_key_is_required_and_sufficient", "test_sigterm_ends_every_request_within_the_grace_period")}, (
        stdout[-4000:])
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=cpu-tiny-key"}) == []


def test_checks_pass_on_a_draining_stub_and_catch_an_ignored_key(docker_client: docker.DockerClient,
                                                                 make_variant: Callable[..., Path],
                                                                 tmp_path: Path) -> None:
    images = stub_variant(make_variant, "stub-drains", "--token-delay", "0.005")
    outcomes, stdout = run_checks(images, "stub-drains", tmp_path)
    assert outcomes["test_health_went_from_failing_to_200_while_booting"][0] == "passed", stdout
    assert outcomes["test_health_stays_200_under_load"][0] == "passed", stdout
    assert outcomes["test_sigterm_ends_every_request_within_the_grace_period"][0] == "passed", stdout
    # the stub never checks a key
    outcome, message = outcomes["test_api_key_is_required_and_sufficient"]
    assert outcome == "failure" and "GET /v1/models without a key answered 200, not 401" in message, stdout
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-drains"}) == []


def test_shutdown_check_catches_a_server_that_ignores_sigterm(docker_client: docker.DockerClient,
                                                              make_variant: Callable[..., Path],
                                                              tmp_path: Path) -> None:
    images = stub_variant(make_variant, "stub-deaf-term", "--token-delay", "0.05", "--on-sigterm", "ignore")
    outcomes, stdout = run_checks(images, "stub-deaf-term", tmp_path)
    outcome, message = outcomes["test_sigterm_ends_every_request_within_the_grace_period"]
    assert outcome == "failure", stdout
    assert "4 of 4 requests still open 10 s after SIGTERM (hung)" in message, message
    assert "stub: SIGTERM ignored" in stdout  # the server log attached to the failure shows why
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-deaf-term"}) == []
