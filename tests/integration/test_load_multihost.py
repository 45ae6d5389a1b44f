"""Scale-out across hosts with locust's own master/worker protocol, on this machine: three network
namespaces stand for three hosts on one private link (addresses this test creates and removes). Host A
runs the server of known timing and the master; hosts B and C each run one worker started by hand, as
the README says. A multi-level sweep must finish, every request recorded once, by both remote workers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.load.config import LoadConfig
from harness.load.records import read

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PREFIX = f"vh{os.getpid() % 10000}"
SUBNET = "10.251.{}.{}"
REQUESTS = 30


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def hosts() -> Iterator[dict[str, str]]:
    """Namespaces a, b, c; b and c are cabled to a bridge inside a (its own firewall: none, unlike this
    host's, where Docker drops forwarded traffic). Name -> address. Everything is removed on exit."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    third = os.getpid() % 200 + 20
    names = [f"{PREFIX}{n}" for n in "abc"]
    made: list[str] = []
    try:
        for ns in names:
            ip("netns", "add", ns)
            made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        hub, bridge = names[0], "br0"
        ip("-n", hub, "link", "add", bridge, "type", "bridge")
        ip("-n", hub, "addr", "add", f"{SUBNET.format(third, 2)}/24", "dev", bridge)
        ip("-n", hub, "link", "set", bridge, "up")
        addresses = {hub: SUBNET.format(third, 2)}
        for i, ns in enumerate(names[1:], start=3):
            ip("-n", hub, "link", "add", f"to{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", hub, "link", "set", f"to{i}", "master", bridge, "up")
            ip("-n", ns, "addr", "add", f"{SUBNET.format(third, i)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            addresses[ns] = SUBNET.format(third, i)
        yield addresses
    finally:
        for ns in made:  # deleting a namespace deletes its links
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def in_ns(ns: str, *argv: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", *argv], cwd=REPO, text=True,
                            **kw)  # type: ignore[call-overload]


def test_master_and_remote_workers_in_separate_hosts(hosts: dict[str, str], tmp_path: Path) -> None:
    (a, b, c), (server_host, *_) = list(hosts), list(hosts.values())
    server = in_ns(a, "-m", "harness.load.timed_server", "--host", server_host, "--port", "8000", "--ttft-ms", "5",
                   "--itl-ms", "2", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started: list[subprocess.Popen[str]] = [server]
    try:
        assert server.stdout is not None and "timed server" in server.stdout.readline()
        config = LoadConfig(base_url=f"http://{server_host}:8000", model="timed", concurrency=(1, 4, 8),
                            requests=REQUESTS, input_len=4, output_len=8, warmup=1, workers=0, timeout=30)
        (tmp_path / "load.json").write_text(config.to_json())
        log = (tmp_path / "agent.log").open("w")
        master = in_ns(a, "-m", "harness.load.agent", str(tmp_path), "--role", "master", "--remote-workers", "2",
                       stdout=log, stderr=subprocess.STDOUT)
        started.append(master)
        started += [in_ns(ns, "-m", "harness.load.agent", str(tmp_path), "--role", "worker", "--master-host",
                          server_host, stdout=log, stderr=subprocess.STDOUT) for ns in (b, c)]
        began = time.monotonic()
        assert master.wait(timeout=120) == 0, (tmp_path / "agent.log").read_text()[-3000:]
        took = time.monotonic() - began
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    frame = read(tmp_path / "requests.csv")
    measured = frame[frame["phase"] == "measure"]
    assert measured.groupby("level").size().to_dict() == {"c=1": REQUESTS, "c=4": REQUESTS, "c=8": REQUESTS}
    assert measured["id"].is_unique and (measured["status"] == 200).all()
    assert measured[measured["level"] == "c=8"]["worker"].nunique() == 2  # both hosts drove the load
    assert (tmp_path / "agent.done").exists()
    print(f"\n3 levels x {REQUESTS} requests over 2 remote workers in {took:.1f} s")
