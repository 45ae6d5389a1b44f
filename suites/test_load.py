"""Load tests (`pytest suites/ --image NAME -m load`): the variant's [load] table drives the server with
locust; the report lands in the run folder under load-<test>/. Failed requests fail the test, by kind with
the first errors (unless [load.slo] max_error_rate allows their share), as do [load.slo] misses, with the
numbers. Deselected unless -m names `load`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.checks.openai_calls import ServerFacts
from harness.load.config import WORKLOAD_KEYS, LoadConfig
from harness.load.runner import run_load
from harness.report.build import Report
from harness.results.models import LoadVerdict
from harness.server.endpoint import Endpoint
from harness.spec.variant_load import LoadSpec

pytestmark = pytest.mark.load


def _config(endpoint: Endpoint, server: ServerFacts, spec: LoadSpec, kinds: tuple[str, ...]) -> LoadConfig:
    return LoadConfig(base_url=endpoint.base_url, model=endpoint.model, kinds=kinds, concurrency=spec.concurrency,
                      rates=spec.rates, requests=None if spec.duration else spec.requests, duration=spec.duration,
                      burstiness=spec.burstiness, input_len=spec.input_len, output_len=spec.output_len,
                      **{key: getattr(spec, key) for key in WORKLOAD_KEYS},
                      ignore_eos=spec.ignore_eos and server.vllm_like, warmup=spec.warmup,  # vLLM extension
                      label=endpoint.variant.name if endpoint.variant else "remote").check()


def _judge(report: Report, record: object) -> None:
    """The run's verdict (harness.report.verdict): failed requests fail the test even when the run is
    invalid; an invalid run without them is skipped (not observed); then the SLOs."""
    record_property = record  # type: ignore[assignment]
    record_property("load_report", str(report.html))  # type: ignore[operator]
    assert report.levels, f"no measured request was recorded; see {report.dir}"
    verdict = report.verdict
    where = f" (report: {report.html})"
    if verdict in (LoadVerdict.CUT_SHORT, LoadVerdict.REQUESTS_FAILED):
        cut = [f"run cut short: {report.incident}"] if report.incident else []
        pytest.fail("requests failed: " + "; ".join(cut + report.request_failures) + where, pytrace=False)
    if verdict == LoadVerdict.INVALID:  # the client could not measure the server: neither pass nor fail
        pytest.skip("the run is invalid, its latencies are not the server's: " + "; ".join(report.invalid_reasons)
                    + where)
    if verdict == LoadVerdict.SLO_MISSED:
        pytest.fail("SLO missed: " + "; ".join(report.slo_failures) + where, pytrace=False)


def _spec(endpoint: Endpoint) -> LoadSpec:
    return endpoint.variant.load if endpoint.variant else LoadSpec()


@pytest.mark.requires("chat")
def test_load_chat(endpoint: Endpoint, server: ServerFacts, run_dir: Path, record_property: object) -> None:
    spec = _spec(endpoint)
    kinds = tuple(k for k in spec.kinds if k != "vision") or ("chat",)
    report = run_load(endpoint, _config(endpoint, server, spec, kinds), run_dir / "load-chat", slo=spec.slo)
    _judge(report, record_property)


@pytest.mark.requires("vision")
def test_load_vision(endpoint: Endpoint, server: ServerFacts, run_dir: Path, record_property: object) -> None:
    spec = _spec(endpoint)
    # one level is enough to see what the image encoder costs; every request carries a new image
    config = replace(_config(endpoint, server, spec, ("vision",)), concurrency=(max(spec.concurrency),), rates=())
    report = run_load(endpoint, config, run_dir / "load-vision", slo=spec.slo)
    _judge(report, record_property)
