"""The upstream registry end to end, through the plugin, against a vLLM-shaped server whose /version we
choose (harness.load.timed_server: it has no GET /v1/models/{model}, as vLLM has none)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.load.timed_server import running

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def retrieve_check(url: str, tmp: Path, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_conformance_server.py", "-k", "retrieve", "--base-url", url,
         "--capabilities", "chat", "-p", "no:cacheprovider", "--reports-dir", str(tmp), "-q", "-rxX",
         "--no-header", "--junitxml", str(tmp / "junit.xml"), "-o", "junit_family=legacy", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    return result.stdout + f"\nexit {result.returncode}"


@pytest.mark.parametrize("version,extra,expected", [
    ("0.32.0", (), "1 xfailed"),  # inside the range: the registry names the upstream issue
    ("0.20.0", (), "1 failed"),  # outside it: the plain failure comes back
    ("0.32.0", ("--strict-upstream",), "1 failed"),
    ("timed", (), "1 failed"),  # /version that is no vLLM release: nothing is assumed
])
def test_the_registry_applies_by_the_servers_version(tmp_path: Path, version: str, extra: tuple[str, ...],
                                                     expected: str) -> None:
    with running(1.0, 1.0, "--version-name", version) as url:
        out = retrieve_check(url, tmp_path, *extra)
    assert expected in out, out[-3000:]
    if expected == "1 xfailed":
        assert "no-models-retrieve" in out and "exit 0" in out, out[-3000:]
        assert "upstream_deviation" in (tmp_path / "junit.xml").read_text()


def test_a_failure_the_entry_does_not_state_stays_a_failure(tmp_path: Path) -> None:
    # a release that answers GET /v1/models/{model} with a 200 that is no model card: the check fails,
    # but not with the 404 'no-models-retrieve' stands for
    with running(1.0, 1.0, "--version-name", "0.32.0", "--retrieve-status", "200") as url:
        out = retrieve_check(url, tmp_path)
    assert "1 failed" in out and "exit 1" in out, out[-3000:]
    assert "upstream vLLM deviation 'no-models-retrieve' did not match: expected HTTP 404, saw HTTP 200" in out, (
        out[-3000:])
