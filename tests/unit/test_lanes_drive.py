"""harness.checks.lanes.drive's bookkeeping against an in-process transport (the real proof is
tests/integration/test_lanes_front.py): the order of lanes, which requests count as switches, and that
a wrong model or an error is reported with the request it happened to."""

from __future__ import annotations

import json
import time

import httpx

from harness.checks.lanes import drive


def completion(model: str) -> dict[str, object]:
    return {"id": "c1", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def client_for(answer) -> httpx.Client:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        seen.append(model)
        return answer(model)

    client = httpx.Client(base_url="http://lanes", transport=httpx.MockTransport(handle))
    client.seen = seen  # type: ignore[attr-defined]
    return client


def test_sequential_order_switches_and_the_concurrent_burst() -> None:
    client = client_for(lambda m: httpx.Response(200, json=completion(m)))
    report = drive(client, ["a", "b", "c"])
    assert [(s.before, s.after) for s in report.switches] == [("a", "b"), ("b", "c"), ("c", "a")]
    sequential = [r.model for r in report.requests if r.phase == "sequential"]
    assert sequential == ["a", "b", "b", "c", "c", "a", "a"]  # each switch is followed by a steady request
    assert sorted(r.model for r in report.requests if r.phase == "concurrent") == ["a", "a", "b", "b", "c", "c"]
    assert not report.failed


def test_errors_and_wrong_models_are_failures() -> None:
    def answer(model: str) -> httpx.Response:
        if model == "b":
            return httpx.Response(503, json={"error": {"message": "switching"}})
        return httpx.Response(200, json=completion("other" if model == "c" else model))

    failed = drive(client_for(answer), ["a", "b", "c"]).failed
    assert {r.model for r in failed} == {"b", "c"}
    assert any("HTTP 503" in r.problem for r in failed) and any("'other'" in r.problem for r in failed)
