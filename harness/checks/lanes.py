"""Lanes (seed 002): one endpoint serving several models that take turns in GPU memory. A request for a
model that is not loaded waits while the deployment unloads one and loads the other (30-60 s on the
seed's GPU); none may be lost or fail. `drive` sends interleaved requests, one at a time (each change of
model is a switch, timed) and then all models at once (requests queued behind a switch), and records
every request whole, so a check can say which one failed and how."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from harness.checks import openai_shapes


@dataclass(frozen=True)
class LaneRequest:
    model: str
    phase: str  # sequential | concurrent
    seconds: float
    status: int | None  # None: no answer at all (connection error, timeout)
    problem: str = ""  # why it is not a good answer; empty when it is

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Switch:
    before: str
    after: str
    seconds: float  # the first request for `after`, sent when `before` had just answered
    steady_seconds: float | None  # a request to `after` once loaded, for comparison


@dataclass
class LaneReport:
    requests: list[LaneRequest] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)

    @property
    def failed(self) -> list[LaneRequest]:
        return [r for r in self.requests if not r.ok]


def ask(client: httpx.Client, model: str, phase: str, prompt: str) -> LaneRequest:
    started = time.perf_counter()
    try:
        response = client.post("/v1/chat/completions", json={
            "model": model, "max_tokens": 4, "messages": [{"role": "user", "content": prompt}]})
    except httpx.HTTPError as exc:
        return LaneRequest(model, phase, time.perf_counter() - started, None, f"no answer: {type(exc).__name__}")
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return LaneRequest(model, phase, seconds, response.status_code, f"HTTP {response.status_code}: "
                           f"{response.text[:160]}")
    try:
        body = response.json()
    except ValueError:
        return LaneRequest(model, phase, seconds, 200, "the answer is not JSON")
    problems = openai_shapes.chat_completion(body)
    # a server may name a more specific snapshot of the model (OpenAI does), never another model
    if not problems and not str(body.get("model", "")).startswith(model):
        problems = [f"answered as model {body.get('model')!r}, not {model!r}"]
    return LaneRequest(model, phase, seconds, 200, "; ".join(problems))


def drive(client: httpx.Client, models: list[str], rounds: int = 1) -> LaneReport:
    """Sequential: models[0], models[1], ..., then back to models[0] (`rounds` times around), each switch
    timed against a second request to the same model. Then two requests per model, all at once: at least
    one switch is needed, and the requests that arrive meanwhile must wait for it, not fail."""
    report = LaneReport()
    order = [*[m for _ in range(rounds) for m in models], models[0]]
    previous: str | None = None
    for i, model in enumerate(order):
        first = ask(client, model, "sequential", f"lane {model} request {i}")
        report.requests.append(first)
        if previous is not None and previous != model:
            steady = ask(client, model, "sequential", f"lane {model} request {i} again")
            report.requests.append(steady)
            report.switches.append(Switch(previous, model, first.seconds, steady.seconds if steady.ok else None))
        previous = model
    burst = [m for m in reversed(models) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=len(burst)) as pool:
        report.requests.extend(pool.map(lambda m: ask(client, m, "concurrent", f"lane {m} together"), burst))
    return report
