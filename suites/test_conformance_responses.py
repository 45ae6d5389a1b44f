"""Conformance, the Responses API (`/v1/responses`) without streaming, raw HTTP: the response object,
its output items and text, usage, the sampling parameters, instructions, multi-turn input items,
`previous_response_id` where the server stores responses, and bad requests.

The model may be random-weight: no check assumes specific text. Where OpenAI documents what a parameter
means in chat terms (instructions are a system message, input items are the conversation), the check
compares with chat completions at temperature 0 on the same server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.checks import openai_calls, responses_shapes
from harness.checks.openai_calls import RESPONSES, Call, ServerFacts
from harness.checks.openai_shapes import trim
from harness.checks.refusals import rejected, rejected_and_still_serving, still_serving
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("responses")
CHAT = "/v1/chat/completions"
INSTRUCTIONS = "Answer as a pirate would, in one short sentence."
CONVERSATION = [("user", "Hi, who keeps the lighthouse?"), ("assistant", "An old keeper named Ada."),
                ("user", "What does she do at night?")]


def respond(api: httpx.Client, endpoint: Endpoint, **overrides: Any) -> Call:
    call = openai_calls.post(api, RESPONSES, openai_calls.responses_payload(endpoint.model, **overrides))
    assert call.status == 200, call.why("200 with a response object")
    problems = responses_shapes.response(call.json)
    assert not problems, call.why(f"an OpenAI response object; problems: {problems[:6]}")
    return call


def text(call: Call) -> str:
    return responses_shapes.output_text(call.json)


def chat_text(api: httpx.Client, messages: list[dict[str, Any]], endpoint: Endpoint, tokens: int,
              server: ServerFacts) -> tuple[str, int]:
    """The greedy chat completion of the same conversation: its text and prompt tokens."""
    call = openai_calls.post(api, CHAT, openai_calls.chat_payload(endpoint.model, messages=messages,
                                                                  max_tokens=tokens, **server.exact_length()))
    assert call.status == 200, call.why("200 from chat completions, the reference answer")
    return call.json["choices"][0]["message"]["content"] or "", call.json["usage"]["prompt_tokens"]


def test_responses_shape_output_and_usage(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    call = respond(api, endpoint, max_output_tokens=16, **server.exact_length())
    body, usage = call.json, call.json["usage"]
    messages = [i for i in body["output"] if i["type"] == "message"]
    assert len(messages) == 1 and messages[0]["content"], call.why("one assistant message item with content")
    assert 0 < usage["output_tokens"] <= 16 and usage["input_tokens"] > 0, call.why(
        "usage with input_tokens > 0 and 1..16 output tokens (max_output_tokens 16)")
    assert text(call) or not server.vllm_like, call.why("output text (ignore_eos: 16 tokens of it)")


def test_responses_max_output_tokens_is_honoured(api: httpx.Client, endpoint: Endpoint,
                                                 server: ServerFacts) -> None:
    call = respond(api, endpoint, max_output_tokens=5, **server.exact_length())
    body, tokens = call.json, call.json["usage"]["output_tokens"]
    reason = (body.get("incomplete_details") or {}).get("reason")
    cut = body["status"] == "incomplete" and reason == "max_output_tokens" and tokens == 5
    if server.vllm_like:  # ignore_eos: the answer must run into the limit
        assert cut, call.why("status 'incomplete', incomplete_details.reason 'max_output_tokens', 5 output tokens")
    else:  # an early end is legal: 'completed' below the limit
        assert cut or (body["status"] == "completed" and tokens <= 5), call.why(
            "'incomplete' (max_output_tokens) with 5 tokens, or 'completed' with at most 5")
    assert body.get("max_output_tokens") in (None, 5), call.why("max_output_tokens echoed as 5 (or null)")


def test_responses_temperature_is_applied(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    greedy = [text(respond(api, endpoint, max_output_tokens=12, **server.exact_length())) for _ in range(2)]
    assert greedy[0] == greedy[1], f"temperature 0 gave two answers: {greedy}"
    hot = [respond(api, endpoint, max_output_tokens=12, temperature=1.5, **server.exact_length())
           for _ in range(4)]
    echoed = {c.json.get("temperature") for c in hot} - {None}
    assert echoed <= {1.5}, hot[0].why("temperature echoed as 1.5 (or null)")
    # four 12-token samples at temperature 1.5 all equal to each other: the temperature never reached sampling
    assert len({text(c) for c in hot}) > 1, hot[-1].why(
        f"different samples at temperature 1.5; all four were {trim(text(hot[0]), 80)!r}")


def test_responses_tiny_top_p_samples_greedily(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    # top_p keeps the smallest set of tokens whose probability reaches it: at 1e-6 only the best one,
    # so even a hot sample is the greedy answer
    greedy = text(respond(api, endpoint, max_output_tokens=12, **server.exact_length()))
    narrow = respond(api, endpoint, max_output_tokens=12, temperature=1.5, top_p=1e-6, **server.exact_length())
    assert narrow.json.get("top_p") in (None, 1e-6), narrow.why("top_p echoed as 1e-6 (or null)")
    assert text(narrow) == greedy, narrow.why(f"the greedy answer {trim(greedy, 80)!r} (top_p 1e-6)")


def test_responses_instructions_act_as_a_system_message(api: httpx.Client, endpoint: Endpoint,
                                                        server: ServerFacts) -> None:
    plain = respond(api, endpoint, max_output_tokens=12, **server.exact_length())
    told = respond(api, endpoint, max_output_tokens=12, instructions=INSTRUCTIONS, **server.exact_length())
    assert told.json.get("instructions") == INSTRUCTIONS, told.why(f"instructions echoed as {INSTRUCTIONS!r}")
    assert told.json["usage"]["input_tokens"] > plain.json["usage"]["input_tokens"], told.why(
        f"more input tokens than without instructions ({plain.json['usage']['input_tokens']})")
    if endpoint.capabilities.has("chat"):  # OpenAI: instructions are a system message put first
        messages = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": openai_calls.LONG_PROMPT}]
        want, prompt_tokens = chat_text(api, messages, endpoint, 12, server)
        assert (text(told), told.json["usage"]["input_tokens"]) == (want, prompt_tokens), told.why(
            f"the chat answer with the instructions as a system message: {trim(want, 80)!r}, "
            f"{prompt_tokens} prompt tokens")


def _items(turns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The conversation as typed input items: message items with input_text / output_text parts."""
    kind = {"user": "input_text", "assistant": "output_text"}
    return [{"type": "message", "role": role, "content": [{"type": kind[role], "text": said}]} for role, said in turns]


@pytest.mark.requires("chat")
def test_responses_multi_turn_input_matches_chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    messages = [{"role": role, "content": said} for role, said in CONVERSATION]
    want, prompt_tokens = chat_text(api, messages, endpoint, 12, server)
    for form, given in (("typed message items", _items(CONVERSATION)), ("role/content messages", messages)):
        call = respond(api, endpoint, input=given, max_output_tokens=12, **server.exact_length())
        assert (text(call), call.json["usage"]["input_tokens"]) == (want, prompt_tokens), call.why(
            f"as {form}: the chat answer to the same {len(messages)} turns, {trim(want, 80)!r} with "
            f"{prompt_tokens} input tokens")


@pytest.fixture(scope="module")
def stored(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> Call:
    """A first turn the server stored, or a skip saying it stores none."""
    first = respond(api, endpoint, input=CONVERSATION[0][1], max_output_tokens=8, store=True,
                    **server.exact_length())
    again = openai_calls.get(api, f"{RESPONSES}/{first.json['id']}")
    if again.status == 404:
        pytest.skip(f"the server does not store responses (store=true, then GET {RESPONSES}/{{id}} answered 404; "
                    "vLLM stores them only with VLLM_ENABLE_RESPONSES_API_STORE=1)")
    assert again.status == 200 and again.json.get("id") == first.json["id"], again.why(
        f"the stored response {first.json['id']}")
    assert responses_shapes.output_text(again.json) == text(first), again.why(f"the stored text {text(first)!r}")
    return first


def test_responses_previous_response_id_continues(api: httpx.Client, endpoint: Endpoint, server: ServerFacts,
                                                  stored: Call) -> None:
    follow = respond(api, endpoint, input=CONVERSATION[2][1], previous_response_id=stored.json["id"],
                     max_output_tokens=12, **server.exact_length())
    turns = [("user", CONVERSATION[0][1]), ("assistant", text(stored)), ("user", CONVERSATION[2][1])]
    inline = respond(api, endpoint, input=_items(turns), max_output_tokens=12, **server.exact_length())
    assert follow.json.get("previous_response_id") in (None, stored.json["id"]), follow.why(
        "previous_response_id echoed")
    assert text(follow) == text(inline), follow.why(
        f"the answer to the whole conversation sent inline: {trim(text(inline), 80)!r}")


def _body(model: str, **overrides: Any) -> dict[str, Any]:
    return openai_calls.responses_payload(model, **{"max_output_tokens": 4, **overrides})


BAD_REQUESTS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("negative-max-output-tokens", lambda m: _body(m, max_output_tokens=-1)),
    ("max-output-tokens-wrong-type", lambda m: _body(m, max_output_tokens="ten")),
    ("temperature-out-of-range", lambda m: _body(m, temperature=-1.0)),
    ("top-p-out-of-range", lambda m: _body(m, top_p=5.0)),
    ("missing-input", lambda m: {"model": m, "max_output_tokens": 4}),
    ("input-wrong-type", lambda m: _body(m, input=42)),
    ("unknown-input-part", lambda m: _body(m, input=[{"role": "user", "content": [{"type": "no_such_part"}]}])),
    ("unknown-previous-response-id", lambda m: _body(m, previous_response_id="resp_no_such_response_harness")),
]


@pytest.mark.parametrize("build", [pytest.param(b, id=name) for name, b in BAD_REQUESTS])
def test_responses_bad_request_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint,
                                                       build: Callable[[str], dict[str, Any]],
                                                       record_property: Callable[[str, object], None]) -> None:
    call = openai_calls.post(api, RESPONSES, build(endpoint.model))
    rejected_and_still_serving(call, record_property, api, endpoint)


def test_responses_malformed_json_is_a_4xx(api: httpx.Client, endpoint: Endpoint,
                                           record_property: Callable[[str, object], None]) -> None:
    call = openai_calls.post(api, RESPONSES, None, raw=b'{"model": "m", "input": "hi"')
    rejected_and_still_serving(call, record_property, api, endpoint)


def test_responses_unknown_model_is_404(api: httpx.Client, endpoint: Endpoint,
                                        record_property: Callable[[str, object], None]) -> None:
    call = openai_calls.post(api, RESPONSES, _body("no-such-model-harness"))
    rejected(call, record_property, "404")
    assert call.status == 404, call.why("404 for a model the server does not serve")
    still_serving(api, endpoint, call)


def test_responses_cut_message_item_is_incomplete(api: httpx.Client, endpoint: Endpoint,
                                                  server: ServerFacts) -> None:
    # OpenAI: an output item's status is in_progress, completed or incomplete; the message that
    # max_output_tokens cut is incomplete, so a client reading items alone still sees the truncation
    call = respond(api, endpoint, max_output_tokens=4, **server.exact_length())
    if call.json["status"] != "incomplete":
        pytest.skip(f"the answer ended before max_output_tokens (status '{call.json['status']}'): nothing was cut")
    statuses = [item.get("status") for item in call.json["output"] if item["type"] == "message"]
    assert statuses and statuses[-1] == "incomplete", call.why(
        f"the last message item, cut by max_output_tokens, with status 'incomplete'; item statuses: {statuses}")
