"""The media server's address holds on the engine CI has (a fresh one records no bridge gateway): what
the harness computes is what `host-gateway` resolves to inside a real container, and a container
fetches test media from it by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from harness import container_probe
from harness.build import build_variant
from harness.host_gateway import host_gateway_address
from harness.image_server import MediaServer, serve_address
from harness.progress import LogProgress
from harness.variant import load_variant

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
