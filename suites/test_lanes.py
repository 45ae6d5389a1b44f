"""Lanes (seed 002): a deployment that serves several models behind one endpoint and swaps them in and out
of GPU memory. Interleaved requests for every listed model must all be answered, by the model asked for,
including those that arrive during a switch; each switch's duration is reported (results.jsonl property
`switches`), never judged. Skipped for servers that list one model."""

from __future__ import annotations

import httpx
import pytest

from harness.checks.lanes import drive
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat")

SWITCH_TIMEOUT_S = 600.0  # one request may wait for an unload and a load (30-60 s on the seed's GPU)


def test_interleaved_lanes_lose_no_request_across_switches(api: httpx.Client, endpoint: Endpoint,
                                                           record_property: pytest.RecordProperty) -> None:
    listed = api.get("/v1/models")
    assert listed.status_code == 200, f"GET /v1/models answered {listed.status_code}"
    models = [str(card["id"]) for card in listed.json().get("data", [])]
    if len(models) < 2:
        pytest.skip(f"the server lists one model ({models}): no lanes to switch between")
    with endpoint.client(timeout=SWITCH_TIMEOUT_S) as client:
        report = drive(client, models)
    record_property("switches", [{"from": s.before, "to": s.after, "seconds": round(s.seconds, 3),
                                  "steady_seconds": None if s.steady_seconds is None else round(s.steady_seconds, 3)}
                                 for s in report.switches])
    for switch in report.switches:
        print(f"switch {switch.before} -> {switch.after}: {switch.seconds:.1f}s "
              f"(then {switch.steady_seconds or 0:.2f}s)")
    failed = [f"{r.phase} request for {r.model} after {r.seconds:.1f}s: {r.problem}" for r in report.failed]
    assert not failed, (f"{len(failed)} of {len(report.requests)} interleaved lane requests failed:\n  "
                        + "\n  ".join(failed))
