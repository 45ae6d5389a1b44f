"""Nothing leaks when a run is interrupted for real: Ctrl-C (SIGINT) to `vllm-harness` during the build,
the boot and a load test, and `kill -9` of a pytest run in the middle of a suite, after which
`vllm-harness reap` removes the orphan but not the container of a run that is still alive. Each signal
is sent when a condition shows the run is in the phase, never after a sleep; every assertion is scoped
to what this test started (its own variant names and build marker)."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from harness.load.records import FILE, read
from harness.server.labels import VARIANT
from harness.server.wait import poll_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def cli(images: Path, tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir", str(tmp / "reports"),
            *args]


def containers(client: docker.DockerClient, variant: str) -> list[docker.models.containers.Container]:
    return client.containers.list(all=True, filters={"label": f"{VARIANT}={variant}"})


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (read from /proc, so it works without psutil)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed (by their own pid) if the test failed before they ended."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def test_ctrl_c_during_build_leaves_no_build_container(docker_client: docker.DockerClient,
                                                       make_variant: Callable[..., Path], tmp_path: Path,
                                                       started: list[subprocess.Popen[str]]) -> None:
    marker = f"harness-build-{uuid.uuid4().hex[:12]}"
    images = make_variant(name="stub-slowbuild")
    with (images / "stub-slowbuild" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write(f'RUN echo {marker} && sleep 600\n')

    def build_containers() -> list[str]:
        # the engine's intermediate container of the RUN step: recognised by our marker in its command
        return [c.id for c in docker_client.containers.list(all=True)
                if marker in " ".join(c.attrs["Config"].get("Cmd") or [])]

    process = subprocess.Popen(cli(images, tmp_path, "build", "stub-slowbuild"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    started.append(process)
    poll_until(build_containers, 180, "the RUN step's container to start")
    code, stderr = interrupt(process)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    # the engine cancels the build when its client goes; the step's container goes with it
    poll_until(lambda: not build_containers(), 60, "the build container to be removed")


def test_ctrl_c_during_boot_removes_the_container(docker_client: docker.DockerClient,
                                                  make_variant: Callable[..., Path], tmp_path: Path,
                                                  started: list[subprocess.Popen[str]]) -> None:
    images = make_variant(name="stub-slowboot", extra_args=["--ready-after", "600"], startup_timeout=600)
    process = subprocess.Popen(cli(images, tmp_path, "up", "stub-slowboot"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    started.append(process)
    poll_until(lambda: containers(docker_client, "stub-slowboot"), 120, "the booting container to appear")
    code, stderr = interrupt(process)
    assert code == 130 and "interrupted; everything started was removed" in stderr, stderr
    assert containers(docker_client, "stub-slowboot") == []


def test_ctrl_c_during_load_removes_container_and_agent_and_keeps_records(
        docker_client: docker.DockerClient, make_variant: Callable[..., Path], tmp_path: Path,
        started: list[subprocess.Popen[str]]) -> None:
    images = make_variant(name="stub-load")
    process = subprocess.Popen(cli(images, tmp_path, "load", "stub-load", "--duration", "600", "--concurrency", "2",
                                   "--warmup", "0", "--kinds", "chat"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started.append(process)

    def records() -> Path | None:
        found = list((tmp_path / "reports").glob(f"runs/*/{FILE}"))
        return found[0] if found and len(found[0].read_text().splitlines()) > 3 else None

    csv = poll_until(records, 180, "the load run to record requests")
    helpers = descendants(process.pid)
    assert helpers, "the load generator runs in its own process"
    assert len(containers(docker_client, "stub-load")) == 1
    code, stderr = interrupt(process)
    assert code == 130, stderr
    assert containers(docker_client, "stub-load") == []
    assert not [pid for pid in helpers if alive(pid)], "the load generator outlived the run"
    # what was measured before the interrupt is still on disk, every row whole
    frame = read(csv)
    assert len(frame) >= 3 and frame["id"].notna().all() and frame["end"].notna().all()


def holding_suite(images: Path, variant: str, tmp: Path) -> subprocess.Popen[str]:
    """`pytest` on a suite whose first test passes and whose second holds until the process is signalled;
    returned once the second test is running."""
    entered = tmp / "entered"
    suite = tmp / "suite" / "test_hold.py"
    suite.parent.mkdir()
    suite.write_text(
        "import threading\nfrom pathlib import Path\n\n"
        "def test_first(endpoint):\n    assert endpoint.base_url\n\n"
        f"def test_holds(endpoint):\n    Path({str(entered)!r}).write_text(endpoint.base_url)\n"
        "    threading.Event().wait()  # until signalled\n")
    process = subprocess.Popen([sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider",
                                "--image", variant, "--images-dir", str(images), "--reports-dir", str(tmp / "reports")],
                               cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        poll_until(entered.exists, 180, "the suite to reach its second test")
    except TimeoutError:
        process.kill()
        raise
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM (CI cancel)", "SIGINT"])
def test_signal_to_pytest_mid_suite_removes_the_container(docker_client: docker.DockerClient,
                                                          make_variant: Callable[..., Path], tmp_path: Path,
                                                          started: list[subprocess.Popen[str]],
                                                          signum: signal.Signals) -> None:
    images = make_variant(name="stub-cancelled")
    run = holding_suite(images, "stub-cancelled", tmp_path)
    started.append(run)
    assert len(containers(docker_client, "stub-cancelled")) == 1
    run.send_signal(signum)
    stdout, _ = run.communicate(timeout=120)
    assert run.returncode == 2, stdout[-2000:]  # pytest's "interrupted"
    assert "1 passed" in stdout and "Traceback" not in stdout, stdout[-2000:]
    assert containers(docker_client, "stub-cancelled") == []


def test_kill_9_mid_suite_then_reap_removes_only_the_orphan(docker_client: docker.DockerClient,
                                                            make_variant: Callable[..., Path], tmp_path: Path,
                                                            started: list[subprocess.Popen[str]]) -> None:
    images = make_variant(name="stub-killed")
    make_variant(name="stub-alive")
    # a run that stays alive throughout: its container must survive the reap
    survivor = subprocess.Popen(cli(images, tmp_path, "up", "stub-alive"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    started.append(survivor)
    assert survivor.stdout is not None and survivor.stdout.readline().startswith("http://127.0.0.1:")

    victim = holding_suite(images, "stub-killed", tmp_path)
    started.append(victim)
    victim.kill()  # SIGKILL: no cleanup can run
    victim.wait(timeout=30)
    (orphan,) = containers(docker_client, "stub-killed")
    assert orphan.status == "running", "the fault was not made: the container should outlive a kill -9"
    (kept,) = containers(docker_client, "stub-alive")

    reaped = subprocess.run([sys.executable, "-m", "harness", "reap"], capture_output=True, text=True, timeout=120)
    assert reaped.returncode == 0, reaped.stderr
    assert f"removed container {orphan.short_id}" in reaped.stdout
    assert containers(docker_client, "stub-killed") == []
    assert [c.id for c in containers(docker_client, "stub-alive")] == [kept.id], "reaped a live run's container"
    # the results written before the kill are on disk
    (run_dir,) = [d for d in (tmp_path / "reports" / "runs").iterdir() if "stub-killed" in d.name]
    assert '"outcome": "passed"' in (run_dir / "results.jsonl").read_text()

    code, _ = interrupt(survivor)
    assert code == 130 and containers(docker_client, "stub-alive") == []
