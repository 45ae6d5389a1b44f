"""Graceful shutdown (seed 002: `docker stop` sends SIGTERM; the server handles what is in flight within
the grace period, then exits): with requests streaming, the serving container gets SIGTERM; each
request must complete or fail cleanly (its connection ends) within the grace period, none may hang,
and the container must exit within it. It stops the server, so it is opt-in and runs last:
`pytest suites/ --image NAME -m "disruptive or not disruptive"`."""

from __future__ import annotations

import time

import pytest

from harness.checks.inflight import InFlight, long_request
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint
from harness.server.engine import connect
from harness.server.runtime_docker import STOP_GRACE_SECONDS, exit_status_of
from harness.server.wait import poll_until

IN_FLIGHT = 4


@pytest.mark.disruptive
def test_sigterm_ends_every_request_within_the_grace_period(endpoint: Endpoint, server: ServerFacts,
                                                            record_property: pytest.RecordProperty) -> None:
    if endpoint.container_id is None:
        pytest.skip("needs the serving container: --image NAME with the docker runtime")
    container = connect().containers.get(endpoint.container_id)
    limit = (server.max_model_len or 2048) - 64
    path, payload = long_request(endpoint, server.exact_length(), min(512, limit))
    with InFlight(endpoint, path, payload, IN_FLIGHT, read_timeout=STOP_GRACE_SECONDS * 6) as flights:
        assert flights.wait_streaming(timeout=300), "the requests got no first token in 300 s"
        in_flight = len(flights.open)
        if not in_flight:
            pytest.skip("every request finished before SIGTERM could be sent: nothing was in flight")
        container.kill(signal="SIGTERM")
        sent = time.monotonic()
        still_open = flights.wait_ended(sent + STOP_GRACE_SECONDS)

        try:
            left = max(0.0, sent + STOP_GRACE_SECONDS - time.monotonic())
            poll_until(lambda: exit_status_of(container) is not None, left, "exit")
            exit_seconds: float | None = time.monotonic() - sent
        except TimeoutError:
            exit_seconds = None
        outcomes = flights.outcomes()
    record_property("in_flight_at_sigterm", in_flight)
    record_property("outcomes", outcomes)
    record_property("exit_seconds", None if exit_seconds is None else round(exit_seconds, 2))
    if still_open:
        pytest.fail(f"{len(still_open)} of {IN_FLIGHT} requests still open {STOP_GRACE_SECONDS} s after SIGTERM "
                    f"(hung); outcomes: {outcomes}; the server "
                    + ("exited" if exit_seconds is not None else "did not exit either"), pytrace=False)
    if exit_seconds is None:
        pytest.fail(f"the server did not exit within the {STOP_GRACE_SECONDS} s grace period after SIGTERM; "
                    f"outcomes: {outcomes}", pytrace=False)
