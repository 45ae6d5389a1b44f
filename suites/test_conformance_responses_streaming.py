"""Conformance, Responses API streaming, read by the harness's strict reader (harness.checks.responses_stream):
named events in the documented order, each in its documented shape, text deltas that add up to the final
response's text, and the same answer as without streaming."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, responses_shapes
from harness.checks.openai_calls import RESPONSES, Call, ServerFacts
from harness.checks.openai_shapes import trim
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("responses")
FINISHED = ("completed", "incomplete")


def strict_stream(api: httpx.Client, body: dict[str, Any]) -> Call:
    """A stream that is well framed, error-free, and whose every event has its documented shape."""
    call = openai_calls.stream(api, RESPONSES, body)
    assert call.status == 200, call.why("200 with an event stream")
    assert call.content_type.startswith("text/event-stream"), call.why(
        f"Content-Type text/event-stream, got '{call.content_type}'")
    events = call.events
    assert events is not None and events.events, call.why("events")
    assert events.error is None, call.why(f"no error event; got {trim(events.error)}")
    assert not events.violations, call.why(f"strict Responses events; violations: {events.violations[:5]}")
    problems = [f"event {i} ({e.get('type')}): {p}" for i, e in enumerate(events.events)
                for p in responses_shapes.event(e)]
    assert not problems, call.why(f"every event in its documented shape; problems: {problems[:5]}")
    return call


def test_responses_stream_events_in_order(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    call = strict_stream(api, openai_calls.responses_payload(endpoint.model, max_output_tokens=8,
                                                             **server.exact_length()))
    assert call.events is not None
    problems = call.events.order_problems()
    assert not problems, call.why(f"created, ..., text deltas inside their item, ..., one terminal event; "
                                  f"problems: {problems[:5]}")
    kinds = call.events.types()
    assert "response.output_text.delta" in kinds, call.why("at least one response.output_text.delta")
    final = call.events.final
    assert final is not None and final["status"] in FINISHED, call.why(
        f"a final response with status {' or '.join(FINISHED)}")


def test_responses_stream_deltas_add_up_to_the_final_text(api: httpx.Client, endpoint: Endpoint,
                                                          server: ServerFacts) -> None:
    call = strict_stream(api, openai_calls.responses_payload(endpoint.model, max_output_tokens=16,
                                                             **server.exact_length()))
    assert call.events is not None and call.events.final is not None, call.why("a terminal event with the response")
    final = responses_shapes.output_text(call.events.final)
    assert call.events.text() == final and (final or not server.vllm_like), call.why(
        f"deltas that join to the final response's text {trim(final, 120)!r} (not empty: ignore_eos)")


def test_responses_stream_matches_the_non_streamed_answer(api: httpx.Client, endpoint: Endpoint,
                                                          server: ServerFacts) -> None:
    body = openai_calls.responses_payload(endpoint.model, max_output_tokens=16, **server.exact_length())
    plain = openai_calls.post(api, RESPONSES, body)
    assert plain.status == 200, plain.why("200")
    want = responses_shapes.output_text(plain.json)
    call = strict_stream(api, body)
    assert call.events is not None and call.events.final is not None, call.why("a terminal event with the response")
    final = call.events.final
    counts = ("input_tokens", "output_tokens", "total_tokens")
    got = (call.events.text(), final["status"], {k: (final.get("usage") or {}).get(k) for k in counts})
    expected = (want, plain.json["status"], {k: plain.json["usage"].get(k) for k in counts})
    assert got == expected, call.why(f"at temperature 0 the non-streamed answer: text {trim(want, 120)!r}, "
                                     f"status '{expected[1]}', usage {expected[2]}")


def test_responses_stream_terminal_event_matches_status(api: httpx.Client, endpoint: Endpoint,
                                                        server: ServerFacts) -> None:
    # OpenAI: a response cut by max_output_tokens ends its stream with `response.incomplete`, one that
    # finished with `response.completed`; the event type is how clients branch without reading the body
    call = strict_stream(api, openai_calls.responses_payload(endpoint.model, max_output_tokens=4,
                                                             **server.exact_length()))
    assert call.events is not None and call.events.final is not None, call.why("a terminal event with the response")
    status, last = call.events.final["status"], call.events.types()[-1]
    assert last == f"response.{status}", call.why(f"the terminal event response.{status} for status '{status}'")
