"""The fixed prompt + image corpus whose greedy answers `vllm-harness compare` and the bump gate put side
by side between runs (token agreement, prompt tokens per image). Each image is asked alone, greedy, a
fixed number of tokens; the answers go to `greedy.jsonl` in the run folder as they arrive."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness import imagegen
from harness.compare.runs import record_answer
from harness.endpoint import Endpoint
from harness.multimodal import MediaChat, image
from harness.openai_calls import ServerFacts

pytestmark = pytest.mark.requires("chat", "vision")


def corpus() -> dict[str, str]:
    """label -> data URL: the suite's distinct images and the white control, the same bytes every run."""
    pictures = {**imagegen.distinct_set(), "solid:white": imagegen.solid(imagegen.COLORS["white"])}
    return {label: imagegen.data_url(picture) for label, picture in pictures.items()}


def test_fixed_corpus_greedy_answers(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                     pytestconfig: pytest.Config) -> None:
    session = pytestconfig.pluginmanager.get_plugin("vllm-harness-session")
    assert session is not None and session.recorder is not None, "the endpoint fixture creates the run folder"
    run_dir = Path(session.recorder.dir)
    chat = MediaChat(api, endpoint, server)
    missing = []
    for label, url in corpus().items():
        answer = chat.ask([image(label, url)])
        record_answer(run_dir, label, list(answer.tokens), answer.text, answer.prompt_tokens)
        if answer.prompt_tokens is None:
            missing.append(label)
    assert not missing, f"usage.prompt_tokens missing for {missing}: prompt-token counts cannot be compared"
