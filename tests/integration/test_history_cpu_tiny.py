"""Real history from real runs against cpu-tiny (real vLLM): two suite runs and one short load run append
their lines with the server's identity and served defaults; compare finds the two suite runs alike
(same verdicts, same greedy answers on the fixed corpus)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import history
from harness.server.endpoint import Endpoint
from tests.proof_runs import check_load_exit

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUITES = ["suites/test_multimodal_corpus.py", "suites/test_conformance_openai_client.py"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_history_and_compare_from_real_runs(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for _ in range(2):
        done = run("-m", "pytest", *SUITES, "--base-url", cpu_tiny.base_url, "--image", "cpu-tiny", "-p",
                   "no:cacheprovider", "--reports-dir", str(reports), "-q")
        assert done.returncode == 0, done.stdout[-3000:]
    done = run("-m", "harness", "--reports-dir", str(reports), "load", "cpu-tiny", "--base-url", cpu_tiny.base_url,
               "--requests", "4", "--concurrency", "1", "--output-len", "4", "--input-len", "8", "--warmup", "0")
    lines = history.read(reports)
    assert [line.kind for line in lines] == ["suite", "suite", "load"]
    # no request failed; exit 3 only where results.json says the client flagged itself (the history is
    # what this test judges, and an invalid run's line is written all the same)
    check_load_exit(done.returncode, Path(lines[2].path), done.stdout + done.stderr)
    for line in lines:
        assert line.variant == "cpu-tiny" or line.variant.endswith("cpu-tiny"), line.variant
        assert line.vllm_version and line.vllm_version != "timed"
        assert line.max_model_len == 2048  # from /v1/models
        assert line.images_commit and line.harness_version
    suite = lines[0]
    assert suite.verdicts, suite
    retrieve = [v for t, v in suite.verdicts.items() if "retrieve" in t]
    assert retrieve == ["xfailed"], suite.verdicts  # cpu-tiny's known issue, recorded as such
    assert lines[2].metrics["c=1"].completed == 4

    first, second = (Path(line.path) for line in lines[:2])
    assert (first / "greedy.jsonl").exists()
    done = run("-m", "harness", "compare", str(first), str(second), "--out", str(tmp_path / "cmp"))
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    print(markdown)
    assert done.returncode == 0, markdown
    assert "Test verdicts: no change" in markdown
    assert "8/8 images identical" in markdown, markdown
