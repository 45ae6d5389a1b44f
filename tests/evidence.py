"""A README figure that comes from a committed file carries a marker naming it, so a test can read the
file and compare: the figure is the last number (or, for a text value, the text) just before the marker.

    2,379 requests<!-- from: results.json sum($.levels[*].completed) -->
    **88 passed<!-- from: B/junit-1.xml junit:passed -->**
    no regression<!-- from: gate.md /^### .*: \\W*(no regression|REGRESSION)$/ -->
    up to 156<!-- from: load/telemetry.csv max(csv:value?metric=num_requests_waiting) --> waiting

The path is relative to the README's folder. A query is one selector, optionally inside an aggregate
(sum, max, min, len) and followed by `*FACTOR` (a unit change):
- `$.a.b[0]['p99.9'][*]`: a JSON path into a .json file (a .jsonl file is the list of its lines);
- `junit:passed|failed|skipped|error|tests`: how many testcases of a JUnit XML file had that outcome;
- `csv:COLUMN` or `csv:COLUMN?FIELD=VALUE`: a CSV column, optionally only the rows where FIELD == VALUE;
- `/REGEX/`: every match of group 1 (or the whole match) in a text file, multi-line mode.
A number is compared at the precision the README shows (38 % matches 37.7).
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = re.compile(r"<!--\s*from:\s*(?P<path>\S+)\s+(?P<query>.*?)\s*-->")
AGGREGATE = re.compile(r"^(?P<agg>sum|max|min|len)\((?P<inner>.*)\)$")
FACTOR = re.compile(r"^(?P<inner>.*?)\s*\*\s*(?P<factor>[0-9.e+-]+)$")
# the figure: the last number before the marker, followed by at most a short unit or word ("passed")
FIGURE = re.compile(r"((?:(?<!\d)-)?\d[\d,]*(?:\.\d+)?)([^\d<>]{0,16})$")
PATH_PART = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+|\*)\]|\['([^']+)'\]")


@dataclass(frozen=True)
class Mark:
    readme: Path
    line: int
    before: str  # the line's text before the marker (previous markers removed)
    path: str
    query: str

    @property
    def where(self) -> str:
        return f"{self.readme}:{self.line}"


def marks(readme: Path) -> Iterator[Mark]:
    for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
        for found in MARKER.finditer(line):
            before = MARKER.sub("", line[: found.start()])
            yield Mark(readme, number, before, found["path"], found["query"])


def read_value(folder: Path, path: str, query: str) -> Any:
    """The value a query names in folder/path: a number or a string."""
    factor = 1.0
    if (scaled := FACTOR.match(query)) and not query.endswith("/"):
        query, factor = scaled["inner"], float(scaled["factor"])
    agg = None
    if aggregated := AGGREGATE.match(query):
        agg, query = aggregated["agg"], aggregated["inner"]
    values = _select(folder / path, query)
    if agg == "len":
        value: Any = len(values)
    elif agg:
        value = {"sum": sum, "max": max, "min": min}[agg](_number(v) for v in values)
    elif len(values) != 1:
        raise ValueError(f"{path} {query}: {len(values)} values, not one (wrap it in sum/max/min/len)")
    else:
        value = values[0]
    return _number(value) * factor if factor != 1.0 else value


def _select(file: Path, query: str) -> list[Any]:
    if query.startswith("$"):
        text = file.read_text(encoding="utf-8")
        data = ([json.loads(line) for line in text.splitlines() if line.strip()] if file.suffix == ".jsonl"
                else json.loads(text))
        return _json_path(data, query[1:])
    if query.startswith("junit:"):
        return _junit(file, query.removeprefix("junit:"))
    if query.startswith("csv:"):
        column, _, where = query.removeprefix("csv:").partition("?")
        field, _, wanted = where.partition("=")
        with file.open(encoding="utf-8", newline="") as handle:
            return [row[column] for row in csv.DictReader(handle) if not field or row[field] == wanted]
    if query.startswith("/") and query.endswith("/"):
        pattern = re.compile(query[1:-1], re.MULTILINE)
        return [m.group(1) if pattern.groups else m.group(0) for m in pattern.finditer(file.read_text("utf-8"))]
    raise ValueError(f"unknown query {query!r}: use $.json.path, junit:OUTCOME, csv:COLUMN or /regex/")


def _json_path(data: Any, path: str) -> list[Any]:
    found = [data]
    position = 0
    while position < len(path):
        part = PATH_PART.match(path, position)
        if not part:
            raise ValueError(f"bad JSON path at {path[position:]!r}")
        position = part.end()
        key, index, quoted = part.groups()
        if index == "*":
            found = [item for node in found for item in (node.values() if isinstance(node, dict) else node)]
        elif index is not None:
            found = [node[int(index)] for node in found]
        else:  # after a wildcard, values that are not objects ("samples": 151 beside the workers) are passed
            found = [node[key or quoted] for node in found if isinstance(node, dict) or len(found) == 1]
    return found


def _junit(file: Path, outcome: str) -> list[int]:
    """[how many testcases had the outcome] (an xfail is "skipped" in JUnit, as pytest writes it)."""
    seen = []
    for case in ET.parse(file).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        seen.append("failed" if "failure" in tags else "error" if "error" in tags else
                    "skipped" if "skipped" in tags else "passed")
    return [len(seen) if outcome == "tests" else seen.count(outcome)]


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    return float(str(value).replace(",", "")) if isinstance(value, str) else float(value)


def check(mark: Mark) -> str | None:
    """None when the README's figure is the file's value; else what differs, in one line."""
    try:
        value = read_value(mark.readme.parent, mark.path, mark.query)
    except (OSError, ValueError, KeyError, IndexError, TypeError, ET.ParseError) as e:
        return f"{mark.where}: cannot read {mark.path} {mark.query}: {e}"
    before = mark.before.rstrip(" *`")
    if isinstance(value, str) and not _is_number(value):
        return None if before.endswith(value) else f"{mark.where}: README says {before[-40:]!r}, file says {value!r}"
    figure = FIGURE.search(before)
    if not figure:
        return f"{mark.where}: no number just before the marker (file says {value})"
    shown = figure[1]
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    exact = _number(value)
    if abs(_number(shown) - exact) <= 0.5 * 10**-decimals + 1e-9 * max(1.0, abs(exact)):  # shown rounded
        return None
    return f"{mark.where}: README says {shown}{figure[2]}, {mark.path} {mark.query} gives {exact:,.{decimals}f}"


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True
