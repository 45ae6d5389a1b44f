"""LoRA adapters loaded at run time (capability `lora`; the adapters are the variant's [[lora_adapters]]):
vLLM's /v1/load_lora_adapter makes an adapter a model of its own, listed in /v1/models and answering
differently from the base model for the same greedy request; /v1/unload_lora_adapter takes it away again
(no longer listed, requests for it refused); an adapter folder that does not exist is a 4xx, and the
server stays healthy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls
from harness.checks.openai_calls import Call, ServerFacts
from harness.server.endpoint import Endpoint
from harness.spec.variant import LoraAdapter

LOAD, UNLOAD = "/v1/load_lora_adapter", "/v1/unload_lora_adapter"
COMPLETIONS = "/v1/completions"

pytestmark = [pytest.mark.requires("lora", "completions")]


@pytest.fixture(scope="module")
def adapter(endpoint: Endpoint) -> LoraAdapter:
    adapters = endpoint.variant.lora_adapters if endpoint.variant else ()
    if not adapters:
        pytest.skip("the variant declares no [[lora_adapters]] (name and path as the server sees it)")
    return adapters[0]


def listed(api: httpx.Client) -> list[str]:
    models = openai_calls.get(api, "/v1/models")
    assert models.status == 200, models.why("200 with the model list")
    return [m.get("id") for m in models.json.get("data", []) if isinstance(m, dict)]


def answer(api: httpx.Client, model: str, server: ServerFacts) -> Call:
    body: dict[str, Any] = openai_calls.completion_payload(model, max_tokens=12, logprobs=1, **server.exact_length())
    return openai_calls.post(api, COMPLETIONS, body)


def tokens(call: Call) -> tuple[str, list[Any]]:
    """The greedy text and its token log-probabilities (a changed model moves them even where the text holds)."""
    choice = call.json["choices"][0]
    return choice.get("text") or "", list((choice.get("logprobs") or {}).get("token_logprobs") or [])


@pytest.fixture
def loaded(api: httpx.Client, adapter: LoraAdapter) -> Iterator[LoraAdapter]:
    """The adapter loaded for one check, and unloaded after it whatever happened."""
    call = openai_calls.post(api, LOAD, {"lora_name": adapter.name, "lora_path": adapter.path})
    assert call.status == 200, call.why(f"200: the adapter '{adapter.name}' loaded from {adapter.path}")
    try:
        yield adapter
    finally:
        if adapter.name in listed(api):
            openai_calls.post(api, UNLOAD, {"lora_name": adapter.name})


def test_lora_adapter_is_listed_and_answers_differently(api: httpx.Client, endpoint: Endpoint,
                                                        server: ServerFacts, loaded: LoraAdapter) -> None:
    names = listed(api)
    assert loaded.name in names, f"/v1/models lists {names} after loading '{loaded.name}'; expected it among them"
    base, again, tuned = answer(api, endpoint.model, server), answer(api, endpoint.model, server), answer(
        api, loaded.name, server)
    for call in (base, again, tuned):
        assert call.status == 200, call.why("200 to a greedy completion")
    assert tokens(base) == tokens(again), again.why(f"the base model's greedy answer repeated: {tokens(base)}")
    assert tokens(tuned) != tokens(base), tuned.why(
        f"an answer of the adapter's own (its weights change the model), not the base model's {tokens(base)}")


def test_lora_unload_takes_the_adapter_away(api: httpx.Client, server: ServerFacts, loaded: LoraAdapter) -> None:
    call = openai_calls.post(api, UNLOAD, {"lora_name": loaded.name})
    assert call.status == 200, call.why(f"200: the adapter '{loaded.name}' unloaded")
    names = listed(api)
    assert loaded.name not in names, f"/v1/models still lists '{loaded.name}' after unloading it: {names}"
    after = answer(api, loaded.name, server)
    assert 400 <= after.status < 500, after.why(f"a 4xx: the model '{loaded.name}' is gone")


def test_lora_bad_path_is_a_4xx(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    name = "harness-no-such-adapter"
    call = openai_calls.post(api, LOAD, {"lora_name": name, "lora_path": "/nonexistent/harness-lora"})
    try:
        assert 400 <= call.status < 500 and call.text.strip(), call.why(
            "a 4xx with a message: there is no adapter at that path")
        assert name not in listed(api), f"/v1/models lists '{name}', which failed to load"
        healthy = answer(api, endpoint.model, server)
        assert healthy.status == 200, healthy.why("200: the server still answers after the refused load")
    finally:
        if call.status == 200:
            openai_calls.post(api, UNLOAD, {"lora_name": name})
