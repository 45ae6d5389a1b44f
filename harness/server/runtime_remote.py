"""A server that is already running somewhere (behind a gateway, on a GPU host): the harness owns
nothing, so it only checks that the URL answers and names a model."""

from __future__ import annotations

import httpx

from harness.errors import UsageError
from harness.server.endpoint import Endpoint, server_root
from harness.server.transport import auth_headers
from harness.spec.variant import Capabilities, Variant


def connect_remote(url: str, *, model: str | None, api_key: str | None, capabilities: Capabilities,
                   variant: Variant | None = None) -> Endpoint:
    root = server_root(url)
    if not root.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must be an http(s) URL, got '{url}'")
    headers = auth_headers(api_key)
    try:
        response = httpx.get(f"{root}/v1/models", headers=headers, timeout=15.0)
    except httpx.HTTPError as exc:
        raise UsageError(f"--base-url {root} is unreachable ({type(exc).__name__}); check the URL and that the "
                         "server is up") from None
    if response.status_code in (401, 403):
        raise UsageError(f"{root}/v1/models answered {response.status_code}: pass the server's key with --api-key")
    if response.status_code != 200:
        raise UsageError(f"{root}/v1/models answered {response.status_code}; is this an OpenAI-compatible server?")
    try:
        listed = [str(m["id"]) for m in response.json()["data"]]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{root}/v1/models did not answer an OpenAI model list") from None
    if model is None:
        if not listed:
            raise UsageError(f"{root}/v1/models lists no model")
        model = variant.serve.served_model_name if variant and variant.serve.served_model_name in listed else listed[0]
    elif model not in listed:
        raise UsageError(f"--model '{model}' is not served at {root}; it serves: {', '.join(listed)}")
    return Endpoint(base_url=root, model=model, capabilities=capabilities, runtime="remote", api_key=api_key,
                    variant=variant, health_path=variant.container.health_path if variant else "/health")
