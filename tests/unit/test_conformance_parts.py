"""Pure parts of the conformance suite: OpenAI shapes, error shapes, /metrics parsing, known issues."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import openai_shapes, prometheus
from harness.errors import SpecError
from harness.spec.variant import KnownIssue, parse_spec

CHAT = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def test_a_conforming_chat_completion_has_no_problems() -> None:
    assert openai_shapes.chat_completion(CHAT) == []


@pytest.mark.parametrize("change,problem", [
    ({"object": "chat.completion.chunk"}, "object must be 'chat.completion'"),
    ({"created": "1"}, "created must be an integer"),
    ({"choices": []}, "choices is empty"),
    ({"usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 5}}, "total_tokens 5 != prompt_tokens"),
    ({"usage": {"prompt_tokens": True, "completion_tokens": 1, "total_tokens": 2}}, "prompt_tokens must be an integer"),
])
def test_chat_completion_problems_are_named(change: dict, problem: str) -> None:
    problems = openai_shapes.chat_completion({**CHAT, **change})
    assert any(problem in p for p in problems), problems


def test_choice_problems_name_the_path() -> None:
    body = {**CHAT, "choices": [{"index": 0, "message": {"role": "user", "content": None}, "finish_reason": "done"}]}
    problems = openai_shapes.chat_completion(body)
    assert "choices[0].message.role must be 'assistant', got user" in problems
    assert "choices[0].message has neither content nor tool_calls" in problems
    assert any(p.startswith("choices[0].finish_reason must be one of") for p in problems)


def test_chunks_and_completions() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    assert openai_shapes.chat_chunk(chunk) == []
    assert openai_shapes.chat_chunk({**chunk, "choices": [], "usage": {"prompt_tokens": 1}}) != []
    text = {"id": "t", "object": "text_completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "text": "x", "finish_reason": None, "logprobs": None}]}
    assert openai_shapes.completion(text, chunk=True) == []
    assert "choices[0].finish_reason is null" in openai_shapes.completion({**text, "usage": CHAT["usage"]})


def test_both_error_shapes_are_recognised() -> None:
    assert openai_shapes.error_shape({"error": {"message": "bad", "code": 400}}) == ("openai-nested", "bad")
    assert openai_shapes.error_shape({"object": "error", "message": "bad", "code": 400}) == ("vllm-flat", "bad")
    assert openai_shapes.error_shape({"detail": "Not Found"}) == (None, "")


def test_trim_cuts_long_values() -> None:
    assert openai_shapes.trim("x" * 400, 10) == "xxxxxxxxxx... (400 chars)"


METRICS = """# HELP vllm:prompt_tokens_total Prompt tokens.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{model_name="a"} 3.0
vllm:prompt_tokens_total{model_name="b"} 4.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="+Inf"} 2.0
vllm:time_to_first_token_seconds_count 2.0
vllm:time_to_first_token_seconds_sum 0.5
"""


def test_metrics_are_summed_over_labels_and_counters_found_by_either_name() -> None:
    metrics = prometheus.parse(METRICS)
    assert metrics.value("vllm:prompt_tokens_total") == 7.0
    assert metrics.has("vllm:prompt_tokens_total") and metrics.has("vllm:time_to_first_token_seconds")
    assert metrics.types["vllm:time_to_first_token_seconds"] == "histogram"
    assert not metrics.has("vllm:num_requests_running")
    with pytest.raises(ValueError):
        prometheus.parse("not { prometheus")


SPEC = '[serve]\nmodel = "m"\nserved_model_name = "m"\n'


def test_known_issues_are_parsed_strictly(tmp_path: Path) -> None:
    path = tmp_path / "variant.toml"
    path.write_text(SPEC + '[[known_issues]]\ncheck = "test_vision_*"\nreason = "pixels arrive white"\n'
                    'link = "https://example.org/1"\nmessage = "identical answers"\n')
    assert parse_spec(path).known_issues == (KnownIssue(check="test_vision_*", reason="pixels arrive white",
                                                        link="https://example.org/1", message="identical answers"),)
    path.write_text(SPEC + '[[known_issues]]\ncheck = "test_x"\n')
    with pytest.raises(SpecError, match="reason"):
        parse_spec(path)
    path.write_text(SPEC + '[[known_issues]]\ncheck = "test_x"\nreason = "r"\nticket = "1"\n')
    with pytest.raises(SpecError, match="unknown key"):
        parse_spec(path)
