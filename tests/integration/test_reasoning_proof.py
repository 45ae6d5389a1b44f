"""The reasoning checks proven both ways against real vLLM (cpu-tiny's image with the granite reasoning parser,
structured output forcing the reasoning shape): they pass on the real server, and each defect a
tests/defects proxy injects (reasoning left in the content, the last reasoning delta lost, include_reasoning
ignored) fails exactly the check named for it, having really fired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from tests.defects import reasoning
from tests.defects.proxy import DefectProxy
from tests.suite_runs import assert_caught, run_suites, served

pytestmark = pytest.mark.integration

SUITE, IMAGE = "suites/test_reasoning.py", "cpu-tiny-reasoning"
START, END = "<think>", "</think>"  # images/cpu-tiny-reasoning's [reasoning]


reasoning_server = served(IMAGE)


def test_reasoning_checks_pass_on_real_vllm(reasoning_server: Endpoint, tmp_path: Path) -> None:
    result = run_suites(reasoning_server.base_url, tmp_path, IMAGE, SUITE)
    assert result.returncode == 0 and "3 passed" in result.stdout, result.stdout[-4000:]


CASES: list[tuple[Callable[[], reasoning.CountingDefect], str]] = [
    (lambda: reasoning.ReasoningLeftInContent(START, END), "test_reasoning_and_content_partition_the_text"),
    (reasoning.DropsLastReasoningDelta, "test_reasoning_stream_adds_up_to_the_unstreamed_split"),
    (reasoning.IgnoresIncludeReasoning, "test_reasoning_left_out_on_request"),
]


@pytest.mark.parametrize("make,check", [pytest.param(m, c, id=c) for m, c in CASES])
def test_defect_is_caught_by_its_check(reasoning_server: Endpoint, tmp_path: Path,
                                       make: Callable[[], reasoning.CountingDefect], check: str) -> None:
    defect = make()
    with DefectProxy(reasoning_server.base_url, defect) as url:
        result = run_suites(url, tmp_path, IMAGE, SUITE, "-k", check)
    assert_caught(defect.hits, type(defect).__name__, result, f"{SUITE}::{check}")
