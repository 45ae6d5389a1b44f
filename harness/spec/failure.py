"""The failure an expected-failure entry stands for, and whether a check's failure is that one.

An upstream deviation (`[[deviation]]` in upstream_issues.toml) and a variant's `[[known_issues]]` entry
excuse one failure, not every failure of their check: each states what its check saw (`status`, `message`),
and only a failure with those facts is excused. Any other failure of the same check stays a failure and
says why the entry did not match ("expected HTTP 500, saw no answer: the connection dropped").

The matcher reads facts, never the failure's prose (except where an entry asks for a `message` pattern):
the user properties a check records through harness.checks.observed (also in results.jsonl, JUnit XML):

  status          the HTTP status the check's request got; "timeout": no answer within the check's bound;
                  "dropped": the connection closed without an answer
  healthy_after   whether the server passed the check's health probe afterwards

Two failures never match any entry: one after which the server was not healthy (a broken server is never
an expected failure), and one outside the test's call (a setup or teardown error: the check never ran).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import AfterValidator, Field, PlainValidator, Strict, WithJsonSchema, model_validator

from harness.spec.spec_table import FieldProblem, spec

if TYPE_CHECKING:
    import pytest

STATUS, HEALTHY_AFTER = "status", "healthy_after"  # the facts' user-property names
TIMEOUT, DROPPED = "timeout", "dropped"  # a `status` that is no HTTP status: no answer came
UNMATCHED = "expected_failure_unmatched"  # the user property of a failure no entry excused, and why


def _pattern(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc}): {text!r}") from None
    return text


def _status(value: object) -> int | str:
    if (isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599) or value in (TIMEOUT, DROPPED):
        return value  # type: ignore[return-value]
    raise ValueError(f'must be an HTTP status (100-599), "{TIMEOUT}" or "{DROPPED}", got {value!r}')


Status = Annotated[int | str, PlainValidator(_status), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 100, "maximum": 599}, {"enum": [TIMEOUT, DROPPED]}],
    "description": "the status the check recorded: an HTTP status, \"timeout\" or \"dropped\""})]
Pattern = Annotated[str, Strict(), AfterValidator(_pattern),
                    Field(description="a regular expression on the failure message")]


@spec(kw_only=True)
class StatedFailure:
    """The keys an entry (a [[deviation]], a [[known_issues]]) states its failure with; at least one is
    required, or the entry would excuse every failure of its check."""

    status: Status | None = None  # what the check recorded as its request's status
    message: Pattern | None = None  # a regular expression searched in the failure's message

    @model_validator(mode="after")
    def _states_a_failure(self) -> Self:
        if self.status is None and self.message is None:
            raise FieldProblem("status", 'state the failure this entry stands for: status = 500 (the HTTP status '
                                         'the check saw, or "timeout" / "dropped") and/or message = "a regular '
                                         'expression on the failure message"')
        return self

    @property
    def expected(self) -> ExpectedFailure:
        return ExpectedFailure(self.status, self.message)


@dataclass(frozen=True)
class ExpectedFailure:
    """The failure an entry stands for (its `status` and `message` keys)."""

    status: int | str | None  # what the check recorded as its request's status
    message: str | None  # a regular expression searched in the failure's message

    def expects(self) -> str:
        parts = [_described(self.status)] if self.status is not None else []
        parts += [f"a failure message matching /{self.message}/"] if self.message is not None else []
        return " with ".join(parts)

    def mismatch(self, seen: Observed) -> str | None:
        """None when `seen` is the failure this entry states; else what differs, in one line."""
        if seen.when != "call":
            return f"the check never ran (its {seen.when} failed: {_first_line(seen.message)})"
        if seen.healthy_after is False:
            return f"expected {self.expects()}, saw a server that was not healthy afterwards"
        problems = []
        if self.status is not None and seen.status != self.status:
            saw = _described(seen.status) if seen.status is not None else (
                f"no recorded status ({_first_line(seen.message)})")
            problems.append(f"expected {_described(self.status)}, saw {saw}")
        if self.message is not None and not re.search(self.message, seen.message):
            problems.append(f"expected a failure message matching /{self.message}/, saw "
                            f"{_first_line(seen.message)!r}")
        return "; ".join(problems) or None


@dataclass(frozen=True)
class Observed:
    """What a failed check left to judge it by."""

    when: str  # the phase that failed: setup, call or teardown
    status: int | str | None  # the recorded STATUS (None: the check recorded none)
    healthy_after: bool | None  # the recorded HEALTHY_AFTER (None: the check has no health probe, or never ran it)
    message: str  # the failure's message: the exception, without its traceback

    @classmethod
    def of(cls, when: str, properties: list[tuple[str, Any]], message: str) -> Observed:
        facts = dict(properties)  # the last value recorded wins
        healthy = facts.get(HEALTHY_AFTER)
        return cls(when, facts.get(STATUS), healthy if isinstance(healthy, bool) else None, message)


def observed(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Observed:
    message = call.excinfo.exconly() if call.excinfo is not None else (report.longreprtext or "")
    return Observed.of(report.when or "", list(report.user_properties), message)


def not_excused(item: pytest.Item, report: pytest.TestReport, line: str) -> None:
    """Leave `report` a plain failure that ends with `line` (why no entry excused it): in the traceback's
    last section (results.jsonl's `detail`) and as the UNMATCHED property (results.jsonl, JUnit XML)."""
    report.outcome = "failed"
    if hasattr(report, "wasxfail"):  # pytest's xfail had excused it
        del report.wasxfail
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("expected failure not matched", line)
    else:
        report.longrepr = f"{longrepr}\n{line}" if longrepr else line
    report.user_properties.append((UNMATCHED, line))
    item.user_properties.append((UNMATCHED, line))


def _described(status: int | str | None) -> str:
    if status == TIMEOUT:
        return "no answer within the check's bound (timeout)"
    if status == DROPPED:
        return "no answer: the connection dropped"
    return f"HTTP {status}"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines[0] if lines else "no message")
    return first if len(first) <= 300 else first[:297] + "..."
