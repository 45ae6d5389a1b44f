"""A stack behind a gateway (seed 003), checked from the engine's side: the serving containers publish no
port, the gateway is the only way in, an offline serving container reaches nothing outside its network
(issue 8's offline serving check), and the gateway spreads requests over the replicas. Skipped for
targets that are not a stack the harness runs (a single container, a process, --base-url)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import docker
import httpx
import pytest
from docker.models.containers import Container
from docker.models.networks import Network

from harness.checks import prometheus
from harness.server import container_probe
from harness.server.endpoint import Endpoint, StackMembers
from harness.server.engine import connect
from harness.server.host_gateway import bridge_addresses, host_gateway_address, host_ipv4_addresses

REQUESTS_SETTLE_S = 15.0  # vLLM counts a request just after its answer leaves
SERVED = "vllm:request_success_total"


@pytest.fixture(scope="module")
def stack(endpoint: Endpoint) -> StackMembers:
    if endpoint.stack is None:
        pytest.skip("the target is not a stack the harness runs ([stack] in the variant, docker runtime)")
    return endpoint.stack


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return connect()


def _bindings(container: Container) -> list[str]:
    """Host ports the container is published on: bound now, or configured to be bound when it runs."""
    container.reload()
    ports = container.attrs["NetworkSettings"]["Ports"] or {}
    published = [f"{b['HostIp']}:{b['HostPort']}->{port}" for port, bound in ports.items() for b in bound or []]
    configured = container.attrs["HostConfig"]["PortBindings"] or {}
    unbound = [f"{port} (configured, not bound)" for port, bound in configured.items() if bound and not ports.get(port)]
    return published + unbound


def test_serving_containers_publish_no_port(stack: StackMembers, engine: docker.DockerClient) -> None:
    published = {cid[:12]: _bindings(engine.containers.get(cid)) for cid in stack.replicas}
    assert not any(published.values()), f"serving containers must be reached only through the gateway: {published}"


def test_gateway_is_the_only_published_port(stack: StackMembers, engine: docker.DockerClient,
                                            endpoint: Endpoint) -> None:
    gateway = _bindings(engine.containers.get(stack.gateway))
    port = endpoint.base_url.rsplit(":", 1)[-1]
    assert len(gateway) == 1 and gateway[0].split("->")[0].endswith(f":{port}"), (
        f"the gateway should publish exactly the port the suites use ({endpoint.base_url}), it publishes {gateway}")


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP port that is certainly open on this host (on every address): what a leak would reach."""
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def test_offline_serving_container_reaches_nothing_outside_its_network(
        stack: StackMembers, engine: docker.DockerClient, host_listener: int) -> None:
    if not stack.offline:
        pytest.skip("the variant does not declare offline serving ([stack] offline = true)")
    replica = engine.containers.get(stack.replicas[0])
    gateway = engine.containers.get(stack.gateway)
    # the control: from the same container, the same probe reaches the gateway on the serving network
    control = container_probe.tcp_connect(replica, gateway.name, _gateway_port(gateway))
    assert control.ok, f"the probe could not reach the gateway inside the serving network: {control.error}"
    network = engine.networks.get(stack.network)
    hosts = {host_gateway_address(engine), *host_ipv4_addresses(), *_network_gateways(network)}
    # the other control: the same image on the default bridge does reach this host, so the targets are real
    with container_probe.sibling(engine, replica.image.id, "stack-isolation-control") as outside:
        resolved = container_probe.resolved_host_gateway(outside)
        assert resolved in hosts, f"host-gateway resolves to {resolved}, which is not among the probed {hosts}"
        reachable = container_probe.tcp_connect(outside, resolved, host_listener, timeout=3.0)
        if not reachable.ok:
            pytest.skip(f"even a container on the default bridge cannot reach this host at {resolved}:"
                        f"{host_listener} ({reachable.error}): a host firewall hides what isolation would")
    targets = {f"{address}:{host_listener} (this host)": (address, host_listener) for address in sorted(hosts)}
    targets["1.1.1.1:443 (the internet)"] = ("1.1.1.1", 443)
    reached = {name: "connected" for name, (host, port) in targets.items()
               if container_probe.tcp_connect(replica, host, port, timeout=3.0).ok}
    fetched = container_probe.http_get(replica, "https://pypi.org/simple/", timeout=5.0)
    if fetched.ok:
        reached["https://pypi.org/simple/"] = f"HTTP {fetched.status}"
    assert not reached, f"the offline serving container {replica.name} reached outside its network: {reached}"


def _gateway_port(gateway: Container) -> int:
    ports = gateway.attrs["NetworkSettings"]["Ports"] or {}
    return int(next(iter(ports)).split("/")[0])


def _network_gateways(network: Network) -> set[str]:
    network.reload()
    return set(bridge_addresses(network.attrs))


def _served(replica: Container, port: int) -> float | None:
    probe = container_probe.http_get(replica, f"http://127.0.0.1:{port}/metrics")
    if probe.status != 200:
        return None
    return prometheus.parse(probe.body).value(SERVED)


def test_gateway_spreads_requests_over_replicas(stack: StackMembers, engine: docker.DockerClient,
                                                api: httpx.Client, endpoint: Endpoint) -> None:
    if len(stack.replicas) < 2:
        pytest.skip("one replica: nothing to spread over")
    replicas = [engine.containers.get(cid) for cid in stack.replicas]
    before = [_served(r, stack.port) for r in replicas]
    if any(b is None for b in before):
        pytest.skip(f"the replicas' /metrics have no {SERVED} (not vLLM): cannot count per replica")
    sent = 4 * len(replicas)
    for i in range(sent):
        response = api.post("/v1/chat/completions", json={
            "model": endpoint.model, "max_tokens": 2, "messages": [{"role": "user", "content": f"spread {i}"}]})
        assert response.status_code == 200, f"request {i} via the gateway: {response.status_code} {response.text[:200]}"
    deadline = time.monotonic() + REQUESTS_SETTLE_S
    while True:
        served = [(_served(r, stack.port) or 0.0) - (b or 0.0) for r, b in zip(replicas, before, strict=True)]
        if sum(served) >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    counts = {r.name: int(n) for r, n in zip(replicas, served, strict=True)}
    assert all(n > 0 for n in counts.values()), f"{sent} requests through the gateway were served as {counts}"
