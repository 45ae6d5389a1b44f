"""The Responses API checks proven both ways against real vLLM (cpu-tiny): they pass on the real server
(vLLM 0.32's two deviations strict xfails), and each defect a tests/defects/responses.py proxy injects
fails exactly the check named for it, having really fired.

The server is the session's cpu-tiny, whose spec turns vLLM's response store on
(VLLM_ENABLE_RESPONSES_API_STORE=1), so `previous_response_id` is checked too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from tests.defects import responses as defects
from tests.defects.proxy import DefectProxy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAIN, STREAMING = "suites/test_conformance_responses.py", "suites/test_conformance_responses_streaming.py"
IMAGES, CLIENT = "suites/test_multimodal_responses.py", "suites/test_conformance_openai_client.py"


@pytest.fixture(scope="module")
def storing(cpu_tiny: Endpoint) -> Endpoint:
    """The session's cpu-tiny: the shipped spec turns vLLM's response store on."""
    return cpu_tiny


def run_suite(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the shipped spec: its capabilities (responses) and known issues, in front of any URL
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--base-url", url, "--image", "cpu-tiny", "--image-host", "docker",
         "-p", "no:cacheprovider", "--reports-dir", str(tmp), "-q", "-rfEXs", "--no-header"],
        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_responses_checks_pass_on_real_vllm(storing: Endpoint, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_suite(storing.base_url, tmp_path, PLAIN, STREAMING, IMAGES, CLIENT, "-k", "responses")
    seconds = time.monotonic() - started
    print(f"\nResponses checks against a ready cpu-tiny: {seconds:.1f}s; {result.stdout.splitlines()[-1]}")
    assert result.returncode == 0 and " failed" not in result.stdout, result.stdout[-4000:]
    # vLLM 0.32's two deviations are known issues (strict xfail); nothing skipped: this server stores
    assert "2 xfailed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
    assert seconds < 60, f"the Responses checks took {seconds:.0f}s (budget 60s)"


CASES = [
    (defects.WrongUsage, PLAIN, "test_responses_shape_output_and_usage"),
    (defects.WrongUsage, CLIENT, "test_client_responses_create_parses_with_usage"),
    (defects.StretchesMaxOutputTokens, PLAIN, "test_responses_max_output_tokens_is_honoured"),
    (defects.IgnoresTemperature, PLAIN, "test_responses_temperature_is_applied"),
    (defects.IgnoresTopP, PLAIN, "test_responses_tiny_top_p_samples_greedily"),
    (defects.DropsInstructions, PLAIN, "test_responses_instructions_act_as_a_system_message"),
    (defects.KeepsLastTurnOnly, PLAIN, "test_responses_multi_turn_input_matches_chat"),
    (defects.CrashOnNegativeMaxOutputTokens, PLAIN,
     "test_responses_bad_request_is_a_4xx_with_a_message[negative-max-output-tokens]"),
    (defects.UnknownModelIs400, PLAIN, "test_responses_unknown_model_is_404"),
    (defects.IgnoresPreviousResponseId, PLAIN, "test_responses_previous_response_id_continues"),
    (defects.DropsTerminalEvent, STREAMING, "test_responses_stream_events_in_order"),
    (defects.MislabelsDeltas, STREAMING, "test_responses_stream_events_in_order"),
    (defects.SequenceGoesBack, STREAMING, "test_responses_stream_events_in_order"),
    (defects.LosesADelta, STREAMING, "test_responses_stream_deltas_add_up_to_the_final_text"),
    (defects.LosesADelta, CLIENT, "test_client_responses_stream_matches_the_plain_answer"),
    (defects.StreamShorter, STREAMING, "test_responses_stream_matches_the_non_streamed_answer"),
    (defects.WhitenImages, IMAGES, "test_responses_distinct_images_give_distinct_answers"),
    (defects.MirrorsImages, IMAGES, "test_responses_image_by_data_url_answers_as_chat"),
    (defects.WhitenHttpImages, IMAGES, "test_responses_image_by_http_url_answers_as_chat"),
    (defects.ServerErrorOnBadImage, IMAGES, "test_responses_hostile_image_is_refused_cleanly[truncated_png]"),
]


@pytest.mark.parametrize("defect_type,suite,check", [
    pytest.param(d, s, c, id=f"{d.__name__}-{c}") for d, s, c in CASES])
def test_defect_is_caught_by_its_check(storing: Endpoint, tmp_path: Path, defect_type: type[defects.ResponsesDefect],
                                       suite: str, check: str) -> None:
    defect = defect_type()
    with DefectProxy(storing.base_url, defect) as url:
        result = run_suite(url, tmp_path, f"{suite}::{check}")
    assert defect.hits > 0, f"{defect_type.__name__} never changed anything: the check did not exercise it"
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"FAILED {suite}::{check}" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("fix,suite,check", [
    pytest.param(defects.TerminalEventByStatus, STREAMING, "test_responses_stream_terminal_event_matches_status",
                 id="terminal-event"),
    pytest.param(defects.CutItemIncomplete, PLAIN, "test_responses_cut_message_item_is_incomplete", id="item-status")])
def test_a_deviation_check_sees_the_fix(storing: Endpoint, tmp_path: Path, fix: type[defects.ResponsesDefect],
                                        suite: str, check: str) -> None:
    # the check fails on vLLM 0.32 (a strict xfail, the deviation recorded); a proxy that answers as
    # OpenAI documents makes it pass, so the run fails as XPASS(strict)
    defect = fix()
    with DefectProxy(storing.base_url, defect) as url:
        result = run_suite(url, tmp_path, f"{suite}::{check}")
    assert defect.hits > 0, f"{fix.__name__} never changed anything"
    assert result.returncode == 1 and "XPASS(strict)" in result.stdout, result.stdout[-3000:]
