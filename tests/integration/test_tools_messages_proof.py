"""The tool-calling, Anthropic Messages and operations checks proven both ways against real vLLM (cpu-tiny):
they pass on the real server (vLLM 0.32's measured deviations reported as upstream xfails), each defect a
tests/defects proxy injects fails exactly the check named for it, having really fired, and the control
(each call's stream pieces merged into one delta, as a long --stream-interval sends them) passes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from harness.server.endpoint import Endpoint
from tests.conftest import launched
from tests.defects import messages, tools
from tests.defects.proxy import DefectProxy
from tests.defects.tools import CountingDefect
from tests.suite_runs import assert_caught

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOOLS, MESSAGES = "suites/test_conformance_tools.py", "suites/test_conformance_messages.py"
OPS, CLIENT = "suites/test_operations.py", "suites/test_conformance_openai_client.py"


def run_suite(url: str, tmp: Path, *args: str, image: str = "cpu-tiny") -> subprocess.CompletedProcess[str]:
    # the shipped spec: its capabilities (tools, messages, operations), its tool parser, its known issues
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--base-url", url, "--image", image, "--image-host", "docker",
         "-p", "no:cacheprovider", "--reports-dir", str(tmp), "-q", "-rfEXs", "--no-header"],
        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_tools_messages_and_operations_pass_on_real_vllm(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_suite(cpu_tiny.base_url, tmp_path, TOOLS, MESSAGES, OPS, f"{CLIENT}::"
                       "test_client_forced_tool_call_parses_and_streams_alike")
    seconds = time.monotonic() - started
    print(f"\ntools, messages, operations checks against a ready cpu-tiny: {seconds:.1f}s; "
          f"{result.stdout.splitlines()[-1]}")
    assert result.returncode == 0 and " failed" not in result.stdout, result.stdout[-4000:]
    # the five measured deviations (two tool declarations, three Messages validation errors); skipped only the
    # two whole-call checks, which this server (--stream-interval 1) cannot show: test_whole_calls_...
    # (and the /load check, where this host kept /load from answering while the request was in flight)
    skipped = 3 if "inconclusive: /load" in result.stdout else 2
    assert "5 xfailed" in result.stdout and f"{skipped} skipped" in result.stdout, result.stdout[-2000:]
    assert "no call arrived whole" in result.stdout, result.stdout[-2000:]
    assert seconds < 120, f"the checks took {seconds:.0f}s (budget 120s)"


CASES = [
    (tools.BreaksArguments, TOOLS, "test_tools_named_choice_calls_that_function"),
    (tools.ReusesOneId, TOOLS, "test_tools_call_ids_differ_between_answers"),
    (tools.DropsWholeCallDelta, TOOLS, "test_tools_stream_assembles_into_the_unstreamed_call[named]"),
    (tools.DropsWholeCallDelta, TOOLS, "test_tools_auto_stream_assembles_into_the_unstreamed_calls[parallel]"),
    (tools.NewIdEveryDelta, TOOLS, "test_tools_stream_assembles_into_the_unstreamed_call[required]"),
    (tools.LosesLastArgumentPiece, TOOLS, "test_tools_auto_stream_assembles_into_the_unstreamed_calls[one]"),
    (tools.LosesLastArgumentPiece, CLIENT, "test_client_forced_tool_call_parses_and_streams_alike"),
    (tools.CallsLeftInContent, TOOLS, "test_tools_auto_parser_finds_the_written_calls[parallel]"),
    (tools.NoneStillCalls, TOOLS, "test_tools_choice_none_never_calls"),
    (tools.AcceptsUnknownFunction, TOOLS, "test_tools_bad_declaration_is_refused[unknown-function]"),
    (tools.RefusesToolResults, TOOLS, "test_tools_result_carried_back_is_answered"),
    (messages.StopBeforeDelta, MESSAGES, "test_messages_stream_in_order_adds_up[answer]"),
    (messages.LosesLastTextDelta, MESSAGES, "test_messages_stream_in_order_adds_up[cut]"),
    (messages.LosesLastTextDelta, MESSAGES, "test_client_messages_create_stream_and_count"),
    (messages.MaxTokensAsEndTurn, MESSAGES, "test_messages_max_tokens_stops_with_max_tokens"),
    (messages.WhitensImages, MESSAGES, "test_messages_images_reach_the_model"),
    (messages.OpenAIErrorShape, MESSAGES, "test_messages_error_in_anthropic_shape[unknown-model]"),
    (messages.ToolUseAsText, MESSAGES, "test_messages_forced_tool_is_a_tool_use_block[plain]"),
    (messages.PingIs404, OPS, "test_ping_answers_as_health[GET]"),
    (messages.LoadNeverCounts, OPS, "test_load_counts_a_request_in_flight"),
    (messages.InvocationsAsCompletion, OPS, "test_invocations_routes_a_chat_body"),
]


@pytest.mark.parametrize("defect_type,suite,check", [
    pytest.param(d, s, c, id=f"{d.__name__}-{c}") for d, s, c in CASES])
def test_defect_is_caught_by_its_check(cpu_tiny: Endpoint, tmp_path: Path, defect_type: type[CountingDefect],
                                       suite: str, check: str) -> None:
    defect = defect_type()
    with DefectProxy(cpu_tiny.base_url, defect) as url:
        result = run_suite(url, tmp_path, f"{suite}::{check}")
    if defect.hits == 0 and defect.needs:  # the server's streams lacked the shape: nothing was proven either way
        pytest.skip(f"inconclusive: {defect_type.__name__} needs {defect.needs}, and the server sent none "
                    f"(every call arrived whole); the check ran on an unchanged stream")
    assert_caught(defect.hits, defect_type.__name__, result, f"{suite}::{check}")


def test_calls_whole_in_one_delta_pass(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    # the control for DropsWholeCallDelta: the same merged stream, nothing lost, passes every streaming check
    defect = tools.MergesCallDeltas()
    with DefectProxy(cpu_tiny.base_url, defect) as url:
        result = run_suite(url, tmp_path, TOOLS, "-k", "stream", f"{CLIENT}::"
                           "test_client_forced_tool_call_parses_and_streams_alike")
    if defect.hits == 0:
        pytest.skip("inconclusive: no stream had a call in several pieces to merge (every call arrived whole)")
    assert result.returncode == 0 and "5 passed" in result.stdout, result.stdout[-3000:]


def test_whole_calls_in_one_delta_are_kept_by_real_vllm(tmp_path_factory: pytest.TempPathFactory,
                                                        docker_client: docker.DockerClient, tmp_path: Path) -> None:
    # cpu-tiny's image served with --stream-interval 256: each call reaches the hermes parser whole (#47907)
    with launched(tmp_path_factory, "cpu-tiny-tools") as whole:
        result = run_suite(whole.base_url, tmp_path, f"{TOOLS}::test_tools_whole_calls_in_one_delta_are_kept",
                           image="cpu-tiny-tools")
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout[-3000:]
