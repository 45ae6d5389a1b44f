"""Conformance, `/v1/embeddings` (and vLLM's `/pooling`) of an embedding model: encodings, `dimensions`,
batches item by item equal to single requests, usage against `/tokenize`, determinism, and refusals."""

from __future__ import annotations

import httpx
import pytest

from harness.checks import openai_calls, refusals
from harness.checks import pooling as pool
from harness.checks import tokenizer as tok
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("embeddings")
TEXTS = ["The lighthouse keeper lit the light.", "A storm hit the ship at night.", "query: what is the ocean?"]


def test_embeddings_base64_decodes_to_the_float_vectors(api: httpx.Client, endpoint: Endpoint) -> None:
    floats, _ = pool.embed(api, endpoint.model, TEXTS)
    packed, call = pool.embed(api, endpoint.model, TEXTS, encoding_format="base64")
    gaps = [pool.distance(a, b) for a, b in zip(floats, packed, strict=True)]
    # float32 both ways: the JSON floats are the same numbers the base64 bytes hold
    assert all(g <= 1e-6 for g in gaps), call.why(f"the float vectors again once decoded; largest gaps {gaps}")


def test_embeddings_dimensions_shortens_or_is_refused(api: httpx.Client, endpoint: Endpoint,
                                                      record_property: pytest.RecordProperty) -> None:
    full, _ = pool.embed(api, endpoint.model, TEXTS[0])
    wanted = len(full[0]) // 2
    call = openai_calls.post(api, pool.EMBEDDINGS, {"model": endpoint.model, "input": TEXTS[0], "dimensions": wanted})
    record_property("dimensions_supported", call.status == 200)
    if call.status != 200:  # a model without Matryoshka dimensions must say so as a client error
        refusals.rejected_and_still_serving(call, record_property, api, endpoint)
        return
    short, call = pool.embed(api, endpoint.model, TEXTS[0], dimensions=wanted)
    assert len(short[0]) == wanted, call.why(f"a vector of {wanted} dimensions (dimensions={wanted})")


@pytest.mark.parametrize("form", ["strings", "token-ids"])
def test_embeddings_batch_items_equal_single_requests(api: httpx.Client, endpoint: Endpoint, form: str) -> None:
    inputs: list = list(TEXTS)
    if form == "token-ids":
        if not endpoint.capabilities.has("tokenize"):
            pytest.skip("token-id inputs are made by /tokenize, which this target does not declare")
        inputs = [tok.ids(api, endpoint.model, prompt=t) for t in TEXTS]
    batch, call = pool.embed(api, endpoint.model, inputs)
    singles = [pool.embed(api, endpoint.model, [item] if form == "token-ids" else item)[0][0] for item in inputs]
    gaps = [pool.distance(b, s) for b, s in zip(batch, singles, strict=True)]
    assert all(g <= pool.BATCH_TOLERANCE for g in gaps), call.why(
        f"item i of the batch equal to input i sent alone (within {pool.BATCH_TOLERANCE}); largest gaps {gaps}")


@pytest.mark.requires("tokenize")
def test_embeddings_usage_counts_what_tokenize_counts(api: httpx.Client, endpoint: Endpoint) -> None:
    counted = sum(tok.tokenize(api, endpoint.model, prompt=t).json["count"] for t in TEXTS)
    _, call = pool.embed(api, endpoint.model, TEXTS)
    assert call.json["usage"]["prompt_tokens"] == counted, call.why(
        f"usage.prompt_tokens {counted}: the inputs' /tokenize counts summed")


def test_embeddings_same_input_same_vector_and_different_inputs_differ(api: httpx.Client, endpoint: Endpoint) -> None:
    first, _ = pool.embed(api, endpoint.model, TEXTS[0])
    again, call = pool.embed(api, endpoint.model, TEXTS[0])
    assert pool.distance(first[0], again[0]) <= 1e-6, call.why("the vector the same input gave before")
    vectors, call = pool.embed(api, endpoint.model, TEXTS)
    close = [(i, j) for i in range(len(TEXTS)) for j in range(i) if pool.distance(vectors[i], vectors[j]) < 1e-3]
    assert not close, call.why(f"a different vector for each different input; inputs {close} (i, j) got the same")


def test_pooling_route_gives_the_embedding(api: httpx.Client, endpoint: Endpoint) -> None:
    vectors, _ = pool.embed(api, endpoint.model, TEXTS[0])
    call = openai_calls.post(api, pool.POOLING, {"model": endpoint.model, "input": TEXTS[0]})
    data = (call.json or {}).get("data") if isinstance(call.json, dict) else None
    got = pool.decode(data[0].get("data"), "float") if isinstance(data, list) and data else []
    assert call.status == 200 and pool.distance(got, vectors[0]) <= 1e-6, call.why(
        "200 with data[0].data the vector /v1/embeddings gives the same input")


BAD = {
    "empty-string": "",
    "empty-list": [],
    "not-text": 42,
    "list-of-floats": [0.5, 1.5],
    "negative-token-id": [[-3, 5]],
    "too-long": "word " * 20000,
}


@pytest.mark.parametrize("case", list(BAD))
def test_embeddings_bad_input_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint, case: str,
                                                      record_property: pytest.RecordProperty) -> None:
    call = openai_calls.post(api, pool.EMBEDDINGS, {"model": endpoint.model, "input": BAD[case]})
    refusals.rejected_and_still_serving(call, record_property, api, endpoint)
