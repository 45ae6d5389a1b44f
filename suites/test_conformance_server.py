"""Conformance, server endpoints: /health, /version, /v1/models, /v1/models/{id}, /metrics."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes, prometheus
from harness.checks.observed import STATUS, no_answer
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

# what a vLLM dashboard plots: load, KV cache, token throughput, latency
DASHBOARD_FAMILIES = (
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
    "vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
)
METRICS_SETTLE_S = 10.0  # vLLM records a request's stats just after its answer leaves


def _vllm_only(server: ServerFacts, what: str) -> None:
    if not server.vllm_like:
        pytest.skip(f"{what} is a vLLM endpoint and this server has no vLLM /version")


def test_health_is_200(api: httpx.Client, endpoint: Endpoint) -> None:
    call = openai_calls.get(api, endpoint.health_path)
    assert call.status == 200, call.why("200 while the server is up")


def test_version_names_the_vllm_release(api: httpx.Client, server: ServerFacts) -> None:
    _vllm_only(server, "/version")
    call = openai_calls.get(api, "/version")
    version = (call.json or {}).get("version")
    assert call.status == 200 and isinstance(version, str) and version[:1].isdigit(), call.why(
        '200 {"version": "<release>"}')


def test_models_lists_the_served_name_with_its_context(api: httpx.Client, endpoint: Endpoint,
                                                       server: ServerFacts) -> None:
    call = openai_calls.get(api, "/v1/models")
    assert call.status == 200, call.why("200 with the model list")
    problems = openai_shapes.model_list(call.json)
    assert not problems, call.why(f"an OpenAI model list; problems: {problems}")
    cards = {c["id"]: c for c in call.json["data"]}
    assert endpoint.model in cards, call.why(f"'{endpoint.model}' among the listed ids")
    if server.vllm_like:  # max_model_len is vLLM's extension of the model card
        spec = endpoint.variant.serve.max_model_len if endpoint.variant else None
        got = cards[endpoint.model].get("max_model_len")
        expected = spec if spec is not None else "a positive integer"
        assert (got == spec) if spec is not None else (isinstance(got, int) and got > 0), call.why(
            f"max_model_len {expected} on the card of '{endpoint.model}'")


def test_models_retrieve_by_id(api: httpx.Client, endpoint: Endpoint, record_property: pytest.RecordProperty) -> None:
    with no_answer(record_property):  # the status, or that none came: what the upstream registry matches
        call = openai_calls.get(api, f"/v1/models/{endpoint.model}")
    record_property(STATUS, call.status)
    assert call.status == 200, call.why("200 with the model card (OpenAI's GET /v1/models/{model})")
    problems = openai_shapes.model_card(call.json)
    assert not problems and call.json["id"] == endpoint.model, call.why(
        f"the card of '{endpoint.model}'; problems: {problems}")


def _metrics(api: httpx.Client) -> prometheus.Metrics:
    call = openai_calls.get(api, "/metrics")
    assert call.status == 200, call.why("200 with Prometheus text")
    try:
        return prometheus.parse(call.text)
    except ValueError as exc:
        pytest.fail(call.why(f"valid Prometheus exposition text ({exc})"), pytrace=False)


def test_metrics_has_the_dashboard_families(api: httpx.Client, server: ServerFacts) -> None:
    _vllm_only(server, "/metrics with vllm: families")
    metrics = _metrics(api)
    missing = [f for f in DASHBOARD_FAMILIES if not metrics.has(f)]
    assert not missing, f"/metrics lacks {missing}; it has {sorted(n for n in metrics.types if 'vllm:' in n)}"
    assert metrics.types["vllm:time_to_first_token_seconds"] == "histogram", metrics.types


@pytest.mark.requires("chat")
def test_metrics_counters_move_when_a_request_is_served(api: httpx.Client, endpoint: Endpoint,
                                                        server: ServerFacts) -> None:
    _vllm_only(server, "/metrics with vllm: families")
    if endpoint.stack is not None and len(endpoint.stack.replicas) > 1:
        # behind a balancer /metrics is one replica's, maybe not the one that served: test_stack counts per replica
        pytest.skip("several replicas behind a gateway: /metrics is one replica's")
    counters = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                "vllm:time_to_first_token_seconds_count")
    before = _metrics(api)
    call = openai_calls.post(api, "/v1/chat/completions",
                             openai_calls.chat_payload(endpoint.model, max_tokens=4, **server.exact_length()))
    assert call.status == 200, call.why("200 with a completion")
    usage = call.json["usage"]
    wanted = {"vllm:prompt_tokens_total": usage["prompt_tokens"],
              "vllm:generation_tokens_total": usage["completion_tokens"],
              "vllm:request_success_total": 1, "vllm:time_to_first_token_seconds_count": 1}
    deadline = time.monotonic() + METRICS_SETTLE_S
    while True:  # poll for the condition: the counters are updated asynchronously
        after = _metrics(api)
        moved = {c: (after.value(c) or 0) - (before.value(c) or 0) for c in counters}
        if all(moved[c] >= wanted[c] for c in counters) or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # poll interval
    assert all(moved[c] >= wanted[c] for c in counters), (
        f"after one served request (usage {usage}) the counters moved by {moved}; expected at least {wanted}")
