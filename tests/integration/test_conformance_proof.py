"""The conformance suite proven both ways against real vLLM (cpu-tiny): it passes on the real server, and
each class of defect it claims to catch, injected by a proxy in front of that server, fails exactly the
check named for it, and the defect was really exercised."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.server.endpoint import Endpoint
from tests.defects.proxy import Defect, DefectProxy, Exchange, Reply, events
from tests.suite_runs import assert_caught

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUITES = "suites/test_conformance_"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images") / "cpu-tiny"
    folder.mkdir()
    spec = (REPO / "images" / "cpu-tiny" / "variant.toml").read_text()
    (folder / "variant.toml").write_text(spec)
    return folder.parent


def run_suite(url: str, images: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--base-url", url, "--image", "cpu-tiny", "--images-dir",
         str(images), "-p", "no:cacheprovider", "--reports-dir", str(tmp), "-q", "-rfEXxs", "--no-header"],
        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_conformance_passes_on_real_vllm(cpu_tiny: Endpoint, images: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_suite(cpu_tiny.base_url, images, tmp_path, *sorted(str(p.relative_to(REPO)) for p in
                                                                    REPO.glob(f"{SUITES}*.py")))
    seconds = time.monotonic() - started
    print(f"\nconformance suite against a ready cpu-tiny: {seconds:.1f}s; {result.stdout.splitlines()[-1]}")
    assert result.returncode == 0, result.stdout[-4000:]
    # the registry's entries by the server's version (no GET /v1/models/{model}; two tool declarations served;
    # three Messages validation errors in OpenAI's shape) and the two Responses known issues
    assert " failed" not in result.stdout and "9 xfailed" in result.stdout, result.stdout[-2000:]
    assert "XFAIL" in result.stdout and "no-models-retrieve" in result.stdout, result.stdout[-2000:]
    assert seconds < 60, f"the conformance suite took {seconds:.0f}s (budget 60s)"


def test_a_fixed_known_issue_fails_the_run_as_xpass(cpu_tiny: Endpoint, images: Path, tmp_path: Path) -> None:
    spec = images / "cpu-tiny" / "variant.toml"
    fixed = tmp_path / "images" / "cpu-tiny"
    fixed.mkdir(parents=True)
    (fixed / "variant.toml").write_text(spec.read_text() + '\n[[known_issues]]\ncheck = "test_health_is_200"\n'
                                        'reason = "pretend"\nlink = "https://example.org/1"\nstatus = 503\n')
    result = run_suite(cpu_tiny.base_url, fixed.parent, tmp_path, f"{SUITES}server.py", "-k", "test_health")
    assert result.returncode == 1 and "[XPASS(strict)] known issue of cpu-tiny: pretend" in result.stdout, (
        result.stdout[-2000:])


class OlderVersion(Defect):
    """The same real vLLM, reporting a /version below every registry range."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        return {"version": "0.20.0"} if exchange.path == "/version" else body


def test_outside_the_registrys_range_the_plain_failure_comes_back(cpu_tiny: Endpoint, images: Path,
                                                                  tmp_path: Path) -> None:
    with DefectProxy(cpu_tiny.base_url, OlderVersion()) as url:
        result = run_suite(url, images, tmp_path, f"{SUITES}server.py", "-k", "retrieve")
    assert result.returncode == 1 and f"FAILED {SUITES}server.py::test_models_retrieve_by_id" in result.stdout, (
        result.stdout[-2000:])
    assert "upstream vLLM deviations for 0.20.0: none" in result.stdout, result.stdout[-2000:]


def test_a_missing_done_fails_the_framing_check_only(cpu_tiny: Endpoint, images: Path, tmp_path: Path) -> None:
    defect = NoDone()
    with DefectProxy(cpu_tiny.base_url, defect) as url:
        result = run_suite(url, images, tmp_path, f"{SUITES}streaming.py")
    failed = sorted(line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines()
                    if line.startswith("FAILED"))
    assert defect.hits > 0 and failed == ["test_stream_is_strict_sse_ending_in_done[chat]",
                                          "test_stream_is_strict_sse_ending_in_done[completions]"], (
        result.stdout[-3000:])


# --- one deliberately broken server per class of defect ------------------------------------------------


class Counting(Defect):
    """A defect that counts how often it really changed something."""

    def __init__(self) -> None:
        self.hits = 0


class NoDone(Counting):
    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for event in events(chunks):
            if event.startswith(b"data: [DONE]"):
                self.hits += 1
                continue
            yield event


class MidStreamError(Counting):
    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for i, event in enumerate(events(chunks)):
            if i == 2:
                self.hits += 1
                yield b'data: {"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}\n\n'
            yield event


class Buffered(Counting):
    """Holds the whole stream back and sends it at once: well-formed, but not streaming."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        whole = b"".join(chunks)
        if whole.count(b"data: ") > 2:
            self.hits += 1
        yield whole


class ReplayedAtTheEnd(Counting):
    """Holds the whole stream back, then replays it event by event: many network reads, microseconds apart,
    all after the answer was complete (a check that counts reads takes it for streaming)."""

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        held = list(events(chunks))
        if len(held) > 2:
            self.hits += 1
        yield from held


class NoRoleInFirstDelta(Counting):
    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for event in events(chunks):
            if b'"role":"assistant"' in event:
                self.hits += 1
                event = event.replace(b'"role":"assistant",', b"").replace(b'"role":"assistant"', b"")
            yield event


class NoUsageChunk(Counting):
    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for event in events(chunks):
            if b'"choices":[]' in event:
                self.hits += 1
                continue
            yield event


class WrongUsage(Counting):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("usage"), dict):
            self.hits += 1
            body["usage"]["total_tokens"] += 1
        return body


class AlwaysStop(Counting):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for choice in body.get("choices", []) if isinstance(body, dict) else []:
            if choice.get("finish_reason") == "length":
                self.hits += 1
                choice["finish_reason"] = "stop"
        return body


class TopLogprobsCut(Counting):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for choice in body.get("choices", []) if isinstance(body, dict) else []:
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                self.hits += 1
                entry["top_logprobs"] = entry["top_logprobs"][:1]
        return body


class IgnoresN(Counting):
    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if isinstance(body, dict) and body.get("n", 1) > 1:
            self.hits += 1
            body["n"] = 1
            exchange.body = json.dumps(body).encode()
        return None


class IgnoresStop(Counting):
    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if isinstance(body, dict) and body.pop("stop", None):
            self.hits += 1
            exchange.body = json.dumps(body).encode()
        return None


class CrashOnBadInput(Counting):
    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if isinstance(body, dict) and isinstance(body.get("max_tokens"), int) and body["max_tokens"] < 0:
            self.hits += 1
            return Reply(500, b'{"error": {"message": "Internal Server Error", "code": 500}}')
        return None


class UnknownModelIs400(Counting):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if exchange.status == 404:
            self.hits += 1
            exchange.status = 400
        return body


class ShapelessErrors(Counting):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if exchange.status >= 400:
            self.hits += 1
            return {"detail": "bad"}
        return body


class FrozenMetrics(Counting):
    """Serves the first /metrics it saw forever: parseable, but the counters never move."""

    def __init__(self) -> None:
        super().__init__()
        self.first: bytes | None = None

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        body = b"".join(chunks)
        if exchange.path == "/metrics":
            if self.first is None:
                self.first = body
            else:
                self.hits += 1
            body = self.first
        yield body


CASES = [
    (NoDone, "streaming.py", "test_stream_is_strict_sse_ending_in_done[chat]"),
    (MidStreamError, "streaming.py", "test_stream_is_strict_sse_ending_in_done[completions]"),
    (Buffered, "streaming.py", "test_stream_arrives_incrementally[chat]"),
    (ReplayedAtTheEnd, "streaming.py", "test_stream_arrives_incrementally[completions]"),
    (NoRoleInFirstDelta, "streaming.py", "test_chat_stream_first_delta_carries_role"),
    (NoUsageChunk, "streaming.py", "test_stream_include_usage_ends_with_a_usage_chunk[chat]"),
    (WrongUsage, "chat.py", "test_chat_shape_role_and_usage"),
    (WrongUsage, "openai_client.py", "test_client_chat_parses_with_usage"),
    (AlwaysStop, "chat.py", "test_chat_finish_reason_length_when_max_tokens_cuts"),
    (TopLogprobsCut, "chat.py", "test_chat_logprobs_with_the_requested_top_count"),
    (IgnoresN, "chat.py", "test_chat_n_gives_n_indexed_choices"),
    (IgnoresN, "completions.py", "test_completion_n_gives_n_indexed_choices"),
    (IgnoresStop, "chat.py", "test_chat_stop_sequence_ends_with_stop"),
    (CrashOnBadInput, "errors.py", "test_bad_request_is_a_4xx_with_a_message[chat-negative-max-tokens]"),
    (CrashOnBadInput, "openai_client.py", "test_client_raises_the_documented_error[bad-param]"),
    (UnknownModelIs400, "errors.py", "test_unknown_model_is_404[chat]"),
    (ShapelessErrors, "errors.py", "test_bad_request_is_a_4xx_with_a_message[chat-empty-messages]"),
    (FrozenMetrics, "server.py", "test_metrics_counters_move_when_a_request_is_served"),
]


@pytest.mark.parametrize("defect_type,suite,check", [
    pytest.param(d, s, c, id=f"{d.__name__}-{c}") for d, s, c in CASES])
def test_defect_is_caught_by_its_check(cpu_tiny: Endpoint, images: Path, tmp_path: Path,
                                       defect_type: type[Counting], suite: str, check: str) -> None:
    defect = defect_type()
    with DefectProxy(cpu_tiny.base_url, defect) as url:
        result = run_suite(url, images, tmp_path, f"{SUITES}{suite}::{check}")
    assert_caught(defect.hits, defect_type.__name__, result, f"{SUITES}{suite}::{check}")
