"""No data lost when the server dies mid-load, for real: `vllm-harness load` drives a streaming stub
container that the test SIGKILLs once requests are on disk (and, second, a `--base-url` server process
killed the same way). Every request recorded before the kill is still there, whole; the failures are
counted by type; the report is written and says what happened; nothing is left running."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from harness.load.records import FILE, read
from harness.server.labels import VARIANT
from harness.server.wait import poll_until

pytestmark = pytest.mark.integration


def records(reports: Path, at_least: int) -> Path | None:
    found = list(reports.glob(f"runs/*/{FILE}"))
    return found[0] if found and len(found[0].read_text().splitlines()) > at_least else None


def finished_ids(csv: Path) -> set[str]:
    return set(read(csv)["id"])


def test_container_killed_during_load(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                                      tmp_path: Path) -> None:
    images = make_variant(name="stub-mortal", extra_args=["--token-delay", "0.02"])
    reports = tmp_path / "reports"
    load = subprocess.Popen([sys.executable, "-m", "harness", "--images-dir", str(images), "--reports-dir",
                             str(reports), "load", "stub-mortal", "--duration", "600", "--concurrency", "2",
                             "--warmup", "0", "--kinds", "chat", "--output-len", "16"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        csv = poll_until(lambda: records(reports, 10), 180, "ten requests on disk")
        (container,) = docker_client.containers.list(filters={"label": f"{VARIANT}=stub-mortal"})
        before = finished_ids(csv)
        container.kill()  # SIGKILL: the server vanishes mid-stream
        stdout, stderr = load.communicate(timeout=180)
    finally:
        if load.poll() is None:
            load.kill()
    assert load.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "RUN CUT SHORT: the serving container exited with code 137" in stdout + stderr, (stdout + stderr)[-3000:]
    frame = read(csv)
    assert before <= set(frame["id"]), "requests recorded before the kill are gone"
    assert frame["id"].is_unique and frame["end"].notna().all(), "a record was written twice or half"
    results = json.loads((csv.parent / "results.json").read_text())
    assert "the serving container exited with code 137" in results["metadata"]["incident"]
    (level,) = results["levels"]
    assert level["completed"] >= 10 and level["failed"] >= 1, level
    assert sum(level["harness_errors"].values()) == level["failed"], level["harness_errors"]
    assert "RUN CUT SHORT" in (csv.parent / "index.html").read_text()
    assert docker_client.containers.list(all=True, filters={"label": f"{VARIANT}=stub-mortal"}) == []


def test_base_url_server_killed_during_load(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a free port for the server we start
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "harness.load.timed_server", "--port", str(port),
                               "--ttft-ms", "20", "--itl-ms", "20"], stdout=subprocess.PIPE, text=True)
    reports = tmp_path / "reports"
    load = None
    try:
        assert server.stdout is not None and "timed server on" in server.stdout.readline()
        load = subprocess.Popen([sys.executable, "-m", "harness", "--reports-dir", str(reports), "load",
                                 "--base-url", f"http://127.0.0.1:{port}", "--duration", "600", "--concurrency", "2",
                                 "--warmup", "0", "--kinds", "chat", "--output-len", "16"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        csv = poll_until(lambda: records(reports, 10), 180, "ten requests on disk")
        before = finished_ids(csv)
        server.kill()
        server.wait()
        stdout, stderr = load.communicate(timeout=180)
    finally:
        for process in (server, load):
            if process is not None and process.poll() is None:
                process.kill()
    output = stdout + stderr
    assert load.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert f"RUN CUT SHORT: the server at http://127.0.0.1:{port} refused connections" in output, output[-3000:]
    frame = read(csv)
    assert before <= set(frame["id"]), "requests recorded before the kill are gone"
    assert frame["id"].is_unique and frame["end"].notna().all(), "a record was written twice or half"
    results = json.loads((csv.parent / "results.json").read_text())
    (level,) = results["levels"]
    assert level["completed"] >= 10 and level["failed"] >= 1, level
    assert sum(level["harness_errors"].values()) == level["failed"]
    assert f"failed c=2: {level['failed']} request(s) (" in output
