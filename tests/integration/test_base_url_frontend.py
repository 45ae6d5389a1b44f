"""Seed 004's endpoints: `--base-url` against a multi-component deployment, as Dynamo runs one — an HTTP
frontend that answers /health itself and forwards the OpenAI routes to a worker, here a real cpu-tiny
container (real vLLM) — with the image-URL and data-URL matrix: http URLs the worker fetches from the
harness's media server, data URLs in PNG, lossless WebP and JPEG, hostile payloads. The frontend has no
vLLM-only routes (/version, /metrics), so the suites must hold without them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server.child_server import child_server
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frontend(cpu_tiny: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The frontend in its own process (tests/defects/frontend.py); the file of the paths it forwarded."""
    forwarded = tmp_path_factory.mktemp("frontend") / "forwarded.txt"
    with child_server("tests.defects.frontend", cpu_tiny.base_url, str(forwarded), cwd=REPO) as url:
        yield url, forwarded


def test_suites_through_a_frontend_with_the_image_url_matrix(frontend: tuple[str, Path], tmp_path: Path) -> None:
    url, forwarded = frontend
    assert httpx.get(f"{url}/version").status_code == 404  # the worker's vLLM is not visible as such
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_conformance_chat.py", "suites/test_conformance_server.py",
         "suites/test_conformance_streaming.py", "suites/test_multimodal.py", "suites/test_multimodal_hostile.py",
         "suites/test_multimodal_probes.py", "--base-url", f"{url}/v1", "--image", "cpu-tiny",
         "--image-host", "docker", "-m", "not slow", "-p", "no:cacheprovider", "--reports-dir", str(tmp_path),
         "-rA", "--no-header", "-q"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    outcomes = {name: outcome for outcome, name in re.findall(
        r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) \S*?::(\S+)", result.stdout, re.M)}
    assert result.returncode == 0, result.stdout[-5000:]
    # the matrix: an http URL fetched by the worker, data URLs in three formats, refused payloads
    for check in ("test_data_url_and_http_url_agree", "test_png_and_lossless_webp_agree_and_jpeg_is_seen",
                  "test_distinct_images_give_distinct_answers", "test_bad_base64_payload_never_leaks",
                  "test_unreachable_http_image_is_refused", "test_health_is_200"):
        assert outcomes.get(check) == "PASSED", f"{check}: {outcomes.get(check)}\n{result.stdout[-3000:]}"
    # streamed through the frontend, or, on a host that froze the path, the check's own inconclusive skip
    inconclusive = re.search(r"^SKIPPED \S+ suites/test_conformance_streaming.py:\d+: inconclusive",
                             result.stdout, re.M)
    for check in ("test_stream_arrives_incrementally[chat]", "test_stream_arrives_incrementally[completions]"):
        assert outcomes.get(check) == "PASSED" or (check not in outcomes and inconclusive), (
            f"{check}: {outcomes.get(check)}\n{result.stdout[-3000:]}")
    assert "video" in result.stdout and "audio" in result.stdout  # skipped: cpu-tiny declares neither
    assert {"/v1/models", "/v1/chat/completions"} <= set(forwarded.read_text().split())
