"""A load run's verdict: failed requests classified once by kind, judged by default (none may fail) or
against a declared max_error_rate, a server's failure judged even in an invalid run, and the precedence
that picks the exit code. build_report runs on real files (requests.csv, client.csv) here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.load import failures
from harness.load.records import COLUMNS, FILE, Record, csv_line
from harness.report.build import CLIENT_FILE, build_report
from harness.report.verdict import EXIT_CODES, decide
from harness.results.models import LoadReport, LoadVerdict
from harness.spec.variant_load import SloSpec


@pytest.mark.parametrize(("error_type", "error", "kind"), [
    ("http_500", "Internal Server Error", "http 500"),
    ("http_429", "", "http 429"),
    ("truncated", "the stream ended without 'data: [DONE]'", "stream broken"),
    ("stream_error", '{"message": "engine dead"}', "error event in stream"),
    ("bad_event", "not json", "malformed stream"),
    ("no_tokens", "", "no tokens in stream"),
    ("RemoteDisconnected", "the server closed the connection without a response", "connection dropped"),
    ("ConnectionResetError", "[Errno 104] Connection reset by peer", "connection dropped"),
    ("connect", "[Errno 111] Connection refused", "connection failed"),
    ("connect", "timed out", "timeout"),
    ("timeout", "no data for 300 s", "timeout"),
    ("OSError", "[Errno 101] Network is unreachable", "OSError"),
])
def test_each_recorded_error_has_one_kind(error_type: str, error: str, kind: str) -> None:
    assert failures.kind_of(error_type, error) == kind
    assert failures.may_be_client(kind) == (kind == "timeout")  # only a timeout can be a late client's doing


def _record(i: int, status: int = 200, error_type: str = "", error: str = "", level: str = "c=2") -> Record:
    ok = not error_type
    start = float(i)
    return Record(id=str(i), worker=0, level=level, users=2, rate=None, phase="measure", kind="chat", start=start,
                  start_wall=1000 + start, chunk_times=[start + 0.1, start + 0.2] if ok else [], end=start + 0.3,
                  prompt_tokens=10, completion_tokens=2 if ok else None, status=status, error_type=error_type,
                  error=error)


def _run(tmp_path: Path, records: list[Record], saturated: bool = False) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / FILE).write_text(csv_line(list(COLUMNS)) + "".join(csv_line(r.row()) for r in records))
    if saturated:  # the load generator's own samples: a core's worth of CPU every second of the run
        rows = [{"t": 1000.0 + t, "worker": 0, "lag_p50_ms": 30.0, "lag_p99_ms": 80.0, "lag_max_ms": 90.0,
                 "cpu_pct": 99.0} for t in range(len(records) + 2)]
        pd.DataFrame(rows).to_csv(tmp_path / CLIENT_FILE, index=False)
    return tmp_path


def mixed() -> list[Record]:
    return [_record(0), _record(1, 500, "http_500", "boom"), _record(2), _record(3, 500, "http_500", "again"),
            _record(4, 200, "timeout", "no data for 300 s"), _record(5)]


def test_any_failed_request_fails_the_run_by_default(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path, mixed()), plots=False)
    assert report.valid and report.verdict == LoadVerdict.REQUESTS_FAILED and EXIT_CODES[report.verdict] == 4
    (message,) = report.request_failures
    assert message.startswith("c=2: 3 of 6 requests failed (50.0% > allowed 0.0%): http 500: 2 (first: 'boom')")
    assert "timeout: 1" in message
    saved = LoadReport.model_validate_json((tmp_path / "results.json").read_text())  # the typed reader
    assert saved.verdict == LoadVerdict.REQUESTS_FAILED and saved.request_failures == [message]
    (level,) = saved.levels
    assert level.harness_failures == {"http 500": 2, "timeout": 1}
    assert level.harness_first_errors == {"http 500": "boom", "timeout": "no data for 300 s"}
    assert level.request_throughput == pytest.approx(level.harness_attempted_throughput / 2)  # 3 of 6 answered


def test_a_declared_rate_allows_that_share(tmp_path: Path) -> None:
    assert build_report(_run(tmp_path, mixed()), slo=SloSpec(max_error_rate=0.6), plots=False).verdict \
        == LoadVerdict.PASSED
    assert build_report(tmp_path, slo=SloSpec(max_error_rate=0.4), plots=False).verdict \
        == LoadVerdict.REQUESTS_FAILED


def test_server_errors_are_judged_in_an_invalid_run_timeouts_are_not(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path / "a", mixed(), saturated=True), plots=False)
    assert not report.valid and report.verdict == LoadVerdict.REQUESTS_FAILED  # failures beat invalid
    (message,) = report.request_failures
    assert "2 of 6 requests failed" in message and "not judged (the client was saturated): timeout: 1" in message
    only_timeouts = [_record(0), _record(1, 200, "timeout", "no data for 300 s"), _record(2)]
    report = build_report(_run(tmp_path / "b", only_timeouts, saturated=True), plots=False)
    assert report.request_failures == [] and report.verdict == LoadVerdict.INVALID and EXIT_CODES[report.verdict] == 3
    assert build_report(_run(tmp_path / "c", only_timeouts), plots=False).verdict == LoadVerdict.REQUESTS_FAILED


def test_precedence_cut_short_then_failures_then_invalid_then_slo() -> None:
    def verdict(**kw: object) -> LoadVerdict:
        args: dict = {"incident": None, "request_failures": [], "valid": True, "slo_failures": []} | kw
        return decide(**args)

    assert verdict() == LoadVerdict.PASSED
    assert verdict(slo_failures=["x"]) == LoadVerdict.SLO_MISSED
    assert verdict(slo_failures=["x"], valid=False) == LoadVerdict.INVALID
    assert verdict(slo_failures=["x"], valid=False, request_failures=["y"]) == LoadVerdict.REQUESTS_FAILED
    assert verdict(valid=False, request_failures=["y"], incident="died") == LoadVerdict.CUT_SHORT
    assert [EXIT_CODES[v] for v in LoadVerdict] == [0, 1, 4, 3, 1]


def test_an_old_results_json_still_reads() -> None:
    old = ('{"valid": true, "invalid_reasons": [], "slo_failures": [], "levels": [{"level": "c=1", "completed": 3,'
           ' "failed": 1, "request_throughput": 1.5, "harness_errors": {"http_500": 1}}]}')
    report = LoadReport.model_validate_json(old)
    assert report.verdict is None and report.request_failures == []
    (level,) = report.levels
    assert level.harness_failures == {} and level.harness_attempted_throughput is None and level.failed == 1


def test_load_help_states_the_rule_and_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["load", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for said in ("4 requests failed", "max_error_rate", "3 invalid",
                 "cut short (1) > requests failed (4) > invalid (3)"):
        assert said in text, said
