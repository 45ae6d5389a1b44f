"""Proof of `vllm-harness gate --runtime process` through the real CLI and real subprocesses, no Docker:
the version picks an environment (a folder on PYTHONPATH, as gpu-vllm's $VLLM_ENVS/<version>), each
holding a timed server whose speed and behaviour belong to that version. 0.1.0 → 0.2.0 must report the
known issue fixed and the slower TTFT (exit 1), with each side's /version read from its own environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import history
from tests.integration.test_gate_proof import new_failures, regressions, round_runs, skip_unless_judged
from tests.proof_runs import failed_requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SUITES = ["--suites", str(FIXTURES / "gate-suite" / "checks_gate.py"), "--suites", "suites/test_load.py"]
# what each version's environment runs: 0.2.0 is slower to the first token and sees its input
BEHAVIOUR = {"0.1.0": ["--ttft-ms", "40", "--itl-ms", "10"], "0.2.0": ["--ttft-ms", "52", "--itl-ms", "10", "--echo"]}
FAKE_VLLM = """import sys
from harness.load import timed_server
sys.argv = [sys.argv[0], *{args!r}, "--version-name", {version!r}, *sys.argv[2:]]  # argv[1]: vllm's "serve"
timed_server.main()
"""


def environments(root: Path) -> Path:
    for version, args in BEHAVIOUR.items():
        (root / version).mkdir(parents=True)
        (root / version / "fakevllm.py").write_text(FAKE_VLLM.format(args=args, version=version))
    return root


def test_process_gate_switches_environments(tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(FIXTURES / "gate-process", images / "gate-process")
    env = {"GATE_ENVS": str(environments(tmp_path / "envs")), "GATE_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir",
                           str(tmp_path / "reports"), "gate", "gate-process", "--to", "0.2.0", "--runtime", "process",
                           "--rounds", "2", *SUITES], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})
    (found,) = (tmp_path / "reports" / "gate").glob("*/gate.md")
    markdown = found.read_text()
    print(markdown)
    fixed = markdown.split("**Known issues fixed**")[1].split("\n\n")[1]
    assert "test_distinct_inputs_give_distinct_answers" in fixed
    assert not new_failures(regressions(markdown)), markdown
    reports = tmp_path / "reports"
    assert not failed_requests(round_runs(reports))
    lines = history.read(reports)
    assert [line.tag for line in lines] == ["gate:A", "gate:B"] * 2
    assert [line.vllm_version for line in lines] == ["0.1.0", "0.2.0"] * 2  # each from its own environment
    assert all(line.runtime == "process" for line in lines)
    # the slower TTFT only valid load runs can show
    skip_unless_judged(reports, "judging 0.2.0's 30% slower TTFT")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "vllm-harness gate gate-process: 0.1.0 → 0.2.0: ❌ REGRESSION" in markdown
    ttft = next(line for line in markdown.splitlines() if "| TTFT median |" in line)
    assert "regression" in ttft, ttft


def test_process_gate_refuses_a_spec_that_never_uses_the_version(tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(FIXTURES / "gate-process", images / "gate-process")
    spec = images / "gate-process" / "variant.toml"
    spec.write_text(spec.read_text().replace("$GATE_ENVS/{VLLM_VERSION}", "$GATE_ENVS/fixed"))
    done = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images), "gate", "gate-process",
                           "--to", "0.2.0", "--runtime", "process"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "never use {VLLM_VERSION}: both versions would run the same vLLM" in done.stderr
    assert "Traceback" not in done.stderr
