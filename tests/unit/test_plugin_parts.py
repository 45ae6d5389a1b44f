"""The plugin's own behaviour, through pytester (no server needed, but for the timed server that reports a
vLLM version): -m opt-in, requires() typos, markers, the report header and summary, the run_dir/record
fixtures, its hooks, expected failures that excuse only the failure they state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.load.timed_server import running
from harness.plugin import named_markers
from harness.results import read_history, read_run
from harness.spec.failure import UNMATCHED
from harness.spec.variant import parse_spec

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


# --- expected failures excuse only the failure they state (harness.spec.failure) ---------------------------

# one check, failing in each way a server can fail it; the facts are what harness.checks.observed records
WAYS = {
    "as_stated": ([("status", 500), ("healthy_after", True)], "answered 500: {message}"),
    "other_status": ([("status", 502), ("healthy_after", True)], "answered 502: bad gateway"),
    "timeout": ([("status", "timeout")], "no answer within 15.0 s (ReadTimeout)"),
    "dropped": ([("status", "dropped")], "the server dropped the connection without an answer"),
    "unhealthy": ([("status", 500), ("healthy_after", False)], "answered 500: {message}; /health answered 503"),
    "no_status": ([], "ValueError in the check itself"),
}
WAY = """
class Test_{way}:
    @pytest.mark.parametrize("case", ["huge"])
    def {test}(self, case, record_property{fixtures}):
        for name, value in {facts!r}:
            record_property(name, value)
        raise AssertionError({message!r})
"""
NOT_MATCHED = {"other_status": "expected HTTP 500*, saw HTTP 502",
               "timeout": "expected HTTP 500*, saw no answer within the check's bound (timeout)",
               "dropped": "expected HTTP 500*, saw no answer: the connection dropped",
               "unhealthy": "expected HTTP 500*, saw a server that was not healthy afterwards",
               "no_status": "expected HTTP 500*, saw no recorded status (AssertionError: ValueError in the check*"}


def _ways_of(pytester: pytest.Pytester, test: str, message: str, fixtures: str = "") -> None:
    """The check `test[huge]` failing six ways (one class each: the same check name, six node ids)."""
    pytester.makepyfile("import pytest\n" + "".join(
        WAY.format(way=way, test=test, fixtures=fixtures, facts=facts, message=text.format(message=message))
        for way, (facts, text) in WAYS.items()))


def _verdicts(run_dir: Path) -> dict[str, tuple[str, str | None]]:
    """way -> (verdict, why no entry excused it), from the run folder's results.jsonl"""
    return {o.test.split("::")[1].removeprefix("Test_"): (o.verdict or "", (o.properties or {}).get(UNMATCHED))
            for o in read_run(run_dir).outcomes if o.phase == "call"}


def test_a_known_issue_excuses_only_the_failure_it_states(pytester: pytest.Pytester) -> None:
    (pytester.path / "images" / "v").mkdir(parents=True)
    (pytester.path / "images" / "v" / "variant.toml").write_text(
        '[serve]\nmodel = "m"\nserved_model_name = "m"\n'
        '[[known_issues]]\ncheck = "test_check?huge?"\nreason = "answers 500 to it"\nstatus = 500\n'
        'message = "out of (memory|luck)"\n')
    _ways_of(pytester, "test_check", "out of luck", fixtures=", run_dir")
    result = pytester.runpytest("--images-dir", "images", "--image", "v", "--reports-dir", "out", "-p",
                                "no:cacheprovider", "-rx")
    result.assert_outcomes(xfailed=1, failed=5)
    result.stdout.fnmatch_lines(["XFAIL *Test_as_stated::test_check?huge?*known issue of v: answers 500 to it*"])
    for why in NOT_MATCHED.values():
        result.stdout.fnmatch_lines([f"known issue 'test_check?huge?' of v did not match: {why}*"])
    (run_dir,) = (pytester.path / "out" / "runs").iterdir()
    verdicts = _verdicts(run_dir)
    assert verdicts.pop("as_stated") == ("xfailed", None)
    assert {way: verdict for way, (verdict, _) in verdicts.items()} == dict.fromkeys(NOT_MATCHED, "failed")
    assert all(why and "of v did not match: expected HTTP 500" in why for _, why in verdicts.values()), verdicts
    failed = [o for o in read_run(run_dir).outcomes if o.verdict == "failed"]  # the why is the outcome's detail
    assert len(failed) == 5 and all(o.detail == [(o.properties or {})[UNMATCHED]] for o in failed), failed


def test_a_known_issue_must_state_its_failure(tmp_path: Path) -> None:
    spec = tmp_path / "v" / "variant.toml"
    spec.parent.mkdir()
    spec.write_text('[serve]\nmodel = "m"\nserved_model_name = "m"\n[[known_issues]]\ncheck = "test_x"\nreason = "r"\n')
    with pytest.raises(SpecError, match=r"known_issues\[0\]\.status': state the failure this entry stands for"):
        parse_spec(spec)


def test_an_upstream_deviation_excuses_only_the_failure_it_states(pytester: pytest.Pytester) -> None:
    # the shipped entry 'huge-image-500' (status 500, Pillow's message) on a server that reports vLLM 0.32.0
    _ways_of(pytester, "test_hostile_image_is_refused_cleanly", "Image size (400000000 pixels) exceeds limit of "
             "178956970 pixels", fixtures=", endpoint")
    with running(1.0, 1.0, "--version-name", "0.32.0") as url:
        result = pytester.runpytest("--base-url", url, "--capabilities", "chat", "--reports-dir", "out", "-p",
                                    "no:cacheprovider", "-rx")
    result.assert_outcomes(xfailed=1, failed=5)
    result.stdout.fnmatch_lines(["XFAIL *Test_as_stated::test_hostile_image_is_refused_cleanly?huge?*"
                                 "upstream vLLM deviation 'huge-image-500'*"])
    for why in NOT_MATCHED.values():
        result.stdout.fnmatch_lines([f"upstream vLLM deviation 'huge-image-500' did not match: {why}*"])
    (run_dir,) = (pytester.path / "out" / "runs").iterdir()
    verdicts = _verdicts(run_dir)
    assert verdicts.pop("as_stated") == ("xfailed", None)
    assert {way: verdict for way, (verdict, _) in verdicts.items()} == dict.fromkeys(NOT_MATCHED, "failed")
