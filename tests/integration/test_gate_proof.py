"""Proof of `vllm-harness gate` through the real CLI, the real Docker engine and real builds: a variant
whose VLLM_VERSION build arg changes its behaviour and speed (tests/fixtures/gate-variant, a timed
server). From 0.1.0 to 0.2.0 the gate must report the known issue fixed and the slower TTFT as a
regression (exit 1); from 0.1.0 to 0.1.1 (same behaviour, a different image) it must pass (exit 0)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from harness.results import history
from harness.server.labels import VARIANT
from tests.proof_runs import failed_requests, invalid_runs, skip_if_invalid

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SUITE = str(FIXTURES / "gate-suite" / "checks_gate.py")
# the fixture's two checks, and the load suite with the variant's [load] table
SUITES = ["--suites", SUITE, "--suites", "suites/test_load.py"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images = tmp_path_factory.mktemp("gate-images")
    shutil.copytree(FIXTURES / "gate-variant", images / "gate")
    shutil.copy(REPO / "harness" / "load" / "timed_server.py", images / "gate" / "timed_server.py")
    # the timed server runs its HTTP front in a child process (harness.server.child_server): the image needs it too
    (images / "gate" / "harness" / "server").mkdir(parents=True)
    (images / "gate" / "harness" / "__init__.py").write_text("")
    (images / "gate" / "harness" / "server" / "__init__.py").write_text("")
    server = images / "gate" / "harness" / "server"
    shutil.copy(REPO / "harness" / "server" / "child_server.py", server / "child_server.py")
    return images


def gate(images: Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir", str(reports),
                           "gate", *args], cwd=REPO, capture_output=True, text=True, timeout=1200)


def gate_markdown(reports: Path) -> str:
    (found,) = (reports / "gate").glob("*/gate.md")
    return found.read_text()


def regressions(markdown: str) -> list[str]:
    if "**Regressions**" not in markdown:
        return []
    return [line for line in markdown.split("**Regressions**")[1].split("\n\n")[1].splitlines() if line]


def round_runs(reports: Path) -> list[Path]:
    """Every round's run folder, named by gate.json (not found by listing folders)."""
    (gate_dir,) = (reports / "gate").glob("*")
    record = json.loads((gate_dir / "gate.json").read_text())
    return [gate_dir / r["side"] / "runs" / r["run"] for r in record["rounds"]]


def skip_unless_judged(reports: Path, condition: str) -> None:
    """The gate judges latencies from valid load runs only (an invalid one is left out where its level has a
    valid one) within A's own noise floor (A1 against A2): it needs every A round valid and one B round;
    else the proof could not be made here."""
    runs = round_runs(reports)
    a = [run for run in runs if run.parent.parent.name == "A"]
    b = [run for run in runs if run.parent.parent.name == "B"]
    skip_if_invalid(a + (b if all(invalid_runs([run]) for run in b) else []), condition)


def new_failures(lines: list[str]) -> list[str]:
    # a load test failing is never the host's doing: an invalid run is a skip, a failed request a server error
    return [line for line in lines if line.startswith("- new failure")]


def test_gate_reports_fixed_known_issue_and_slower_ttft(images: Path, tmp_path: Path,
                                                        docker_client: docker.DockerClient) -> None:
    done = gate(images, tmp_path, "gate", "--to", "0.2.0", *SUITES, "--rounds", "2")  # the fewest the gate takes
    markdown = gate_markdown(tmp_path)
    print(markdown)
    # first what this host cannot change: behaviour, the record, the cost, the clean-up
    fixed = markdown.split("**Known issues fixed**")[1].split("\n\n")[1]
    assert "test_distinct_inputs_give_distinct_answers" in fixed and "xfailed → xpassed" in fixed
    assert not new_failures(regressions(markdown)), markdown
    assert not failed_requests(round_runs(tmp_path))
    lines = history.read(tmp_path)
    assert [line.tag for line in lines] == ["gate:A", "gate:B"] * 2
    assert {line.vllm_version for line in lines} == {"0.1.0", "0.2.0"}
    assert len({line.image_id for line in lines}) == 2  # two builds, each booted twice
    assert not docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=gate"})
    # what the gate cost: each round timed; a side builds in round 1 at most (an engine that has the images
    # already builds nothing), never again
    (gate_dir,) = (tmp_path / "gate").glob("*")
    record = json.loads((gate_dir / "gate.json").read_text())
    assert [(r["side"], r["round"]) for r in record["rounds"]] == [("A", 1), ("B", 1), ("A", 2), ("B", 2)]
    # each round's run folder is the one the gate named, not found by listing folders
    assert [r["run"].rsplit("-", 1)[1] for r in record["rounds"]] == ["A1", "B1", "A2", "B2"]
    assert not (gate_dir / "compare.md").exists()
    assert [r["build_seconds"] for r in record["rounds"][2:]] == [0.0, 0.0]
    assert record["wall_seconds"] + 0.5 >= sum(r["seconds"] for r in record["rounds"]) > 0  # each rounded to 0.1 s
    assert "Cost: " in markdown and "rounds (build, boot, suites, load): A1 " in markdown
    # rendered again from the runs alone: the same verdict, the same report
    (gate_dir / "gate.md").unlink()
    again = gate(images, tmp_path, "--report-only", str(gate_dir))
    assert again.returncode == done.returncode and (gate_dir / "gate.md").read_text() == markdown
    # then the slower TTFT, which only valid load runs can show
    skip_unless_judged(tmp_path, "judging 0.2.0's 30% slower TTFT")
    assert done.returncode == 1, done.stderr[-3000:]
    assert record["verdict"] == "regression"
    assert "vllm-harness gate gate: 0.1.0 → 0.2.0: ❌ REGRESSION" in markdown
    ttft = next(line for line in markdown.splitlines() if "| TTFT median |" in line)
    assert "regression" in ttft, ttft
    itl = next(line for line in markdown.splitlines() if "| ITL median |" in line)
    assert "regression" not in itl, itl
    others = [line for line in regressions(markdown) if "TTFT" not in line and "E2E" not in line
              and "throughput" not in line]
    assert not others, others


def test_gate_passes_an_unchanged_bump(images: Path, tmp_path: Path) -> None:
    done = gate(images, tmp_path, "gate", "--from", "0.1.0", "--to", "0.1.1", *SUITES, "--rounds", "2")
    markdown = gate_markdown(tmp_path)
    print(markdown)
    found = regressions(markdown)
    assert not new_failures(found), markdown
    assert not failed_requests(round_runs(tmp_path))
    assert "Known issues fixed" not in markdown
    skip_unless_judged(tmp_path, "judging an unchanged bump by its latencies")
    assert done.returncode == 0 and not found, markdown
    (gate_dir,) = (tmp_path / "gate").glob("*")
    assert json.loads((gate_dir / "gate.json").read_text())["verdict"] == "pass"


def test_gate_reports_a_version_that_does_not_build(images: Path, tmp_path: Path) -> None:
    done = gate(images, tmp_path, "gate", "--to", "9.0.0", "--suites", SUITE, "--rounds", "2", "--no-load")
    markdown = gate_markdown(tmp_path)
    print(markdown)
    assert done.returncode == 1, markdown
    assert "B 9.0.0: the server did not start in 2 of 2 run(s)" in markdown and "docker build of" in markdown
    assert "new failure: tests/fixtures/gate-suite/checks_gate.py::test_server_streams_an_answer" in markdown


@pytest.mark.parametrize(("args", "expected"), [
    (["gate", "--to", "0.2.0", "--rounds", "1"], "--rounds must be at least 2"),
    (["gate", "--to", "0.2.0", "--suites", "no/such/suite"], "--suites no/such/suite does not exist"),
    (["nope", "--to", "0.2.0"], "unknown image variant 'nope'"),
    (["gate"], "gate needs a variant and --to"),
    (["--report-only", "no/such/gate"], "no/such/gate holds no gate.json"),
])
def test_gate_usage_errors_are_one_line(images: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    done = gate(images, tmp_path, *args)
    assert done.returncode == 2 and expected in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr


def test_variant_without_version_arg_is_refused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(FIXTURES / "stub-variant", images / "stub")
    done = gate(images, tmp_path, "stub", "--to", "0.2.0")
    assert done.returncode == 2 and "declares no vLLM version" in done.stderr and "Traceback" not in done.stderr
