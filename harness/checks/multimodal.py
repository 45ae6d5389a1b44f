"""Reusable logic of the multimodal suite: one fixed greedy chat request with media attached, the answer
reduced to a comparable signature, and the judgements the checks make about answers.

The model may be random, so no check knows what it "should" say: checks compare answers between
requests. Two requests count as giving the same answer when their signatures are equal: the greedy tokens
*and* the top-5 candidates at every position. A distinct image that happens to share the greedy text
(likely for a real model on plain images, e.g. an OCR model answering nothing for two solid colours)
still moves the ranking of the runners-up, so sensitivity checks do not fail by chance; a server that
never shows the image to the model gives bit-identical inputs, so identical rankings.

Stability checks (the same input twice, two deliveries of it, streamed or not, alone or in a batch) ask
the opposite, that two answers agree. vLLM is not bit-reproducible across batch shapes and prefix-cache
hits on GPUs, which can flip a greedy choice where the top two candidates are nearly tied. So answers
agree when their tokens are equal, or when they first part at a position where one of them had a near
tie (top-2 logprob gap under NEAR_TIE). A transfer defect changes the inputs themselves and parts the
answers at a confident choice, usually the first token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from harness.checks import sse
from harness.checks.observed import Record, answered, no_answer
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

PROMPT = "Describe what you see in detail."
MAX_TOKENS = 24
TOP_LOGPROBS = 5
NEAR_TIE = 0.05  # nats between the best and the second-best candidate
# a heap or object address in an error message (CVE-2026-22778: `<... at 0x7f3a...>` leaked to clients)
ADDRESS = re.compile(r"\b0x[0-9a-f]{8,16}\b", re.IGNORECASE)


@dataclass(frozen=True)
class Media:
    """One content part to attach, with a label that failure messages use instead of the base64."""

    label: str
    part: dict[str, Any]


def image(label: str, url: str) -> Media:
    return Media(label, {"type": "image_url", "image_url": {"url": url}})


def video(label: str, url: str) -> Media:
    return Media(label, {"type": "video_url", "video_url": {"url": url}})


def audio(label: str, url: str) -> Media:
    return Media(label, {"type": "audio_url", "audio_url": {"url": url}})


def describe(media: Sequence[Media]) -> str:
    return "[" + ", ".join(m.label for m in media) + "]" if media else "[no media]"


@dataclass(frozen=True)
class Answer:
    sent: str  # what was sent, for messages
    text: str
    tokens: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...]  # the top-5 candidate tokens at each position, best first
    prompt_tokens: int | None
    margins: tuple[float, ...] = ()  # logprob gap between the best two candidates at each position

    @property
    def signature(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        return self.tokens, self.alternatives

    def same_as(self, other: Answer) -> bool:
        return self.signature == other.signature

    def identical(self, other: Answer) -> bool:
        """Same tokens, same runners-up and the same gaps between the best two, to the last bit: what two
        requests give when the model saw the very same inputs (one cached result served twice)."""
        return self.signature == other.signature and self.margins == other.margins

    def agrees_with(self, other: Answer) -> bool:
        """Equal tokens, or parting first where either answer was nearly tied (see the module docstring)."""
        if self.tokens == other.tokens:
            return True
        at = next((i for i, (a, b) in enumerate(zip(self.tokens, other.tokens, strict=False)) if a != b),
                  min(len(self.tokens), len(other.tokens)))
        return any(at < len(m) and m[at] < NEAR_TIE for m in (self.margins, other.margins))

    def brief(self) -> str:
        return f"{self.sent} -> {self.text[:80]!r}"


def trimmed(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class MediaChat:
    """The suite's one request shape: the fixed prompt plus media, greedy, a fixed number of tokens.

    Where the server understands it (`server.exact_length()`, vLLM's `ignore_eos`), every answer is exactly
    `max_tokens` long, so an answer is never empty and two answers are compared over the same number of
    tokens; elsewhere nothing beyond the OpenAI API is sent (a strict server refuses unknown fields)."""

    def __init__(self, api: httpx.Client, endpoint: Endpoint, server: ServerFacts, *, prompt: str = PROMPT,
                 max_tokens: int = MAX_TOKENS) -> None:
        self.api = api
        self.model = endpoint.model
        self.server = server
        self.prompt = prompt
        self.max_tokens = max_tokens

    def body(self, media: Sequence[Media], *, stream: bool = False, logprobs: bool = True,
             exact_length: bool = True, prompt: str | None = None, max_tokens: int | None = None) -> dict[str, Any]:
        content = [{"type": "text", "text": prompt or self.prompt}, *(m.part for m in media)]
        body: dict[str, Any] = {
            "model": self.model, "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens or self.max_tokens, "temperature": 0, "seed": 0, "stream": stream,
            **(self.server.exact_length() if exact_length else {}),
        }
        if logprobs:
            body |= {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def post(self, media: Sequence[Media], **options: Any) -> httpx.Response:
        return self.api.post("/v1/chat/completions", json=self.body(media, **options))

    def ask(self, media: Sequence[Media], **options: Any) -> Answer:
        """A 200 with a non-empty answer, or an AssertionError saying what was sent and what came back."""
        response = self.post(media, **options)
        return parse_answer(describe(media), response)

    def stream(self, media: Sequence[Media]) -> tuple[sse.Stream, Answer]:
        """The parsed stream, and the answer it carried (tokens and logprobs gathered from its chunks)."""
        sent = describe(media)
        with self.api.stream("POST", "/v1/chat/completions", json=self.body(media, stream=True)) as response:
            if response.status_code != 200:
                response.read()
                raise AssertionError(f"streaming {sent} answered {response.status_code}, expected 200: "
                                     f"{trimmed(response.text)}")
            stream = sse.read(response.iter_raw())
        entries = [e for choice in stream.choice_deltas(0) for e in (choice.get("logprobs") or {}).get("content") or []]
        # without logprobs (the logprobs checks judge that) the answer is its text, as in parse_answer
        assert entries or stream.text(), f"streaming {sent}: neither text nor logprobs in {len(stream.chunks)} chunks"
        return stream, answer_from(sent, stream.text(), entries, stream.usage)


def parse_answer(sent: str, response: httpx.Response) -> Answer:
    assert response.status_code == 200, (f"sent {sent}: answered {response.status_code}, expected 200: "
                                         f"{trimmed(response.text)}")
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["message"]["content"] or ""
        entries = (choice.get("logprobs") or {}).get("content") or []
    except (ValueError, KeyError, IndexError, TypeError):
        raise AssertionError(f"sent {sent}: a 200 that is not a chat completion: {trimmed(response.text)}") from None
    if not entries:
        assert text, f"sent {sent}: a 200 with empty content: {trimmed(response.text)}"
    return answer_from(sent, text, entries, body.get("usage"))


def answer_from(sent: str, text: str, entries: list[dict[str, Any]], usage: dict[str, Any] | None) -> Answer:
    """An answer from its text and its logprobs.content entries (none when logprobs were not asked for)."""
    tokens = tuple(str(e.get("token")) for e in entries)
    tops = [[t for t in e.get("top_logprobs") or [] if isinstance(t, dict)] for e in entries]
    alternatives = tuple(tuple(str(t.get("token")) for t in top) for top in tops)
    margins = tuple(float(top[0]["logprob"]) - float(top[1]["logprob"]) if len(top) > 1 else float("inf")
                    for top in tops)
    return Answer(sent, text, tokens or (text,), alternatives, (usage or {}).get("prompt_tokens"), margins)


# --- judgements ------------------------------------------------------------------------------------


def collisions(answers: Sequence[Answer]) -> list[tuple[Answer, Answer]]:
    """Pairs of answers (to different inputs) with the same signature."""
    return [(a, b) for i, a in enumerate(answers) for b in answers[i + 1:] if a.same_as(b)]


def isolation_problems(solo: Sequence[Answer], together: Sequence[Answer]) -> list[str]:
    """Each answer given under concurrency must agree with the same request's answer alone."""
    problems = []
    for mine, got in zip(solo, together, strict=True):
        if not got.agrees_with(mine):
            problems.append(f"{got.sent}: alone {mine.text[:60]!r}, concurrently {got.text[:60]!r}")
    return problems


def error_problems(response: httpx.Response) -> list[str]:
    """What is wrong with the error answer to a hostile input, whatever its status."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"a {response.status_code} (a server error) instead of a 4xx")
    leaked = ADDRESS.findall(response.text)
    if leaked:
        problems.append(f"the answer contains memory addresses {leaked[:3]}")
    if 400 <= response.status_code < 500:
        try:
            json.loads(response.text)
        except ValueError:
            problems.append("a 4xx whose body is not JSON")
    return problems


def send(chat: MediaChat, media: Sequence[Media], record: Record | None = None) -> httpx.Response:
    """The answer to `media` (its status recorded through `record`, where given: harness.checks.observed), or
    an AssertionError when none came: the connection dropped, or nothing within the client's timeout."""
    record = record or (lambda name, value: None)
    try:
        with no_answer(record):
            return answered(record, chat.post(media))
    except httpx.TimeoutException as exc:
        raise AssertionError(f"sent {describe(media)}: no answer within {chat.api.timeout.read} s "
                             f"({type(exc).__name__}); the server holds the request") from None
    except httpx.TransportError as exc:
        raise AssertionError(f"sent {describe(media)}: the server dropped the connection without an answer "
                             f"({type(exc).__name__}: {exc}); did it crash?") from None


def assert_still_healthy(endpoint: Endpoint, server: ServerFacts, after: str, probe: Media) -> None:
    """On a fresh connection: /health answers 200 and a good request with `probe` still gets its answer."""
    with endpoint.client() as client:
        health = client.get(endpoint.health_path)
        assert health.status_code == 200, f"after {after}: {endpoint.health_path} answered {health.status_code}"
        MediaChat(client, endpoint, server, max_tokens=4).ask([probe])


def check_refusal(response: httpx.Response, sent: str, may_succeed: bool, why: str) -> None:
    """Fails, saying why, unless the answer is a clean refusal (or a 200 where `may_succeed`)."""
    problems = error_problems(response)
    status = response.status_code
    if status == 200 and not may_succeed:
        problems.append("a 200 for input that must be refused")
    elif status != 200 and status < 400:
        problems.append(f"status {status}, neither an answer nor an error")
    assert not problems, (f"sent {sent} ({why}); expected a 4xx{' or 200' if may_succeed else ''}: "
                          f"{'; '.join(problems)}; answered {response.status_code}: {trimmed(response.text)}")
