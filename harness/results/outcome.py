"""A pytest report as the run's `TestOutcome`: what the session appends to results.jsonl."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.results.models import TestOutcome, Verdict

if TYPE_CHECKING:
    import pytest


def verdict(report: pytest.TestReport) -> Verdict:
    if hasattr(report, "wasxfail"):
        return Verdict.XFAILED if report.skipped else Verdict.XPASSED
    if report.failed and "XPASS(strict)" in (report.longreprtext or ""):
        return Verdict.XPASSED
    if report.failed and report.when != "call":
        return Verdict.ERROR
    return Verdict(report.outcome)


def outcome(report: pytest.TestReport) -> TestOutcome | None:
    """None for a setup or teardown that passed: nothing to keep."""
    if report.when != "call" and report.outcome == "passed":
        return None
    detail = None
    if report.failed or report.skipped:
        detail = (report.longreprtext or "").strip().splitlines()[-1:] if report.longrepr else []
    # user_properties: what a check found worth reporting, e.g. the server's error shape
    return TestOutcome(test=report.nodeid, phase=report.when or "", outcome=report.outcome,
                       seconds=round(report.duration, 4), verdict=verdict(report), detail=detail,
                       properties=dict(report.user_properties) if report.user_properties else None)
