"""Health transitions: while the harness booted the server, /health went from failing (503 or no answer)
to 200 and never back; under load it keeps answering 200. (After every hostile or bad request, the
conformance-errors and multimodal-hostile suites check /health again.)"""

from __future__ import annotations

import time

import httpx
import pytest

from harness.checks.inflight import ANSWERED, InFlight, long_request
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

FAILING = ("no answer", "503")
CONCURRENT = 8
HEALTH_POLLS = 10
FIRST_TOKENS = 256  # enough to overlap polls on a CPU server; a fast GPU gets the whole context


def test_health_went_from_failing_to_200_while_booting(endpoint: Endpoint) -> None:
    states = list(endpoint.boot_health)
    if not states:
        pytest.skip("the harness did not boot this server (--base-url): there was no boot to watch")
    assert states[-1] == "200", f"/health while booting: {states}"
    if len(states) == 1:
        pytest.skip("the server was ready at the first poll: /health was never seen failing")
    first_ok = states.index("200")
    assert first_ok == len(states) - 1, f"/health fell back to failing after answering 200 during boot: {states}"
    odd = [s for s in states[:-1] if s not in FAILING]
    assert not odd, (f"while loading, /health must fail with 503 or not answer at all; it answered {odd} "
                     f"(states: {states})")


def test_health_stays_200_under_load(endpoint: Endpoint, server: ServerFacts) -> None:
    limit = (server.max_model_len or 2048) - 64
    # a fast server may finish short requests before a poll can overlap them: then longer ones, once
    for max_tokens in dict.fromkeys((min(FIRST_TOKENS, limit), limit)):
        seen, outcomes = _poll_health_while_streaming(endpoint, server, max_tokens)
        if seen:
            break
    else:
        pytest.skip(f"{CONCURRENT} streaming requests of up to {limit} tokens ended before a /health poll could "
                    "overlap them: /health under load was not observed")
    assert all(s == "200" for s in seen), f"{endpoint.health_path} under {CONCURRENT} streaming requests: {seen}"
    failed = [o for o in outcomes if o not in ANSWERED]  # a missing [DONE] is the framing check's finding
    assert not failed, f"requests of the load failed while /health said 200: {failed}"


def _poll_health_while_streaming(endpoint: Endpoint, server: ServerFacts,
                                 max_tokens: int) -> tuple[list[str], list[str]]:
    """/health's answers to polls made while requests streamed (a request open before the poll was sent
    and still open after its answer came), and how the requests ended."""
    path, payload = long_request(endpoint, server.exact_length(), max_tokens)
    seen: list[str] = []
    with InFlight(endpoint, path, payload, CONCURRENT) as flights, httpx.Client(
            base_url=endpoint.base_url, headers=endpoint.headers, timeout=10.0) as http:
        assert flights.wait_streaming(timeout=300), "the load requests got no first token in 300 s"
        deadline = time.monotonic() + 300
        while flights.open and len(seen) < HEALTH_POLLS and time.monotonic() < deadline:
            before = {f.index for f in flights.open}
            try:
                status = str(http.get(endpoint.health_path).status_code)
            except httpx.HTTPError as exc:
                status = f"no answer ({type(exc).__name__})"
            if before & {f.index for f in flights.open}:
                seen.append(status)
        still_open = flights.wait_ended(deadline=time.monotonic() + 300)
        assert not still_open, f"{len(still_open)} of {CONCURRENT} requests still streaming after 300 s"
        return seen, flights.outcomes()
