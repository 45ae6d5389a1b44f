"""The process-boundary differential (slow; deselect with `-m "not slow"`).

vLLM ships processed images (pixel_values) between processes; the seed's bug lived there, the engine
receiving all-white pixels. This boots the variant a second time with `VLLM_ENABLE_V1_MULTIPROCESSING=0`,
sends both servers the same images and compares the greedy tokens: model, weights and preprocessing are
identical, so a difference is a transfer that changed the inputs.

What the switch removes depends on the vLLM version. Measured on vLLM 0.32 (`vllm serve`, CPU): with it,
the engine core runs its model in-process (APIServer + EngineCore, no separate Worker); without it, a
Worker process is added. The API server -> engine core boundary stays either way, because the async
server always runs its engine core in a process of its own.
"""

from __future__ import annotations

import httpx
import pytest

from harness.checks import imagegen
from harness.checks.multimodal import Answer, MediaChat, image
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint
from harness.suite_api import BootAnother

pytestmark = [pytest.mark.slow, pytest.mark.requires("chat", "vision")]

IN_PROCESS = (("VLLM_ENABLE_V1_MULTIPROCESSING", "0"),)
IMAGES = ("solid:red", "checkerboard", "shapes", "text:HELLO 42")


def _answers(chat: MediaChat) -> list[Answer]:
    gallery = imagegen.distinct_set()
    return [chat.ask([image(label, imagegen.data_url(gallery[label]))]) for label in IMAGES]


def test_engine_in_process_answers_like_multiprocess(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                                     boot_another: BootAnother) -> None:
    if endpoint.runtime != "docker":
        pytest.skip("the differential boots the variant a second time: docker runtime only (not --base-url)")
    multiprocess = _answers(MediaChat(api, endpoint, server))
    # the second server's run (build log, server log) is filed inside this run's folder
    with boot_another(IN_PROCESS, "in-process") as second, second.client() as client:
        in_process = _answers(MediaChat(client, second, server))

    differ = [f"{a.sent}: multiprocess {a.text[:60]!r}, in-process {b.text[:60]!r}"
              for a, b in zip(multiprocess, in_process, strict=True) if not b.agrees_with(a)]
    assert not differ, ("the same images answered differently with the engine in another process than in-process, "
                        "so the API server -> engine core transfer changes the inputs:\n  " + "\n  ".join(differ))
