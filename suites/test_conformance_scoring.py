"""Conformance, vLLM's scoring routes of a cross-encoder (`/score`, `/rerank`, `/v1/rerank`, `/v2/rerank`) and
`/classify` of a sequence classifier: rankings sorted and cut by `top_n`, each score the pair's own (alone,
whatever else is sent), the routes agreeing, probabilities summing to 1, and refusals."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, refusals
from harness.checks.openai_calls import Call
from harness.server.endpoint import Endpoint

QUERY = "what is the ocean?"
DOCUMENTS = ["the ocean is big and deep", "a ship at night", "light", "the keeper lit the lighthouse"]
RERANKS = ("/rerank", "/v1/rerank", "/v2/rerank")
TOLERANCE = 1e-4  # float32 scores of another batch shape may round differently; a defect moves them far more
requires_score = pytest.mark.requires("score")


def rerank(api: httpx.Client, model: str, documents: list[str], path: str = "/v1/rerank",
           **fields: Any) -> tuple[dict[int, float], Call]:
    """The scores by document index; asserts results sorted by score, each carrying the document it scores."""
    call = openai_calls.post(api, path, {"model": model, "query": QUERY, "documents": documents, **fields})
    results = (call.json or {}).get("results") if isinstance(call.json, dict) else None
    assert call.status == 200 and isinstance(results, list), call.why("200 with a results list")
    scores = [r.get("relevance_score") for r in results]
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores), call.why("a finite relevance_score each")
    assert scores == sorted(scores, reverse=True), call.why(f"results sorted by relevance_score, best first: {scores}")
    indexes = [r.get("index") for r in results]
    assert len(set(indexes)) == len(indexes) and set(indexes) <= set(range(len(documents))), call.why(
        f"distinct indexes of sent documents (0..{len(documents) - 1}): {indexes}")
    texts = [(r.get("document") or {}).get("text") for r in results]
    assert texts == [documents[i] for i in indexes], call.why("each result's document.text the document at its index")
    return dict(zip(indexes, scores, strict=True)), call


def score_alone(api: httpx.Client, model: str, document: str) -> float:
    call = openai_calls.post(api, "/score", {"model": model, "text_1": QUERY, "text_2": document})
    data = (call.json or {}).get("data") if isinstance(call.json, dict) else None
    assert call.status == 200 and isinstance(data, list) and len(data) == 1, call.why("200 with one score")
    return float(data[0]["score"])


def far(a: dict[int, float], b: dict[int, float]) -> dict[int, tuple[float, float]]:
    return {i: (a[i], b[i]) for i in a if abs(a[i] - b[i]) > TOLERANCE}


@requires_score
def test_rerank_ranks_every_document_and_top_n_keeps_the_best(api: httpx.Client, endpoint: Endpoint) -> None:
    full, _ = rerank(api, endpoint.model, DOCUMENTS)
    assert sorted(full) == list(range(len(DOCUMENTS))), f"every document ranked without top_n; got indexes {full}"
    best, call = rerank(api, endpoint.model, DOCUMENTS, top_n=2)
    wanted = sorted(full, key=full.__getitem__, reverse=True)[:2]
    assert list(best) == wanted and not far(best, full), call.why(f"the 2 best of the full ranking, {wanted}")


@requires_score
def test_rerank_score_is_the_pair_scored_alone(api: httpx.Client, endpoint: Endpoint) -> None:
    ranked, call = rerank(api, endpoint.model, DOCUMENTS)
    alone = {i: score_alone(api, endpoint.model, d) for i, d in enumerate(DOCUMENTS)}
    assert not far(ranked, alone), call.why(f"each score the pair's /score alone (within {TOLERANCE}); "
                                            f"(ranked, alone) differ at {far(ranked, alone)}")


@requires_score
def test_rerank_score_does_not_depend_on_the_other_documents(api: httpx.Client, endpoint: Endpoint) -> None:
    together, _ = rerank(api, endpoint.model, DOCUMENTS)
    fewer, call = rerank(api, endpoint.model, [DOCUMENTS[0], DOCUMENTS[3]])
    moved = far({0: together[0], 1: together[3]}, fewer)
    assert not moved, call.why(f"documents 0 and 3 scored as with all four sent; (with four, with two): {moved}")


@requires_score
def test_rerank_routes_and_score_agree(api: httpx.Client, endpoint: Endpoint) -> None:
    answers = {path: rerank(api, endpoint.model, DOCUMENTS, path=path)[0] for path in RERANKS}
    call = openai_calls.post(api, "/score", {"model": endpoint.model, "text_1": QUERY, "text_2": DOCUMENTS})
    data = (call.json or {}).get("data") if isinstance(call.json, dict) else None
    assert call.status == 200 and isinstance(data, list), call.why("200 with one score per document")
    assert [d.get("index") for d in data] == list(range(len(DOCUMENTS))), call.why("indexes in the sent order")
    answers["/score"] = {d["index"]: float(d["score"]) for d in data}
    differ = {p: far(a, answers["/v1/rerank"]) for p, a in answers.items() if far(a, answers["/v1/rerank"])}
    assert not differ, f"/rerank, /v1/rerank, /v2/rerank and /score must score alike; unlike /v1/rerank: {differ}"


BAD_RERANK: dict[str, dict[str, Any]] = {
    "no-documents": {"query": QUERY, "documents": []},
    "no-query": {"documents": DOCUMENTS},
    "negative-top-n": {"query": QUERY, "documents": DOCUMENTS, "top_n": -1},
    "documents-not-text": {"query": QUERY, "documents": [42, 7]},
    "too-long": {"query": QUERY, "documents": ["word " * 20000]},
}


@requires_score
@pytest.mark.parametrize("case", list(BAD_RERANK))
def test_rerank_bad_request_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint, case: str,
                                                    record_property: pytest.RecordProperty) -> None:
    call = openai_calls.post(api, "/v1/rerank", {"model": endpoint.model, **BAD_RERANK[case]})
    refusals.rejected_and_still_serving(call, record_property, api, endpoint)


def classify(api: httpx.Client, model: str, inputs: list[str]) -> tuple[list[list[float]], Call]:
    call = openai_calls.post(api, "/classify", {"model": model, "input": inputs})
    data = (call.json or {}).get("data") if isinstance(call.json, dict) else None
    assert call.status == 200 and isinstance(data, list) and len(data) == len(inputs), call.why(
        f"200 with {len(inputs)} classifications")
    assert [d.get("index") for d in data] == list(range(len(inputs))), call.why("indexes in the sent order")
    probs = [d.get("probs") for d in data]
    shaped = all(isinstance(p, list) and p and d.get("num_classes") == len(p) for p, d in zip(probs, data, strict=True))
    assert shaped, call.why("probs, one per class (num_classes of them)")
    return probs, call


@pytest.mark.requires("classify")
def test_classify_probabilities_sum_to_one(api: httpx.Client, endpoint: Endpoint) -> None:
    probs, call = classify(api, endpoint.model, DOCUMENTS)
    if len(probs[0]) < 2:
        pytest.skip(f"a {len(probs[0])}-class model: its one probability has nothing to sum")
    sums = [sum(p) for p in probs]
    assert all(0 <= x <= 1 for p in probs for x in p) and all(abs(s - 1) <= 1e-5 for s in sums), call.why(
        f"probabilities in [0, 1] summing to 1 per input; sums {sums}")
    labels = [d.get("label") for d in call.json["data"]]
    by_class = {max(range(len(p)), key=p.__getitem__): label for p, label in zip(probs, labels, strict=True)}
    assert len(set(by_class.values())) == len(by_class), call.why(f"one label per most likely class: {by_class}")


@pytest.mark.requires("classify")
def test_classify_batch_items_equal_single_requests(api: httpx.Client, endpoint: Endpoint) -> None:
    batch, call = classify(api, endpoint.model, DOCUMENTS)
    singles = [classify(api, endpoint.model, [d])[0][0] for d in DOCUMENTS]
    gaps = [max(abs(x - y) for x, y in zip(b, s, strict=True)) for b, s in zip(batch, singles, strict=True)]
    assert all(g <= TOLERANCE for g in gaps), call.why(f"item i of the batch as input i alone; largest gaps {gaps}")


@pytest.mark.requires("classify")
@pytest.mark.parametrize("case,body", [("empty-list", []), ("not-text", 42), ("too-long", "word " * 20000)])
def test_classify_bad_input_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint, case: str, body: Any,
                                                    record_property: pytest.RecordProperty) -> None:
    call = openai_calls.post(api, "/classify", {"model": endpoint.model, "input": body})
    refusals.rejected_and_still_serving(call, record_property, api, endpoint)
