"""API key: when the variant sets one (serve.api_key_env) or --api-key is given, requests without it, or
with a wrong one, get 401; with it they succeed. The key itself never appears in a message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks.openai_calls import chat_payload, completion_payload
from harness.server.endpoint import Endpoint


def _requests(endpoint: Endpoint) -> list[tuple[str, str, dict[str, Any] | None]]:
    generate = (("POST", "/v1/chat/completions", chat_payload(endpoint.model, max_tokens=1))
                if endpoint.capabilities.has("chat")
                else ("POST", "/v1/completions", completion_payload(endpoint.model, max_tokens=1)))
    return [("GET", "/v1/models", None), generate]


def test_api_key_is_required_and_sufficient(endpoint: Endpoint) -> None:
    if not endpoint.api_key:
        pytest.skip("no API key configured (serve.api_key_env in the variant spec, or --api-key)")
    no_retries = httpx.HTTPTransport(retries=0)
    wrong = {"Authorization": "Bearer not-the-key-" + "x" * 16}
    with httpx.Client(base_url=endpoint.base_url, timeout=120.0, transport=no_retries) as anonymous, \
            endpoint.client() as keyed:
        for method, path, body in _requests(endpoint):
            without = anonymous.request(method, path, json=body)
            assert without.status_code == 401, f"{method} {path} without a key answered {without.status_code}, not 401"
            mistaken = anonymous.request(method, path, json=body, headers=wrong)
            assert mistaken.status_code == 401, (
                f"{method} {path} with a wrong key answered {mistaken.status_code}, not 401")
            right = keyed.request(method, path, json=body)
            assert right.status_code == 200, f"{method} {path} with the key answered {right.status_code}"
