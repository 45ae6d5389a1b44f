"""vLLM's operations routes (capability `operations`): SageMaker's hosting contract (`/ping` answers as
/health does, GET and POST; `/invocations` routes a chat or completions body to that API and answers
exactly as it; a body of neither kind is a 4xx). And `/load` (capability `server_load`, vLLM with
--enable-server-load-tracking): its count of requests in flight rises by one while a request is answered and
comes back after.

/load is judged against its own reading before the request, never against 0: vLLM counts a request out when
its answer has been handed to the network, so a client on a busy host that reads an answer late (its CPU
taken by the server) would otherwise see a counter already back. A request still unanswered while /load
answered three reads is in flight at the server; fewer reads than that cannot tell (a skip saying so)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, openai_shapes
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

INVOCATIONS = "/invocations"


@pytest.mark.requires("operations")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_answers_as_health(api: httpx.Client, endpoint: Endpoint, method: str) -> None:
    ping, health = api.request(method, "/ping"), api.get(endpoint.health_path)
    assert ping.status_code == health.status_code == 200, (
        f"{method} /ping answered {ping.status_code} {ping.text[:200]!r}; /health {health.status_code}; "
        "expected 200 from both on a ready server")


def routed(api: httpx.Client, path: str, body: dict[str, Any], shape: Any) -> None:
    direct = openai_calls.post(api, path, body)
    via = openai_calls.post(api, INVOCATIONS, body)
    assert direct.status == 200, direct.why("200, to compare /invocations with")
    problems = shape(via.json) if via.status == 200 else ["not 200"]
    assert not problems, via.why(f"the answer {path} gives, as {path} shapes it; problems: {problems}")
    assert via.json["object"] == direct.json["object"] and via.json["choices"] == direct.json["choices"], via.why(
        f"the same greedy choices as {path}: {openai_shapes.trim(direct.json['choices'])}")


@pytest.mark.requires("operations", "chat")
def test_invocations_routes_a_chat_body(api: httpx.Client, endpoint: Endpoint) -> None:
    routed(api, "/v1/chat/completions", openai_calls.chat_payload(endpoint.model, max_tokens=8),
           openai_shapes.chat_completion)


@pytest.mark.requires("operations", "completions")
def test_invocations_routes_a_completions_body(api: httpx.Client, endpoint: Endpoint) -> None:
    routed(api, "/v1/completions", openai_calls.completion_payload(endpoint.model, max_tokens=8),
           openai_shapes.completion)


@pytest.mark.requires("operations")
def test_invocations_refuses_a_body_of_no_api(api: httpx.Client) -> None:
    call = openai_calls.post(api, INVOCATIONS, {"question": "neither a chat nor a completions body"})
    assert 400 <= call.status < 500, call.why("a 4xx: no API takes this body")


LOAD_READS = 3  # /load reads answered while the request was unanswered: it was in flight at the server
LOAD_TRIES = 3
LOAD_PAUSE_S = 0.02
ARRIVE_S = 0.1  # reads sent this long after the request: it has reached the server by then
SETTLE_S = 10.0  # how long the counter may take to come back once the answer has arrived


def server_load(api: httpx.Client) -> int:
    call = openai_calls.get(api, "/load")
    load = call.json.get("server_load") if call.status == 200 and isinstance(call.json, dict) else None
    assert isinstance(load, int), call.why('200 with {"server_load": <requests in flight>}')
    return load


def settled_load(api: httpx.Client, pause: threading.Event) -> int | None:
    """/load once it reads the same three times running (the previous check's requests are counted out when
    their answers have gone, a moment after the client has them); None if it never settles."""
    deadline, last = time.monotonic() + SETTLE_S, [server_load(api)]
    while time.monotonic() < deadline:
        pause.wait(LOAD_PAUSE_S)
        last = [*last[-2:], server_load(api)]
        if len(last) == 3 and len(set(last)) == 1:
            return last[0]
    return None


def load_in_flight(api: httpx.Client, body: dict[str, Any],
                   pause: threading.Event) -> tuple[list[int], openai_calls.Call | None]:
    """Send `body` on a thread and read /load until it is answered: the readings sent once the request had
    reached the server and answered before its answer arrived, and the call."""
    answered: list[float] = []
    calls: list[openai_calls.Call] = []

    def send() -> None:
        try:
            calls.append(openai_calls.post(api, "/v1/completions", body))
        finally:
            answered.append(time.perf_counter())

    sent = time.perf_counter()
    worker = threading.Thread(target=send, name="load-check request", daemon=True)
    worker.start()
    reads: list[tuple[float, float, int]] = []  # (sent, answered, value)
    while worker.is_alive() and not pause.wait(LOAD_PAUSE_S):
        asked = time.perf_counter()
        value = server_load(api)
        reads.append((asked, time.perf_counter(), value))
    worker.join(timeout=api.timeout.read or 120)
    done = answered[0] if answered else float("inf")
    return [value for asked, got, value in reads if asked > sent + ARRIVE_S and got < done], (
        calls[0] if calls else None)


@pytest.mark.requires("server_load", "completions")
def test_load_counts_a_request_in_flight(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    pause = threading.Event()  # never set: its wait() is the pause between reads
    limit = (server.max_model_len or 2048) - 64
    body = openai_calls.completion_payload(endpoint.model, max_tokens=min(1500, limit), **server.exact_length())
    tries: list[str] = []
    for _ in range(LOAD_TRIES):  # a host that starves the client for a whole request gets another try
        before = settled_load(api, pause)
        if before is None:
            tries.append(f"/load kept changing for {SETTLE_S:.0f} s with nothing of this check in flight")
            continue
        inflight, call = load_in_flight(api, body, pause)
        assert call is not None and call.status == 200, "the long completion behind the check did not answer 200: " + (
            call.why("200") if call is not None else "it never answered")
        if before + 1 not in inflight and len(inflight) < LOAD_READS:
            tries.append(f"/load answered {len(inflight)} read(s) while the request was in flight")
            continue
        assert before + 1 in inflight, (f"/load read {sorted(set(inflight))} in {len(inflight)} reads while a "
                                        f"completion was being answered; expected {before + 1} (it read {before} "
                                        "before the request)")
        after = settled_load(api, pause)
        assert after == before, (f"/load read {after} for {SETTLE_S:.0f} s after the request was answered; "
                                 f"expected it back at {before}, its reading before the request")
        return
    pytest.skip(f"inconclusive: in {LOAD_TRIES} tries this host kept /load from answering {LOAD_READS} reads while "
                "a request was in flight: " + "; ".join(tries))
