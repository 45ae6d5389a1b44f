"""How the conformance suites judge a refused request: a 4xx with a message in one of the accepted error
shapes (recorded as the test's `error_shape` property), and the server still healthy and answering
afterwards, whatever the refusal was. Shared by the chat/completions and Responses error checks."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from harness.checks import observed, openai_calls, openai_shapes
from harness.checks.openai_calls import Call
from harness.server.endpoint import Endpoint

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
EMBEDDINGS, SCORE, CLASSIFY = "/v1/embeddings", "/score", "/classify"


def still_serving(api: httpx.Client, endpoint: Endpoint, after: Call) -> None:
    health = api.get(endpoint.health_path)
    assert health.status_code == 200, after.why(f"a healthy server afterwards; /health answered {health.status_code}")
    if endpoint.capabilities.has("chat"):
        ok = openai_calls.post(api, CHAT, openai_calls.chat_payload(endpoint.model, max_tokens=1))
    elif endpoint.capabilities.has("completions"):
        ok = openai_calls.post(api, COMPLETIONS, openai_calls.completion_payload(endpoint.model, max_tokens=1))
    elif endpoint.capabilities.has("embeddings"):  # a pooling model generates nothing
        ok = openai_calls.post(api, EMBEDDINGS, {"model": endpoint.model, "input": "a good request"})
    elif endpoint.capabilities.has("score"):
        ok = openai_calls.post(api, SCORE, {"model": endpoint.model, "text_1": "a query", "text_2": "a document"})
    elif endpoint.capabilities.has("classify"):
        ok = openai_calls.post(api, CLASSIFY, {"model": endpoint.model, "input": "a good request"})
    else:
        ok = openai_calls.post(api, openai_calls.RESPONSES,
                               openai_calls.responses_payload(endpoint.model, max_output_tokens=1))
    assert ok.status == 200, after.why(f"the server still answering a good request afterwards; it gave {ok.why('200')}")


def rejected(call: Call, record_property: Callable[[str, object], None], expected_status: str = "4xx") -> None:
    """A client error with a message in one of the accepted shapes; records which shape."""
    wanted = f"HTTP {expected_status} with an error message ({' or '.join(openai_shapes.ERROR_SHAPES)} shape)"
    record_property(observed.STATUS, call.status)  # the fact an expected failure is matched on
    assert 400 <= call.status < 500, call.why(wanted)
    shape, message = openai_shapes.error_shape(call.json)
    assert shape is not None and message.strip(), call.why(wanted)
    record_property("error_shape", shape)


def rejected_and_still_serving(call: Call, record_property: Callable[[str, object], None], api: httpx.Client,
                               endpoint: Endpoint) -> None:
    """The refusal is checked, and the server's health after it is checked whatever the refusal was: both
    verdicts reported, so a failing health probe never hides the status the server sent."""
    openai_calls.all_hold(lambda: rejected(call, record_property),
                          observed.healthy_after(record_property, lambda: still_serving(api, endpoint, call)))
