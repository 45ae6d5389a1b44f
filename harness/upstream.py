"""The registry of upstream vLLM deviations (`upstream_issues.toml`, shipped with the harness): checks that
fail on every vLLM image of a version range for reasons that are vLLM's, not the image's.

An entry applies when the server is vLLM (it reports a version), the version is inside the entry's range,
the variant has not declared the entry patched, and the run is not `--strict-upstream`. The plugin then
turns a failure of a matching check into a non-strict expected failure naming the upstream link, and
reports a pass as news for the harness's maintainers (the range needs updating). Outside its range an
entry does nothing, so a regression there stays a failure.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["Deviation", "SpecifierSet", "Version", "applicable", "for_check", "load", "parse_version", "unknown_ids"]

from harness.errors import SpecError
from harness.spec_table import read_toml

REGISTRY = Path(__file__).with_name("upstream_issues.toml")
FIELDS = {"id", "checks", "versions", "seen", "reason", "link"}


@dataclass(frozen=True)
class Deviation:
    id: str  # what a variant's `upstream_patched` names
    checks: tuple[str, ...]  # fnmatch patterns on the test name or node id
    versions: SpecifierSet
    seen: tuple[str, ...]  # the versions it was measured on
    reason: str
    link: str

    def matches(self, name: str, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(nodeid, p) for p in self.checks)

    def holds_for(self, version: Version) -> bool:
        return self.versions.contains(version, prereleases=True)  # a dev build of 0.33 is inside "<0.34"

    def describe(self) -> str:
        return f"upstream vLLM deviation '{self.id}' (vLLM {self.versions}): {self.reason} ({self.link})"


def load(path: Path = REGISTRY) -> tuple[Deviation, ...]:
    """Every entry, validated: a bad entry is one line naming the file, the entry and the field."""
    raw = read_toml(path)
    entries = raw.get("deviation", [])
    found: list[Deviation] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        where = f"deviation[{i}]"
        unknown = set(entry) - FIELDS
        missing = FIELDS - set(entry)
        if unknown or missing:
            raise SpecError(path, where, f"needs exactly {sorted(FIELDS)}; unknown {sorted(unknown)}, "
                                         f"missing {sorted(missing)}")
        checks, seen = entry["checks"], entry["seen"]
        if not (isinstance(checks, list) and checks and all(isinstance(c, str) and c for c in checks)):
            raise SpecError(path, f"{where}.checks", "must be a non-empty list of check patterns")
        if not (isinstance(seen, list) and all(isinstance(s, str) for s in seen)):
            raise SpecError(path, f"{where}.seen", "must be a list of version strings")
        try:
            versions = SpecifierSet(str(entry["versions"]))
        except InvalidSpecifier:
            raise SpecError(path, f"{where}.versions", f"not a version range like '>=0.26,<0.34': "
                                                       f"{entry['versions']!r}") from None
        found.append(Deviation(str(entry["id"]), tuple(checks), versions, tuple(seen), str(entry["reason"]),
                               str(entry["link"])))
    ids = [d.id for d in found]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise SpecError(path, "deviation.id", f"ids must be unique; repeated: {duplicated}")
    return tuple(found)


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
