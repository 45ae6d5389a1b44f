"""Where a container reaches this host: the address `--add-host NAME:host-gateway` resolves to.

dockerd resolves `host-gateway` to the default bridge network's gateway, which is the address of that
bridge's interface on the host (docker0). A long-lived engine records it in the network's IPAM config;
a freshly installed one may not (`"Config": [{"Subnet": "172.17.0.0/16"}]`, no `Gateway`), so the
interface itself is read too. Both are the same fact seen from two sides; neither is a guess.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from typing import Any

from harness.errors import UsageError

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def interface_ipv4(name: str) -> str | None:
    """The IPv4 address of the local network interface `name`, or None if it has none (or no such one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def bridge_interface(network: dict[str, Any]) -> str:
    """The host interface of a Docker bridge network (from `docker network inspect` attrs)."""
    named = (network.get("Options") or {}).get("com.docker.network.bridge.name")
    return str(named) if named else f"br-{str(network['Id'])[:12]}"


def bridge_addresses(network: dict[str, Any]) -> list[str]:
    """Every IPv4 address this host holds on a bridge network: the gateways its IPAM config records,
    then its interface's address; deduplicated, in that order."""
    found = [str(c["Gateway"]) for c in (network.get("IPAM") or {}).get("Config") or [] if c.get("Gateway")]
    if (local := interface_ipv4(bridge_interface(network))) is not None:
        found.append(local)
    return list(dict.fromkeys(a for a in found if ":" not in a))


def host_gateway_address(client: Any = None) -> str:
    """The address `host-gateway` resolves to on the engine's default bridge, as a local bindable IPv4."""
    from harness.server.engine import connect

    bridge = (client or connect()).networks.get("bridge").attrs
    addresses = bridge_addresses(bridge)
    if not addresses:
        raise UsageError(f"the Docker bridge network has no IPv4 gateway (no IPAM gateway and no address on "
                         f"{bridge_interface(bridge)}); pass --image-host ADDRESS")
    return addresses[0]


def host_ipv4_addresses() -> list[str]:
    """Every non-loopback IPv4 address of this host's interfaces (what a container escaping its network
    could reach this host on)."""
    found = (interface_ipv4(name) for _, name in socket.if_nameindex())
    return sorted({a for a in found if a is not None and not a.startswith("127.")})
