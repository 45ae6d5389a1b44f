"""Looking from inside a running container: an HTTP GET or a TCP connect made by the container's own
Python (every vLLM image has one), through `docker exec`. For what the host cannot see: whether a
replica without a published port is healthy, and whether a container can reach outside its network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import docker.errors
from docker.models.containers import Container

from harness.server.labels import labels_for

# Runs inside the container: standard library only, one JSON line out, never a traceback.
_SCRIPT = r"""
import json, socket, sys, urllib.request, urllib.error
req = json.loads(sys.argv[1])
out = {"ok": False, "status": None, "body": "", "error": ""}
try:
    if req["kind"] == "http":
        try:
            with urllib.request.urlopen(req["url"], timeout=req["timeout"]) as r:
                out.update(ok=True, status=r.status, body=r.read(req["limit"]).decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            out.update(ok=True, status=e.code, body=e.read(req["limit"]).decode("utf-8", "replace"))
    else:
        with socket.create_connection((req["host"], req["port"]), timeout=req["timeout"]):
            out["ok"] = True
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


@dataclass(frozen=True)
class ProbeResult:
    ok: bool  # the connection was made (for http: an answer came, whatever its status)
    status: int | None = None
    body: str = ""
    error: str = ""


def _run(container: Container, request: dict[str, object], python: str) -> ProbeResult:
    try:
        code, output = container.exec_run([python, "-c", _SCRIPT, json.dumps(request)], demux=False)
    except docker.errors.APIError as exc:  # the container is not running
        return ProbeResult(False, error=f"docker exec failed: {exc.explanation or exc}")
    text = (output or b"").decode("utf-8", "replace").strip().splitlines()
    try:
        data = json.loads(text[-1])
    except (IndexError, ValueError):
        return ProbeResult(False, error=f"probe exited {code}: {' '.join(text)[-300:]}")
    return ProbeResult(bool(data["ok"]), data["status"], data["body"], data["error"])


def http_get(container: Container, url: str, *, timeout: float = 5.0, limit: int = 1 << 20,
             python: str = "python3") -> ProbeResult:
    return _run(container, {"kind": "http", "url": url, "timeout": timeout, "limit": limit}, python)


def tcp_connect(container: Container, host: str, port: int, *, timeout: float = 5.0,
                python: str = "python3") -> ProbeResult:
    return _run(container, {"kind": "tcp", "host": host, "port": port, "timeout": timeout}, python)


@contextmanager
def sibling(client: docker.DockerClient, image: str, variant: str, python: str = "python3",
            network: str = "bridge") -> Iterator[Container]:
    """A throwaway container of `image` (on the default bridge unless told), idle until removed on exit: a
    place to probe from that is not isolated (the control of an isolation check) and that resolves
    `host-gateway`."""
    container = client.containers.run(
        image, entrypoint=[python, "-c", "import time; time.sleep(600)"], command=[], detach=True,
        network=network, extra_hosts={"host.docker.internal": "host-gateway"}, labels=labels_for(variant))
    try:
        yield container
    finally:
        container.remove(force=True)


def resolved_host_gateway(container: Container) -> str | None:
    """What `host.docker.internal` (added as host-gateway) resolves to inside the container: the engine's
    own answer, read from its /etc/hosts."""
    code, output = container.exec_run(["cat", "/etc/hosts"])
    for line in (output or b"").decode("utf-8", "replace").splitlines():
        fields = line.split()
        if code == 0 and len(fields) >= 2 and "host.docker.internal" in fields[1:]:
            return fields[0]
    return None
