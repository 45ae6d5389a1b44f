"""Finding where `host-gateway` points, on engine states a new user's engine has (no IPAM gateway)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import UsageError
from harness.server.host_gateway import bridge_addresses, bridge_interface, host_gateway_address, interface_ipv4

# what a freshly installed docker.io 20.10 reported for its default bridge (field report, issue 13)
FRESH_BRIDGE = {"Id": "f" * 64, "IPAM": {"Driver": "default", "Options": None,
                                          "Config": [{"Subnet": "172.17.0.0/16"}]},
                "Options": {"com.docker.network.bridge.default_bridge": "true",
                            "com.docker.network.bridge.name": "docker0"}}


def bridge(name: str | None, gateway: str | None = None) -> dict[str, Any]:
    options = {} if name is None else {"com.docker.network.bridge.name": name}
    attrs: dict[str, Any] = {**FRESH_BRIDGE, "Options": options}
    config = {"Subnet": "172.17.0.0/16", **({"Gateway": gateway} if gateway else {})}
    return {**attrs, "IPAM": {**FRESH_BRIDGE["IPAM"], "Config": [config]}}


def engine_with(attrs: dict[str, Any]) -> Any:
    return SimpleNamespace(networks=SimpleNamespace(get=lambda name: SimpleNamespace(attrs=attrs)))


def test_no_ipam_gateway_reads_the_bridge_interface() -> None:
    # the loopback interface stands in for docker0: a real interface with a real address
    assert host_gateway_address(engine_with(bridge("lo"))) == "127.0.0.1"


def test_recorded_gateway_comes_first_and_addresses_are_deduplicated() -> None:
    assert bridge_addresses(bridge("lo", "10.9.0.1")) == ["10.9.0.1", "127.0.0.1"]
    assert bridge_addresses(bridge("lo", "127.0.0.1")) == ["127.0.0.1"]
    assert bridge_addresses(bridge("no-such-if0", "10.9.0.1")) == ["10.9.0.1"]


def test_neither_recorded_nor_local_is_one_clear_line() -> None:
    with pytest.raises(UsageError, match=r"no IPv4 gateway .*no-such-if0.*--image-host"):
        host_gateway_address(engine_with(bridge("no-such-if0")))


def test_user_networks_are_named_by_id() -> None:
    assert bridge_interface(bridge(None)) == "br-ffffffffffff"
    assert interface_ipv4("no-such-if0") is None
