"""Suites users run: `pytest suites/ --image NAME` (or `--base-url URL`). The harness's pytest plugin
(harness.plugin, loaded through its entry point) provides the `endpoint`, `api` and `openai_client`
fixtures."""

from __future__ import annotations

import httpx
import pytest

from harness.endpoint import Endpoint
from harness.openai_calls import ServerFacts, probe


@pytest.fixture(scope="session")
def server(api: httpx.Client, endpoint: Endpoint) -> ServerFacts:
    """What the conformance checks adapt to (vLLM or not, context length), probed once."""
    spec = endpoint.variant.serve.max_model_len if endpoint.variant else None
    return probe(api, endpoint.model, spec)
