"""The strict Responses stream reader and the response shapes, on hand-written streams."""

from __future__ import annotations

import json
from typing import Any

from harness.checks import responses_shapes, responses_stream

RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1, "model": "m", "status": "completed", "output": [],
            "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}
ITEM = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
TEXT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}


def frame(events: list[dict[str, Any]], *, names: bool = True) -> list[bytes]:
    return [((f"event: {e['type']}\n" if names else "") + f"data: {json.dumps(e)}\n\n").encode() for e in events]


def good() -> list[dict[str, Any]]:
    final = {**RESPONSE, "output": [{**ITEM, "status": "completed",
                                     "content": [{"type": "output_text", "text": "Hi!", "annotations": []}]}]}
    events = [{"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "usage": None}},
              {"type": "response.output_item.added", "output_index": 0, "item": ITEM},
              {"type": "response.output_text.delta", **TEXT, "delta": "Hi"},
              {"type": "response.output_text.delta", **TEXT, "delta": "!"},
              {"type": "response.output_text.done", **TEXT, "text": "Hi!"},
              {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
              {"type": "response.completed", "response": final}]
    return [{**e, "sequence_number": i} for i, e in enumerate(events)]


def test_a_conforming_stream_has_no_problems() -> None:
    stream = responses_stream.read(frame(good()))
    assert stream.violations == [] and stream.order_problems() == []
    assert [p for e in stream.events for p in responses_shapes.event(e)] == []
    assert stream.text() == "Hi!" == responses_shapes.output_text(stream.final)


def test_framing_violations_are_collected() -> None:
    events = good()
    events[3]["sequence_number"] = 1  # goes back
    chunks = frame(events)
    chunks[2] = chunks[2].replace(b"event: response.output_text.delta", b"event: response.output_text")
    chunks.append(b"data: [DONE]\n\n")
    found = " | ".join(responses_stream.read(chunks).violations)
    assert "carries data of type 'response.output_text.delta'" in found
    assert "sequence_number 1 after 2" in found and "[DONE]" in found


def test_unnamed_events_and_order_problems() -> None:
    events = good()
    unnamed = responses_stream.read(frame(events, names=False))
    assert any("without an 'event: ' line" in v for v in unnamed.violations)
    del events[1]  # the delta now comes before its item was added
    problems = " | ".join(responses_stream.read(frame(events[:-1])).order_problems())
    assert "outside its output_item.added" in problems and "exactly one terminal event" in problems


def test_usage_must_add_up() -> None:
    body = {**RESPONSE, "usage": {**RESPONSE["usage"], "total_tokens": 6}}
    assert responses_shapes.response(body) == ["usage.total_tokens 6 != input_tokens 3 + output_tokens 2"]
