"""The media server's address holds on the engine CI has (a fresh one records no bridge gateway): what
the harness computes is what `host-gateway` resolves to inside a real container, and a container
fetches test media from it by name."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from harness.checks.image_server import MediaServer, ServeAddress, serve_address
from harness.image.build import build_variant
from harness.progress import LogProgress
from harness.server import container_probe
from harness.server.host_gateway import bridge_addresses, host_gateway_address
from harness.server.labels import labels_for
from harness.spec.variant import load_variant

pytestmark = pytest.mark.integration


def test_host_gateway_is_what_the_engine_resolves_and_media_is_fetched(
        make_variant: Callable[..., Path], docker_client: docker.DockerClient) -> None:
    images = make_variant()
    image = build_variant(docker_client, load_variant(images, "stub"), LogProgress(None, show=lambda _: None))
    address = serve_address("docker", None)
    assert address is not None
    with container_probe.sibling(docker_client, image.ref, "stub") as container, MediaServer(address) as media:
        assert container_probe.resolved_host_gateway(container) == host_gateway_address(docker_client)
        url = media.publish(b"not really a PNG, served", "image/png")
        fetched = container_probe.http_get(container, url)
        assert fetched.status == 200 and fetched.body == "not really a PNG, served", fetched
        assert media.requests, "the media server saw no request"


@pytest.fixture
def unrecorded_network(docker_client: docker.DockerClient) -> Iterator[Network]:
    """A bridge network whose IPAM config records no gateway (a subnet alone), on any engine: the state a
    freshly installed engine's default bridge is in."""
    for third in range(200, 250):
        try:
            network = docker_client.networks.create(
                f"vllm-harness-test-{os.getpid()}-{third}", driver="bridge", labels=labels_for("stub"),
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"10.{third}.77.0/24")]))
        except docker.errors.APIError:  # the subnet overlaps one of this machine's: try the next
            continue
        try:
            yield network
        finally:
            network.remove()
        return
    pytest.fail("no free 10.x.77.0/24 subnet for the test network")


def test_a_network_that_records_no_gateway_still_serves_media(
        make_variant: Callable[..., Path], docker_client: docker.DockerClient, unrecorded_network: Network) -> None:
    unrecorded_network.reload()
    assert not any(c.get("Gateway") for c in unrecorded_network.attrs["IPAM"]["Config"])  # the engine state
    (address, *_) = bridge_addresses(unrecorded_network.attrs)
    images = make_variant()
    image = build_variant(docker_client, load_variant(images, "stub"), LogProgress(None, show=lambda _: None))
    with container_probe.sibling(docker_client, image.ref, "stub", network=unrecorded_network.name) as container, \
            MediaServer(ServeAddress(bind=address, url_host=address)) as media:
        fetched = container_probe.http_get(container, media.publish(b"served on the bridge", "image/png"))
        assert fetched.status == 200 and fetched.body == "served on the bridge", fetched
