"""The upstream-deviation registry: which entries hold for which server, and what they do to a report."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import httpx
import openai
import pytest

from harness.checks import observed
from harness.checks.openai_calls import all_hold
from harness.errors import SpecError
from harness.spec import upstream
from harness.spec.failure import ExpectedFailure, Observed
from harness.spec.upstream_marks import NOT_SEEN, UpstreamMarks

ENTRY = upstream.Deviation("no-retrieve", ("test_models_retrieve_by_id", "test_hostile?huge?"),
                           upstream.SpecifierSet(">=0.26,<0.34"), ("0.26.0",), "no GET /v1/models/{id}",
                           "https://example.org/1", ExpectedFailure(404, None))
SEEN_404 = Observed("call", 404, None, "AssertionError: got HTTP 404")


def test_the_shipped_registry_loads_with_the_measured_entries() -> None:
    ids = {d.id for d in upstream.load()}
    assert {"no-models-retrieve", "huge-image-500", "file-url-500"} <= ids
    for entry in upstream.load():  # each entry holds where it was seen
        assert entry.seen and all(entry.holds_for(upstream.Version(v)) for v in entry.seen), entry.id


@pytest.mark.parametrize("version,applies", [("0.26.0", True), ("0.32.0+cpu", True), ("v0.33.1", True),
                                             ("0.34.0.dev3+gabc", False), ("0.25.2", False), ("0.34.0", False)])
def test_an_entry_applies_inside_its_range_only(version: str, applies: bool) -> None:
    got = upstream.applicable((ENTRY,), upstream.parse_version(version))
    assert got == ((ENTRY,) if applies else ())


def test_a_server_that_is_not_vllm_gets_no_entry() -> None:
    assert upstream.applicable(upstream.load(), upstream.parse_version(None)) == ()
    assert upstream.parse_version("nightly") is None  # not a version: nothing is assumed


def test_a_patched_entry_is_not_applied() -> None:
    assert upstream.applicable((ENTRY,), upstream.Version("0.30"), patched=("no-retrieve",)) == ()


def test_checks_match_by_name_or_node_id_as_known_issues_do() -> None:
    assert ENTRY.matches("test_hostile[huge]", "suites/x.py::test_hostile[huge]")
    assert not ENTRY.matches("test_hostile[tiny]", "suites/x.py::test_hostile[tiny]")


def test_a_bad_entry_is_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text('[[deviation]]\nid="a"\nchecks=["t"]\nversions="0.26+"\nseen=[]\nreason="r"\nlink="l"\nstatus=500\n')
    with pytest.raises(SpecError, match=r"deviation\[0\]\.versions.*not a version range"):
        upstream.load(bad)


def _report(outcome: str) -> pytest.TestReport:
    return pytest.TestReport("suites/s.py::test_models_retrieve_by_id", ("s.py", 1, "t"), {}, outcome,
                             "AssertionError: 404" if outcome == "failed" else None, "call")


ITEM = SimpleNamespace(name="test_models_retrieve_by_id", nodeid="suites/s.py::test_models_retrieve_by_id",
                       user_properties=[])


def _marks(version: str | None, *, strict: bool = False) -> UpstreamMarks:
    marks = UpstreamMarks((ENTRY,), strict=strict)
    marks.learn(version)
    return marks


def test_a_failure_in_range_becomes_an_expected_failure_naming_the_link() -> None:
    report = _report("failed")
    _marks("0.32.0").judge(ITEM, report, SEEN_404)  # type: ignore[arg-type]
    assert report.skipped and "https://example.org/1" in report.wasxfail  # type: ignore[attr-defined]


@pytest.mark.parametrize("version,strict", [("0.20.0", False), (None, False), ("0.32.0", True)])
def test_a_failure_stays_a_failure_outside_the_range_for_non_vllm_and_when_strict(version: str | None,
                                                                                   strict: bool) -> None:
    report = _report("failed")
    _marks(version, strict=strict).judge(ITEM, report, SEEN_404)  # type: ignore[arg-type]
    assert report.failed and not hasattr(report, "wasxfail")


def test_a_pass_in_range_stays_a_pass_and_is_reported() -> None:
    report, marks = _report("passed"), _marks("0.32.0")
    marks.judge(ITEM, report, SEEN_404)  # type: ignore[arg-type]
    assert report.passed and not hasattr(report, "wasxfail")
    assert dict(report.user_properties)[NOT_SEEN].startswith("no-retrieve")
    assert [nodeid for nodeid, _ in marks.not_seen] == [ITEM.nodeid]


def _variant(tmp_path: Path, patched: str) -> object:
    from harness.spec.variant import parse_spec

    spec = tmp_path / "v" / "variant.toml"
    spec.parent.mkdir(parents=True)
    spec.write_text(f'upstream_patched = [{patched}]\n[serve]\nmodel = "m"\nserved_model_name = "m"\n')
    return parse_spec(spec)


def test_a_variant_opts_out_by_id_and_a_wrong_id_is_one_line(tmp_path: Path) -> None:
    marks = UpstreamMarks.for_run(_variant(tmp_path, '"file-url-500"'), strict=False)  # type: ignore[arg-type]
    marks.learn("0.32.0")
    assert "file-url-500" not in {d.id for d in marks.applied} and marks.applied
    with pytest.raises(SpecError, match=r"upstream_patched.*unknown deviation id\(s\) \['file-url'\]"):
        UpstreamMarks.for_run(_variant(tmp_path / "x", '"file-url"'), strict=False)  # type: ignore[arg-type]


def test_without_a_version_endpoint_the_variants_declared_version_applies() -> None:
    # a vLLM behind a frontend that hides /version (Dynamo-like), tested as a declared variant
    behind = UpstreamMarks((ENTRY,))
    behind.learn(None, declared="0.32.0")
    assert behind.applied == (ENTRY,) and behind.version == "0.32.0" and "declared" in behind.source
    served = UpstreamMarks((ENTRY,))
    served.learn("0.20.0", declared="0.32.0")  # the server's own answer wins
    assert served.applied == () and served.source == "/version"
    unknown = UpstreamMarks((ENTRY,))
    unknown.learn(None)  # neither: not vLLM, nothing applies
    assert unknown.applied == () and unknown.version is None


GOOD = '[[deviation]]\nid="a"\nchecks=["t"]\nversions=">=0.26"\nseen=[]\nreason="r"\nlink="l"\nstatus=500\n'


@pytest.mark.parametrize(("text", "problem"), [
    (GOOD + "ticket = 1\n", "'deviation[0].ticket': unknown key; allowed: status, message, id, checks, versions, seen, "
                            "reason, link"),
    (GOOD.replace("status=500", ""), "'deviation[0].status': state the failure this entry stands for"),
    (GOOD.replace("status=500", "status=5000"), "'deviation[0].status': must be an HTTP status (100-599)"),
    (GOOD.replace("status=500", 'status="hung"'), "'deviation[0].status': must be an HTTP status (100-599)"),
    (GOOD.replace("status=500", 'message="(unclosed"'), "'deviation[0].message': not a regular expression"),
    (GOOD.replace('link="l"\n', ""), "'deviation[0].link': is required"),
    (GOOD.replace('checks=["t"]', "checks=[]"), "'deviation[0].checks': must be a non-empty list of check patterns"),
    (GOOD + GOOD, "'deviation.id': ids must be unique; repeated: ['a']"),
])
def test_each_registry_mistake_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text(text)
    with pytest.raises(SpecError) as caught:
        upstream.load(bad)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


# --- what an entry excuses (harness.spec.failure) and the facts the checks record (harness.checks.observed) ---

def test_only_the_stated_failure_matches() -> None:
    huge = ExpectedFailure(500, r"exceeds limit of \d+ pixels")
    pillow = "AssertionError: answered 500: Image size (400000000 pixels) exceeds limit of 178956970 pixels"
    assert huge.mismatch(Observed("call", 500, True, pillow)) is None
    assert huge.mismatch(Observed("call", 500, None, pillow)) is None  # a check without a health probe
    assert huge.mismatch(Observed("call", 500, True, "answered 500: CUDA out of memory")) == (
        "expected a failure message matching /exceeds limit of \\d+ pixels/, saw 'answered 500: CUDA out of memory'")
    assert huge.mismatch(Observed("call", "dropped", None, "dropped")).startswith(
        "expected HTTP 500, saw no answer: the connection dropped")
    assert huge.mismatch(Observed("call", 500, False, pillow)) == (
        "expected HTTP 500 with a failure message matching /exceeds limit of \\d+ pixels/, saw a server that was not "
        "healthy afterwards")
    assert huge.mismatch(Observed("setup", None, None, "ConnectError: refused")) == (
        "the check never ran (its setup failed: ConnectError: refused)")
    assert ExpectedFailure("timeout", None).mismatch(Observed("call", "timeout", True, "no answer")) is None


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler, base_url="http://server")


def test_a_check_records_the_status_or_that_none_came() -> None:
    recorded: list[tuple[str, object]] = []
    record = lambda name, value: recorded.append((name, value))  # noqa: E731

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(httpx.ReadTimeout), observed.no_answer(record), _client(httpx.MockTransport(refuse)) as c:
        c.get("/v1/models/m")
    with pytest.raises(openai.NotFoundError), observed.no_answer(record):
        raise openai.NotFoundError("Error code: 404", response=httpx.Response(404, request=httpx.Request("GET", "/x")),
                                   body=None)
    assert recorded == [("status", "timeout"), ("status", 404)]


def test_a_health_probe_records_its_verdict_and_never_hides_the_steps_before_it() -> None:
    recorded: list[tuple[str, object]] = []
    record = lambda name, value: recorded.append((name, value))  # noqa: E731

    def gone() -> None:
        raise httpx.ConnectError("connection refused")

    def refused() -> None:
        raise AssertionError("expected a 4xx; answered 500")

    with pytest.raises(AssertionError) as caught:
        all_hold(refused, observed.healthy_after(record, gone))
    assert "answered 500" in str(caught.value) and "did not answer its health probe" in str(caught.value)
    observed.healthy_after(record, lambda: None)()
    assert recorded == [("healthy_after", False), ("healthy_after", True)]
