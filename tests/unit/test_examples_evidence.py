"""Every committed example's README figures that come from a file are read from that file: each carries a
`<!-- from: FILE QUERY -->` marker (tests/evidence.py), the figure must equal what the query reads, and
the kinds of figure that always come from a file (test counts, request counts, verdicts) must be marked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.evidence import MARKER, Mark, check, marks

REPO = Path(__file__).resolve().parents[2]
READMES = sorted([*(REPO / "reports" / "examples").rglob("README.md"), REPO / "benchmarks" / "README.md"])
# figures that are always read from a run's files: "85 passed", "2,379 requests", "0 failed", a verdict
MUST_BE_MARKED = re.compile(r"\b\d[\d,]*\**\s+(?:passed|failed|skipped|xfailed|xpassed|errors?|requests?)\b"
                            r"|\b[Vv]erdict: [^<]*?(?:no regression|REGRESSION)")


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("readme", READMES, ids=_name)
def test_marked_figures_match_their_files(readme: Path) -> None:
    wrong = [problem for mark in marks(readme) if (problem := check(mark))]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("readme", READMES, ids=_name)
def test_figures_from_files_are_marked(readme: Path) -> None:
    unmarked = []
    for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
        for found in MUST_BE_MARKED.finditer(line):
            after = line[found.end():].lstrip(" *`")
            if not MARKER.match(after):
                unmarked.append(f"{_name(readme)}:{number}: {found.group(0)!r} has no <!-- from: FILE QUERY -->")
    assert not unmarked, "\n".join(unmarked)


def test_every_example_folder_has_marked_figures() -> None:
    # a README whose figures all lost their markers would pass the two tests above vacuously
    bare = [_name(r) for r in READMES if not any(marks(r))]
    assert not bare, f"READMEs without one marked figure: {bare}"


def _mark(tmp_path: Path, before: str, path: str, query: str) -> Mark:
    return Mark(tmp_path / "README.md", 1, before, path, query)


def test_the_checker_reads_each_kind_of_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"levels": [{"completed": 33}, {"completed": 2346}], "p99.9": 12.61}')
    (tmp_path / "t.csv").write_text("metric,value\nwaiting,3\nwaiting,156\nrunning,256\n")
    (tmp_path / "g.md").write_text("### gate x: 1 → 2: ✅ no regression\n")
    (tmp_path / "j.xml").write_text('<testsuite><testcase name="a"/><testcase name="b"><failure/></testcase>'
                                    '<testcase name="c"><skipped/></testcase><testcase name="d"/></testsuite>')
    good = [("2,379 requests", "r.json", "sum($.levels[*].completed)"), ("p99.9 12.6 ms", "r.json", "$['p99.9']"),
            ("up to 156", "t.csv", "max(csv:value?metric=waiting)"), ("2 passed", "j.xml", "junit:passed"),
            ("**Verdict: no regression", "g.md", r"/^### .*: \W*(no regression|REGRESSION)$/"),
            ("0.16 k", "t.csv", "max(csv:value?metric=waiting) * 1e-3")]
    for before, path, query in good:
        assert check(_mark(tmp_path, before, path, query)) is None, (before, query)
    bad = [("2,381 requests", "r.json", "sum($.levels[*].completed)"), ("3 passed", "j.xml", "junit:passed"),
           ("**Verdict: REGRESSION", "g.md", r"/^### .*: \W*(no regression|REGRESSION)$/"),
           ("12.7 ms", "r.json", "$['p99.9']"), ("5 passed", "missing.xml", "junit:passed")]
    for before, path, query in bad:
        assert check(_mark(tmp_path, before, path, query)) is not None, (before, query)


def test_a_request_count_that_counts_the_warm_up_twice_fails() -> None:
    # two-worker-sweep/README.md once said 2,381 requests "plus the warm-up": 2,379 measured + 2 warm-up
    folder = REPO / "reports" / "examples" / "h200-vllm" / "two-worker-sweep"
    said = Mark(folder / "README.md", 1, "2,381 requests", "results.json", "sum($.levels[*].completed)")
    assert check(said) is not None
    assert check(Mark(folder / "README.md", 1, "2,379 requests", "results.json", "sum($.levels[*].completed)")) is None


@pytest.mark.parametrize("readme", READMES, ids=_name)
def test_markers_keep_tables_whole(readme: Path) -> None:
    # a "|" inside a marker on a table row would split the row's cells
    broken = [mark.where for mark in marks(readme)
              if mark.before.lstrip().startswith("|") and "|" in f"{mark.path} {mark.query}"]
    assert not broken, f"markers with '|' on table rows: {broken}"
