"""The registry of upstream vLLM deviations (`upstream_issues.toml`, shipped with the harness): checks that
fail on every vLLM image of a version range for reasons that are vLLM's, not the image's.

An entry applies when the server is vLLM (it reports a version), the version is inside the entry's range,
the variant has not declared the entry patched, and the run is not `--strict-upstream`. The plugin then
turns a failure of a matching check into a non-strict expected failure naming the upstream link, if it is
the failure the entry states (`status`, `message`: harness.spec.failure); any other failure stays a failure
that says why the entry did not match. A pass is reported as news for the harness's maintainers (the
range needs updating). Outside its range an entry does nothing, so a regression there stays a failure.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import AfterValidator, Field, field_validator

__all__ = ["Deviation", "SpecifierSet", "Version", "applicable", "for_check", "load", "parse_version", "unknown_ids"]

from harness.spec.failure import ExpectedFailure, StatedFailure
from harness.spec.spec_table import FieldProblem, NonBlank, Str, read_toml, spec, validate

REGISTRY = Path(__file__).with_name("upstream_issues.toml")


@dataclass(frozen=True)
class Deviation:
    id: str  # what a variant's `upstream_patched` names
    checks: tuple[str, ...]  # fnmatch patterns on the test name or node id
    versions: SpecifierSet
    seen: tuple[str, ...]  # the versions it was measured on
    reason: str
    link: str
    expected: ExpectedFailure  # the one failure it excuses

    def matches(self, name: str, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(nodeid, p) for p in self.checks)

    def holds_for(self, version: Version) -> bool:
        return self.versions.contains(version, prereleases=True)  # a dev build of 0.33 is inside "<0.34"

    def describe(self) -> str:
        return f"upstream vLLM deviation '{self.id}' (vLLM {self.versions}): {self.reason} ({self.link})"


def load(path: Path = REGISTRY) -> tuple[Deviation, ...]:
    """Every entry, validated: a bad entry is one line naming the file, the entry and the key."""
    found = validate(RegistryFile, read_toml(path), path)
    return tuple(Deviation(e.id, e.checks, SpecifierSet(e.versions), e.seen, e.reason, e.link,
                           e.expected) for e in found.deviation)


def _version_range(text: str) -> str:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"not a version range like '>=0.26,<0.34': {text!r}") from None
    return text


@spec(kw_only=True)
class DeviationEntry(StatedFailure):
    """One [[deviation]] as written in the registry (see the comment at the top of upstream_issues.toml)."""

    id: NonBlank
    checks: Annotated[tuple[NonBlank, ...], Field(min_length=1, description="a non-empty list of check patterns")]
    versions: Annotated[Str, AfterValidator(_version_range)]
    seen: tuple[Str, ...]
    reason: NonBlank
    link: Str


@spec()
class RegistryFile:
    deviation: tuple[DeviationEntry, ...] = ()

    @field_validator("deviation")
    @classmethod
    def _unique(cls, entries: tuple[DeviationEntry, ...]) -> tuple[DeviationEntry, ...]:
        ids = [e.id for e in entries]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise FieldProblem("id", f"ids must be unique; repeated: {repeated}")
        return entries


def parse_version(text: str | None) -> Version | None:
    """vLLM's version as /version reports it ('0.32.0', '0.32.0+cpu', 'v0.14.1', '0.11.1.dev12+gabc');
    None for no version or one that is not PEP 440 (e.g. 'nightly')."""
    if not text:
        return None
    try:
        return Version(text.strip().removeprefix("v"))
    except InvalidVersion:
        return None


def applicable(registry: tuple[Deviation, ...], version: Version | None,
               patched: tuple[str, ...] = ()) -> tuple[Deviation, ...]:
    """The entries that hold for a server of `version` (None: not vLLM, or its version is unknown)."""
    if version is None:
        return ()
    return tuple(d for d in registry if d.id not in patched and d.holds_for(version))


def unknown_ids(registry: tuple[Deviation, ...], patched: tuple[str, ...]) -> list[str]:
    known = {d.id for d in registry}
    return [p for p in patched if p not in known]


def for_check(deviations: tuple[Deviation, ...], name: str, nodeid: str) -> Deviation | None:
    return next((d for d in deviations if d.matches(name, nodeid)), None)
