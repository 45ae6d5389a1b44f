"""A load run's verdict, decided once: the CLI's exit code, the pytest load test and the top of the HTML
report all read it from here.

Failed requests fail a run by default, as a test named "load" promises: a level fails when more of its
requests failed than `[load.slo] max_error_rate` allows (0 when undeclared: any failure). Failures are
counted by kind (harness.load.failures). A server's failure (an HTTP error, a broken stream, a dropped or
refused connection) is judged even when the run is invalid; only a timeout, which a saturated client can
cause itself, is left unjudged in an invalid run (and said).

Precedence, most serious first: cut short (the server died) > requests failed > invalid > SLO missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.load import failures
from harness.results.models import LoadVerdict

EXIT_CODES = {LoadVerdict.PASSED: 0, LoadVerdict.CUT_SHORT: 1, LoadVerdict.REQUESTS_FAILED: 4,
              LoadVerdict.INVALID: 3, LoadVerdict.SLO_MISSED: 1}
EXIT_HELP = ("exit status: 0 passed; 4 requests failed: at some level more requests failed (HTTP error, broken "
             "stream, dropped or refused connection, timeout) than [load.slo] max_error_rate allows, which is "
             "none unless the variant declares a rate (a timeout is not judged in an invalid run, the others "
             "always are); 3 invalid: the load generator was saturated and no request failed; 1 an SLO was "
             "missed, or the server died mid-run (cut short); 2 a usage error. When several apply: cut short "
             "(1) > requests failed (4) > invalid (3) > SLO missed (1).")


@dataclass(frozen=True)
class LevelFailures:
    """One level's failed requests as judged: those counted against the allowed rate, and those excused."""

    level: str
    attempted: int
    judged: dict[str, int]  # kind -> count
    excused: dict[str, int]  # kinds a saturated client may have caused, in an invalid run
    first: dict[str, str]  # kind -> its first error message
    allowed_rate: float

    @property
    def failed(self) -> int:
        return sum(self.judged.values())

    @property
    def fails(self) -> bool:
        return self.failed > 0 and self.failed > self.allowed_rate * self.attempted

    def message(self) -> str:
        kinds = ", ".join(f"{kind}: {n} (first: {self.first.get(kind, '')!r})" for kind, n in self.judged.items())
        text = (f"{self.level}: {self.failed} of {self.attempted} requests failed "
                f"({self.failed / max(self.attempted, 1):.1%} > allowed {self.allowed_rate:.1%}): {kinds}")
        if self.excused:
            excused = ", ".join(f"{k}: {n}" for k, n in self.excused.items())
            text += f"; not judged (the client was saturated): {excused}"
        return text


def level_failures(level: dict[str, Any], allowed_rate: float, valid: bool) -> LevelFailures:
    by_kind: dict[str, int] = level.get("harness_failures") or {}
    excused = {k: n for k, n in by_kind.items() if not valid and failures.may_be_client(k)}
    attempted = int(level.get("completed") or 0) + int(level.get("failed") or 0)
    return LevelFailures(level=str(level["level"]), attempted=attempted,
                         judged={k: n for k, n in by_kind.items() if k not in excused}, excused=excused,
                         first=level.get("harness_first_errors") or {}, allowed_rate=allowed_rate)


def request_failures(levels: list[dict[str, Any]], max_error_rate: float | None, valid: bool) -> list[str]:
    """One message per level whose failed requests exceed the allowed rate (None: 0)."""
    judged = (level_failures(level, max_error_rate or 0.0, valid) for level in levels)
    return [lv.message() for lv in judged if lv.fails]


def decide(*, incident: str | None, request_failures: list[str], valid: bool,
           slo_failures: list[str]) -> LoadVerdict:
    if incident:
        return LoadVerdict.CUT_SHORT
    if request_failures:
        return LoadVerdict.REQUESTS_FAILED
    if not valid:
        return LoadVerdict.INVALID
    return LoadVerdict.SLO_MISSED if slo_failures else LoadVerdict.PASSED
