"""The plugin's own behaviour, through pytester (no server needed): -m opt-in, requires() typos, markers,
the report header and summary, the run_dir/record fixtures, its hooks."""

from __future__ import annotations

import json

import pytest

from harness.plugin import named_markers
from harness.results import read_history, read_run

pytest_plugins = ["pytester"]

OPT_IN = """
import pytest

@pytest.mark.load
def test_heavy(): pass

@pytest.mark.disruptive
def test_stops_it(): pass

def test_plain(): pass
"""


@pytest.mark.parametrize(("expr", "named"), [("download", {"download"}), ("load or not load", {"load"}),
                                             ("not disruptive and slow", {"disruptive", "slow"}),
                                             ("reload", {"reload"})])
def test_marker_names_are_tokens_not_substrings(expr: str, named: set[str]) -> None:
    assert named_markers(expr) == named


def test_load_runs_only_when_m_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(OPT_IN)
    pytester.runpytest().assert_outcomes(passed=1, deselected=2)
    # a marker whose name merely contains "load" opts nothing in
    pytester.runpytest("-m", "download or not download").assert_outcomes(passed=1, deselected=2)
    pytester.runpytest("-m", "load").assert_outcomes(passed=1, deselected=2)
    ran = pytester.runpytest("-m", "disruptive or not disruptive", "-v")
    ran.assert_outcomes(passed=2, deselected=1)
    ran.stdout.fnmatch_lines(["*test_plain PASSED*", "*test_stops_it PASSED*"])  # disruptive last


def test_a_requires_typo_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires("vison")
        def test_x(): pass
    """)
    result = pytester.runpytest()
    assert result.ret == 2
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert "test_x: requires('vison') names no capability; known:" in result.stdout.str() + result.stderr.str()


def test_markers_are_declared_once(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for name in ("requires", "load", "disruptive", "slow"):
        assert sum(line.startswith(f"@pytest.mark.{name}") for line in result.stdout.lines) == 1, name


def test_header_fixtures_summary_and_hooks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import json

        def pytest_harness_run_finished(config, run_dir, line):
            (run_dir / "hook.json").write_text(json.dumps({"run": line.run, "kind": line.kind}))
    """)
    pytester.makepyfile("""
        from harness.suite_api import GreedyAnswer

        def test_writes(run_dir, record):
            assert run_dir == record.dir and run_dir.is_dir()
            record.answer(GreedyAnswer(label="red", tokens=["a"], text="a", prompt_tokens=3))

        def test_fails():
            assert False
    """)
    result = pytester.runpytest("--reports-dir", "out")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["vllm-harness: target none*runs written under out/runs",
                                 "*- vllm-harness -*", "run folder: out/runs/*", "history: out/history.jsonl"])
    (run_dir,) = (pytester.path / "out" / "runs").iterdir()
    found = read_run(run_dir)
    assert found.run.finished and found.greedy["red"].prompt_tokens == 3
    assert {(o.test.split("::")[1], o.verdict) for o in found.outcomes} == {("test_writes", "passed"),
                                                                         ("test_fails", "failed")}
    (line,) = read_history(pytester.path / "out")
    assert line.run == run_dir.name and line.counts == {"passed": 1, "failed": 1} and line.failing_tests == 1
    assert json.loads((run_dir / "hook.json").read_text()) == {"run": run_dir.name, "kind": "suite"}


def test_run_dir_option_names_the_folder(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(run_dir): assert run_dir.name == 'mine'")
    result = pytester.runpytest("--reports-dir", "out", "--run-dir", "out/runs/mine")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["vllm-harness: target none*; run folder out/runs/mine", "run folder: out/runs/mine"])
    assert (pytester.path / "out" / "runs" / "mine" / "run.json").exists()
