"""A stack as data (seed 003): serving replicas on a network of their own behind an nginx gateway that
is the only container with a published port. `stack_layout` is pure, so `vllm-harness plan` prints
exactly the networks, containers and files that `runtime_stack.StackServer` creates.

    host 127.0.0.1:<port> ──► gateway (default bridge + serving network) ──least_conn──► replica-0 … N-1
                                                                        (serving network only; internal:
                                                                         no published port, no route out)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.server.docker_run import run_kwargs
from harness.server.labels import PREFIX, SESSION_ID, labels_for
from harness.spec.variant import Variant

ROLE = f"{PREFIX}.role"  # replica | gateway
# `internal` alone leaves the bridge an address on the host, and containers a default route to it: on
# Docker 20.10 a replica reached host services (172.17.0.1, the bridge's own gateway) that way. Without
# that address, there is nothing outside the network to route to.
OFFLINE_OPTIONS = {"com.docker.network.bridge.inhibit_ipv4": "true"}
NGINX_CONF = "/etc/nginx/nginx.conf"
UPSTREAM = "vllm_backend"


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    internal: bool
    labels: dict[str, str]

    @property
    def options(self) -> dict[str, str]:
        return OFFLINE_OPTIONS if self.internal else {}

    def create_kwargs(self) -> dict[str, Any]:
        return {"name": self.name, "driver": "bridge", "internal": self.internal, "labels": self.labels,
                "options": self.options}


@dataclass(frozen=True)
class ContainerPlan:
    role: str  # replica-0, replica-1, ..., gateway
    kwargs: dict[str, Any]  # `containers.create` arguments (the first network included)
    connect: tuple[str, ...] = ()  # networks joined after create, before start
    files: tuple[tuple[str, str], ...] = ()  # (path in the container, content) put before start

    @property
    def name(self) -> str:
        return str(self.kwargs["name"])


@dataclass(frozen=True)
class StackLayout:
    network: NetworkPlan
    replicas: tuple[ContainerPlan, ...]
    gateway: ContainerPlan
    port: int  # the replicas' serving port

    @property
    def containers(self) -> tuple[ContainerPlan, ...]:
        """In start order: the gateway resolves the replicas' names when it starts."""
        return (*self.replicas, self.gateway)


def gateway_config(upstreams: list[str], listen: int) -> str:
    """nginx.conf after vLLM's nginx deployment guide and seed 003: least_conn over the replicas, 50 MB
    bodies (images as base64), 300 s timeouts (long OCR answers), /health, /v1, /metrics."""
    servers = "\n".join(f"        server {u} max_fails=3 fail_timeout=30s;" for u in upstreams)
    return f"""# written by vllm-image-harness (harness/server/stack.py)
worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log /dev/stdout;
    client_max_body_size 50m;
    upstream {UPSTREAM} {{
        least_conn;
{servers}
    }}
    server {{
        listen {listen};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        # a stopped replica is skipped within seconds; an answer may take the full 300 s
        proxy_connect_timeout 5s;
        proxy_send_timeout 300s;
        proxy_read_timeout 300s;
        proxy_buffering off;  # streams (SSE) reach the client token by token
        location = /health {{ proxy_pass http://{UPSTREAM}; }}
        location /v1 {{ proxy_pass http://{UPSTREAM}; }}
        location = /metrics {{ proxy_pass http://{UPSTREAM}; }}
        # vLLM's release, so clients know which server answers
        location = /version {{ proxy_pass http://{UPSTREAM}; }}
        location / {{ return 404; }}
    }}
}}
"""


def stack_layout(variant: Variant, image: str, gateway_image: str, *, host_ip: str = "127.0.0.1",
                 host_env: dict[str, str] | None = None, api_key: str | None = None,
                 group_ids: dict[str, int] | None = None) -> StackLayout:
    assert variant.stack is not None, "only a variant with [stack] has a stack layout"
    stack = variant.stack
    prefix = f"vllm-harness-{variant.name}-{SESSION_ID}"
    network = NetworkPlan(f"{prefix}-serving", stack.offline, labels_for(variant.name))
    replicas = []
    for i in range(stack.replicas):
        # the single-container arguments, so GPUs, env, mounts and shm are exactly what a lone server gets
        kwargs = run_kwargs(variant, image, host_ip=host_ip, host_env=host_env, api_key=api_key,
                            group_ids=group_ids)
        kwargs.pop("detach")
        kwargs.pop("ports")  # replicas publish nothing: the gateway is the way in
        if stack.offline:
            kwargs.pop("extra_hosts")  # no way to the host from an internal network anyway
        kwargs.update(name=f"{prefix}-replica-{i}", network=network.name,
                      labels={**kwargs["labels"], ROLE: "replica"})
        replicas.append(ContainerPlan(f"replica-{i}", kwargs))
    port = variant.container.port
    gateway = ContainerPlan("gateway", {
        "image": gateway_image,
        "name": f"{prefix}-gateway",
        "labels": {**labels_for(variant.name), ROLE: "gateway"},
        # on the default bridge, where a port can be published; an internal network cannot publish
        "ports": {f"{stack.gateway_port}/tcp": (host_ip, None)},
    }, connect=(network.name,),
        files=((NGINX_CONF, gateway_config([f"{r.name}:{port}" for r in replicas], stack.gateway_port)),))
    return StackLayout(network, tuple(replicas), gateway, port)
