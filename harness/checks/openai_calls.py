"""One request to the server under test, kept whole so that a failing check can say what was sent, what
came back (trimmed) and what was expected. Streams are read with the strict parser of harness.checks.sse, or of
harness.checks.responses_stream for the Responses API's named events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.checks import messages_stream, responses_stream, sse
from harness.checks.openai_shapes import trim

LONG_PROMPT = "Write a long story about a lighthouse keeper."
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"  # Anthropic's Messages API


@dataclass
class Call:
    method: str
    path: str
    sent: Any  # the JSON payload, or the raw body for malformed requests
    status: int = 0
    content_type: str = ""
    text: str = ""  # the response body as text (for a stream: what the parser saw, summarised)
    stream: sse.Stream | None = None
    events: responses_stream.EventStream | None = None  # a Responses API stream
    messages: messages_stream.MessageStream | None = None  # an Anthropic Messages stream

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def why(self, expected: str) -> str:
        """The failure message: sent, got, expected."""
        got = f"HTTP {self.status} {trim(self.text)}"
        if self.stream is not None:
            got = (f"HTTP {self.status} stream: {len(self.stream.chunks)} chunks, done={self.stream.done}, "
                   f"text={trim(self.stream.text(), 120)}, error={trim(self.stream.error, 120)}, "
                   f"violations={trim(self.stream.violations, 200)}, last={trim(self.stream.chunks[-1:], 200)}")
        if self.events is not None:
            got = (f"HTTP {self.status} stream: {len(self.events.events)} events {trim(self.events.types(), 200)}, "
                   f"text={trim(self.events.text(), 120)}, violations={trim(self.events.violations, 200)}, "
                   f"last={trim(self.events.events[-1:], 200)}")
        if self.messages is not None:
            got = (f"HTTP {self.status} stream: {len(self.messages.events)} events {trim(self.messages.types(), 200)}, "
                   f"text={trim(self.messages.text(), 120)}, violations={trim(self.messages.violations, 200)}, "
                   f"last={trim(self.messages.events[-1:], 200)}")
        return f"\n  sent:     {self.method} {self.path} {trim(self.sent)}\n  got:      {got}\n  expected: {expected}"


def post(api: httpx.Client, path: str, payload: Any, *, raw: bytes | None = None) -> Call:
    """POST JSON (or `raw` bytes as application/json, for malformed bodies) and keep the exchange."""
    if raw is None:
        response = api.post(path, json=payload)
    else:
        response = api.post(path, content=raw, headers={"Content-Type": "application/json"})
    return Call("POST", path, payload if raw is None else raw.decode(errors="replace"), response.status_code,
                response.headers.get("content-type", ""), response.text)


def get(api: httpx.Client, path: str) -> Call:
    response = api.get(path)
    return Call("GET", path, None, response.status_code, response.headers.get("content-type", ""), response.text)


def stream(api: httpx.Client, path: str, payload: dict[str, Any]) -> Call:
    """POST with `stream: true` and parse the answer as it arrives (per-chunk arrival times kept)."""
    payload = {**payload, "stream": True}
    started = time.perf_counter()
    with api.stream("POST", path, json=payload) as response:
        call = Call("POST", path, payload, response.status_code, response.headers.get("content-type", ""))
        if response.status_code != 200:
            call.text = response.read().decode(errors="replace")
            return call
        if path.endswith(RESPONSES):
            call.events = responses_stream.read(response.iter_raw(), started=started)
        elif path.endswith(MESSAGES):
            call.messages = messages_stream.read(response.iter_raw(), started=started)
        else:
            call.stream = sse.read(response.iter_raw(), started=started)
    return call


def all_hold(*steps: Callable[[], None]) -> None:
    """Run every step (e.g. judge the answer, then check the server is still healthy) and fail with all of
    their messages: a later step's failure must not hide what an earlier one saw."""
    failures = []
    for step in steps:
        try:
            step()
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError("\n".join(failures))


def chat_payload(model: str, **overrides: Any) -> dict[str, Any]:
    """A short greedy chat request; `None` overrides drop a field."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": LONG_PROMPT}],
                            "max_tokens": 16, "temperature": 0, **overrides}
    return {k: v for k, v in body.items() if v is not None}


def completion_payload(model: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": LONG_PROMPT, "max_tokens": 16, "temperature": 0, **overrides}
    return {k: v for k, v in body.items() if v is not None}


def responses_payload(model: str, **overrides: Any) -> dict[str, Any]:
    """A short greedy Responses API request; `None` overrides drop a field."""
    body: dict[str, Any] = {"model": model, "input": LONG_PROMPT, "max_output_tokens": 16, "temperature": 0,
                            **overrides}
    return {k: v for k, v in body.items() if v is not None}


@dataclass(frozen=True)
class ServerFacts:
    """What the checks must know about the server to be fair to it."""

    vllm_version: str | None  # None: no vLLM `/version`, so vLLM's extensions (ignore_eos, ...) are not used
    max_model_len: int | None  # from /v1/models (a vLLM extension) or the variant's spec

    @property
    def vllm_like(self) -> bool:
        return self.vllm_version is not None

    def exact_length(self) -> dict[str, Any]:
        """Extra parameters that make the answer run to max_tokens (no early end-of-sequence), where the
        server understands them; a greedy random model may otherwise stop at once."""
        return {"ignore_eos": True} if self.vllm_like else {}


def server_version(api: httpx.Client) -> str | None:
    """vLLM's version as its GET /version reports it: the one place that asks. None from a server without
    one (not vLLM, or a frontend that hides it)."""
    response = api.get("/version")
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return version if isinstance(version, str) else None


def probe(api: httpx.Client, model: str, spec_max_model_len: int | None) -> ServerFacts:
    version = server_version(api)
    max_len = spec_max_model_len
    models = api.get("/v1/models")
    if models.status_code == 200:
        for card in models.json().get("data", []):
            if isinstance(card, dict) and card.get("id") == model and isinstance(card.get("max_model_len"), int):
                max_len = card["max_model_len"]
    return ServerFacts(version, max_len)
