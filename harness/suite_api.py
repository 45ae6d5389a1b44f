"""What a suite may use, named in one place. Anything else in `harness` is internal and may change.

Fixtures (harness.plugin; session-scoped unless said):
    endpoint        Endpoint       the server under test, built and booted on first use
    api             httpx.Client   on the server root, API key set, no retries
    openai_client   openai.OpenAI  the official client, no retries
    server          ServerFacts    what checks adapt to (vLLM or not, its version, context length)
    media_server    MediaServer    test media over http where the server can fetch it (skips when it cannot)
    run_dir         Path           this run's folder (reports/runs/<run>): a suite's own files go inside it
    record          RunRecorder    the run folder's writer: `record.answer(GreedyAnswer(...))`
    boot_another    BootAnother    `with boot_another(env, "suffix") as second:` the variant booted again

Markers: `requires(*capabilities)`, `load`, `disruptive`, `slow`, `media` (see `pytest --markers`).

Check helpers a suite imports from their own modules: `openai_calls`, `openai_shapes`, `responses_shapes`,
`responses_stream`, `responses_media`, `refusals`, `multimodal`, `imagegen`, `mediagen`, `media_faults`,
`media_kinds`, `inflight`,
`prometheus`, `sse`, `lanes`, `container_probe`, `wait.poll_until`, and `load.runner.run_load` with
`load.config.LoadConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from harness.checks.image_server import MediaServer
from harness.checks.openai_calls import ServerFacts
from harness.results import GreedyAnswer, RunRecorder
from harness.server.endpoint import Endpoint, StackMembers

BootAnother = Callable[[tuple[tuple[str, str], ...], str], AbstractContextManager[Endpoint]]
"""The `boot_another` fixture: (extra server env, folder suffix) -> the second server, as a context."""

__all__ = ["BootAnother", "Endpoint", "GreedyAnswer", "MediaServer", "RunRecorder", "ServerFacts", "StackMembers"]
