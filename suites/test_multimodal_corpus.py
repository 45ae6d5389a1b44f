"""The fixed prompt + image corpus whose greedy answers `vllm-harness compare` and the bump gate put side
by side between runs (token agreement, prompt tokens per image). Each image is asked alone, greedy, a
fixed number of tokens; the answers go to `greedy.jsonl` in the run folder as they arrive."""

from __future__ import annotations

import httpx
import pytest

from harness.checks import imagegen
from harness.checks.multimodal import MediaChat, image
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint
from harness.suite_api import GreedyAnswer, RunRecorder

pytestmark = pytest.mark.requires("chat", "vision")


def corpus() -> dict[str, str]:
    """label -> data URL: the suite's distinct images and the white control, the same bytes every run."""
    pictures = {**imagegen.distinct_set(), "solid:white": imagegen.solid(imagegen.COLORS["white"])}
    return {label: imagegen.data_url(picture) for label, picture in pictures.items()}


def test_fixed_corpus_greedy_answers(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                     record: RunRecorder) -> None:
    chat = MediaChat(api, endpoint, server)
    missing = []
    for label, url in corpus().items():
        answer = chat.ask([image(label, url)])
        record.answer(GreedyAnswer(label=label, tokens=list(answer.tokens), text=answer.text,
                                   prompt_tokens=answer.prompt_tokens))
        if answer.prompt_tokens is None:
            missing.append(label)
    assert not missing, f"usage.prompt_tokens missing for {missing}: prompt-token counts cannot be compared"
