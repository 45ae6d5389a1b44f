"""The CPU stack for real (seed 003's pattern): two cpu-tiny replicas (real vLLM) on an internal network
behind nginx from Debian's packages. The suites pass through the gateway, the isolation and spread checks
pass (not skip), a killed replica leaves the gateway serving, and nothing is left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from harness.server.endpoint import Endpoint
from harness.server.labels import SESSION, SESSION_ID, VARIANT
from tests.conftest import launched

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# a representative subset: the whole conformance suite, the multimodal sensitivity checks, and the stack's own
# every stack check, and a representative of each suite through the gateway (the whole suites pass through
# it too: `pytest suites/ --image cpu-tiny-gateway`, README); CI time is the limit here
SUBSET = ("conformance_server or conformance_chat or conformance_streaming or conformance_errors or test_stack "
          "or distinct_images or white_control or concurrent_requests")


def _leftovers(client: docker.DockerClient, session: str) -> list[str]:
    """This session's stack containers and networks (the session's shared cpu-tiny is not the stack's)."""
    label = {"label": [f"{SESSION}={session}", f"{VARIANT}=cpu-tiny-gateway"]}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)])


def test_suites_pass_through_the_gateway(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/", "--image", "cpu-tiny-gateway", "-m", "not slow", "-k", SUBSET,
         "-p", "no:cacheprovider", "--reports-dir", str(tmp_path), "-q", "-rfEsX", "--no-header"],
        cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    outcomes = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        outcomes[record["test"].split("::")[-1]] = record["outcome"]
    stack_checks = [name for name in outcomes if name.startswith(("test_serving_containers", "test_gateway_",
                                                                  "test_offline_serving"))]
    assert len(stack_checks) == 4 and all(outcomes[n] == "passed" for n in stack_checks), outcomes
    assert sum(o == "passed" for o in outcomes.values()) >= 30, outcomes
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runtime"] == "docker" and run["gateway_image"]["ref"].startswith("vllm-harness/cpu-tiny-gateway:")
    assert run["image"]["ref"].startswith("vllm-harness/cpu-tiny:")  # the cpu-tiny image itself
    log = (run_dir / "server.log").read_text()
    assert "[replica-0] " in log and "[replica-1] " in log and "[gateway] " in log
    print(f"\ncpu-tiny-gateway: ready after {run['ready_seconds']:.1f}s; {len(outcomes)} results")
    assert _leftovers(docker_client, run["session"]) == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Endpoint]:
    with launched(tmp_path_factory, "cpu-tiny-gateway") as endpoint:
        yield endpoint
    assert _leftovers(docker_client, SESSION_ID) == [], "the stack left containers or networks behind"


def _chat(client: httpx.Client, model: str, text: str) -> httpx.Response:
    return client.post("/v1/chat/completions", json={
        "model": model, "max_tokens": 4, "messages": [{"role": "user", "content": text}]})


def test_killing_one_replica_keeps_the_gateway_serving(stack: Endpoint, docker_client: docker.DockerClient) -> None:
    assert stack.stack is not None and len(stack.stack.replicas) == 2
    victim = docker_client.containers.get(stack.stack.replicas[0])
    with stack.client(timeout=60) as client:
        assert _chat(client, stack.model, "before").status_code == 200
        victim.kill()  # SIGKILL: no goodbye to nginx
        victim.reload()
        assert victim.status != "running"
        answers = [_chat(client, stack.model, f"after the kill {i}") for i in range(8)]
        health = client.get("/health")
    failed = [(r.status_code, r.text[:120]) for r in answers if r.status_code != 200]
    assert not failed, f"requests after one replica was killed failed: {failed}"
    assert all(r.json()["choices"][0]["message"]["content"] is not None for r in answers)
    assert health.status_code == 200


def test_reap_removes_a_killed_runs_stack(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """kill -9 while the stack boots: its containers and network carry the dead run's owner label, which is
    what the reaper keys on. (The shared engine may hold other runs' orphans: this test removes only its own,
    by id, rather than running a reap that would take theirs too.)"""
    import os
    import signal
    import time

    from harness.server.labels import OWNER, owner_is_alive

    run = subprocess.Popen([sys.executable, "-m", "harness", "--reports-dir", str(tmp_path), "up", "cpu-tiny-gateway"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    owner = {"label": f"{OWNER}"}
    deadline = time.monotonic() + 300
    mine: list[str] = []
    while time.monotonic() < deadline and run.poll() is None:
        mine = [c.name for c in docker_client.containers.list(all=True, filters=owner)
                if c.labels.get(OWNER, "").split(":")[1:2] == [str(run.pid)]]
        if len(mine) == 3:  # both replicas and the gateway exist
            break
        time.sleep(0.5)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert len(mine) == 3, f"the stack never had its three containers: {mine}"
    networks = [n for n in docker_client.networks.list(filters=owner)
                if (n.attrs.get("Labels") or {}).get(OWNER, "").split(":")[1:2] == [str(run.pid)]]
    containers = [docker_client.containers.get(name) for name in mine]
    try:
        assert len(networks) == 1
        labels = [c.labels[OWNER] for c in containers] + [(n.attrs.get("Labels") or {})[OWNER] for n in networks]
        assert not any(owner_is_alive(label) for label in labels), labels  # the reaper's test: all orphans
    finally:
        for container in containers:
            container.remove(force=True)
        for network in networks:
            network.remove()
