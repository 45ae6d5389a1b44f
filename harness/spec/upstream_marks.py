"""The pytest side of the upstream-deviation registry (harness.spec.upstream): which entries hold for this run,
what they do to a check's report, and the summary of those that did not show.

A failure of a matching check becomes a non-strict expected failure (`xfailed`, reason = the entry) when
it is the failure the entry states (harness.spec.failure); any other failure stays a failure that ends with
"upstream vLLM deviation 'ID' did not match: expected HTTP 500, saw ...". A pass is left a pass, and
recorded as the property `upstream_not_seen` (JUnit XML, results.jsonl) and in the terminal summary: news
for the harness's maintainers, not a failure of the user's image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from harness.errors import SpecError
from harness.spec import upstream
from harness.spec.failure import Observed, not_excused
from harness.spec.variant import Variant

NOT_SEEN = "upstream_not_seen"  # the user property of a check that passed although its entry holds
APPLIED = "upstream_deviation"  # the user property of a failure the registry expected


@dataclass
class UpstreamMarks:
    registry: tuple[upstream.Deviation, ...]
    patched: tuple[str, ...] = ()  # the variant's `upstream_patched`
    strict: bool = False  # --strict-upstream: no entry applies
    version: str | None = None  # the server's vLLM version, once learnt; None: not vLLM
    source: str = "/version"  # where the version came from: the server, or the variant's declared pin
    applied: tuple[upstream.Deviation, ...] = ()
    not_seen: list[tuple[str, upstream.Deviation]] = field(default_factory=list)  # (node id, entry)
    _learnt: bool = False

    @classmethod
    def for_run(cls, variant: Variant | None, *, strict: bool) -> UpstreamMarks:
        registry = upstream.load()
        patched = variant.upstream_patched if variant else ()
        unknown = upstream.unknown_ids(registry, patched)
        if unknown and variant is not None:
            raise SpecError(variant.spec_path, "upstream_patched", f"unknown deviation id(s) {unknown}; known: "
                                                                   f"{[d.id for d in registry]}")
        return cls(registry, patched, strict)

    def learn(self, version: str | None, declared: str | None = None) -> None:
        """The server's version (vLLM's /version); without one, the version the variant declares (a vLLM
        behind a frontend that hides /version, e.g. Dynamo's); None for both: not vLLM."""
        if version is None and declared is not None:
            version, self.source = declared, "the variant's declared version (the server reports no /version)"
        self.version, self._learnt = version, True
        if not self.strict:
            self.applied = upstream.applicable(self.registry, upstream.parse_version(version), self.patched)

    def judge(self, item: pytest.Item, report: pytest.TestReport, seen: Observed) -> None:
        """Rewrite one report where an applied entry matches its check and `seen` is the failure it states."""
        entry = upstream.for_check(self.applied, item.name, item.nodeid)
        if entry is None:
            return
        if report.failed:
            problem = entry.expected.mismatch(seen)
            if problem is not None:
                not_excused(item, report, f"upstream vLLM deviation '{entry.id}' did not match: {problem}")
                return
            report.outcome = "skipped"
            report.wasxfail = entry.describe()  # type: ignore[attr-defined]  # pytest's own xfail attribute
            self._property(item, report, (APPLIED, entry.id))
        elif report.passed and report.when == "call":
            self._property(item, report, (NOT_SEEN, f"{entry.id} ({entry.link})"))
            self.not_seen.append((item.nodeid, entry))

    @staticmethod
    def _property(item: pytest.Item, report: pytest.TestReport, prop: tuple[str, str]) -> None:
        report.user_properties.append(prop)  # results.jsonl reads this report
        item.user_properties.append(prop)  # JUnit XML reads the teardown report's, copied from the item

    def summarise(self, reporter: pytest.TerminalReporter) -> None:
        if not self._learnt:
            return
        if self.strict:
            reporter.write_line("vllm-harness: --strict-upstream: no upstream vLLM deviation applied")
        elif self.version is None:
            reporter.write_line("vllm-harness: the server reports no vLLM /version: no upstream deviation applied")
        else:
            ids = ", ".join(d.id for d in self.applied) or "none"
            via = "" if self.source == "/version" else f", from {self.source}"
            reporter.write_line(f"vllm-harness: upstream vLLM deviations for {self.version}{via}: {ids}")
        if self.not_seen:
            reporter.write_sep("=", "upstream deviations not seen (update harness/spec/upstream_issues.toml)",
                               yellow=True)
            for nodeid, entry in self.not_seen:
                reporter.write_line(f"PASSED {nodeid}: '{entry.id}' holds for vLLM {entry.versions}, yet "
                                    f"{self.version} passed")
