"""Conformance, vLLM's tokenizer endpoints (`/tokenize`, `/detokenize`): the prompt and chat-messages forms,
add_special_tokens and add_generation_prompt, the round trip over a mixed-script corpus, and counts that agree
with the usage of the same chat and completions requests. vLLM's own extension, so capability-gated."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.checks import openai_calls, refusals
from harness.checks import tokenizer as tok
from harness.checks.openai_calls import LONG_PROMPT, ServerFacts
from harness.server.endpoint import Endpoint

# the messages form needs the model's chat template: checked where the target serves chat
pytestmark = pytest.mark.requires("tokenize")
MESSAGES = [{"role": "user", "content": LONG_PROMPT}]


@pytest.mark.parametrize("script", list(tok.CORPUS))
def test_detokenize_inverts_tokenize(api: httpx.Client, endpoint: Endpoint, script: str) -> None:
    text = tok.CORPUS[script]
    tokens = tok.ids(api, endpoint.model, prompt=text, add_special_tokens=False)
    again = tok.ids(api, endpoint.model, prompt=text, add_special_tokens=False)
    assert again == tokens, f"{text!r} tokenized twice gave {tokens} then {again}: not deterministic"
    back, call = tok.detokenize(api, endpoint.model, tokens)
    if back == text:
        return
    # a round trip exists only where the tokenizer tells the texts apart; where it cannot, say so
    if tok.ids(api, endpoint.model, prompt=back, add_special_tokens=False) == tokens:
        pytest.skip(f"this tokenizer cannot tell {script} text {text!r} from {back!r}: both tokenize to the same "
                    "ids (it drops what tells them apart), so no exact round trip exists")
    same = tok.indistinct_characters(api, endpoint.model, text)
    if same is not None:
        pytest.skip(f"this tokenizer cannot represent {script} text: {same[0]!r} and {same[1]!r} both tokenize "
                    f"to {same[2]}, so {text!r} has no exact round trip (it came back as {back!r})")
    assert back == text, call.why(f"the text tokenized as {tokens}: {text!r}")


@pytest.mark.requires("completions")
def test_tokenize_prompt_count_is_the_completions_prompt_tokens(api: httpx.Client, endpoint: Endpoint) -> None:
    counted = tok.tokenize(api, endpoint.model, prompt=LONG_PROMPT).json["count"]
    call = openai_calls.post(api, refusals.COMPLETIONS,
                             openai_calls.completion_payload(endpoint.model, max_tokens=1))
    assert call.status == 200, call.why("200 with a text_completion")
    used = call.json["usage"]["prompt_tokens"]
    assert counted == used, call.why(f"usage.prompt_tokens {counted}, what /tokenize counts for the same prompt")


@pytest.mark.requires("chat")
def test_tokenize_messages_count_is_the_chat_prompt_tokens(api: httpx.Client, endpoint: Endpoint) -> None:
    counted = tok.tokenize(api, endpoint.model, messages=MESSAGES, add_generation_prompt=True).json["count"]
    call = openai_calls.post(api, refusals.CHAT, openai_calls.chat_payload(endpoint.model, max_tokens=1))
    assert call.status == 200, call.why("200 with a chat completion")
    used = call.json["usage"]["prompt_tokens"]
    assert counted == used, call.why(f"usage.prompt_tokens {counted}, what /tokenize counts for the same messages "
                                     "(the chat template applied, with the generation prompt)")


@pytest.mark.requires("chat")  # the messages form needs a chat template
def test_tokenize_messages_applies_the_chat_template(api: httpx.Client, endpoint: Endpoint) -> None:
    content = tok.ids(api, endpoint.model, prompt=LONG_PROMPT, add_special_tokens=False)
    chat = tok.ids(api, endpoint.model, messages=MESSAGES, add_generation_prompt=False)
    text, call = tok.detokenize(api, endpoint.model, chat)
    assert len(chat) > len(content) and LONG_PROMPT in text, call.why(
        f"the message wrapped by the chat template: more than its own {len(content)} tokens, and the text "
        f"{LONG_PROMPT!r} inside it")


@pytest.mark.requires("chat")  # the messages form needs a chat template
def test_tokenize_add_generation_prompt_appends_the_prompt(api: httpx.Client, endpoint: Endpoint) -> None:
    without = tok.ids(api, endpoint.model, messages=MESSAGES, add_generation_prompt=False)
    with_prompt = tok.ids(api, endpoint.model, messages=MESSAGES, add_generation_prompt=True)
    if with_prompt == without:
        pytest.skip(f"this chat template ignores add_generation_prompt ({len(without)} tokens both ways)")
    assert with_prompt[:len(without)] == without and len(with_prompt) > len(without), (
        f"add_generation_prompt=true must append the generation prompt to the same conversation: without it "
        f"{without}, with it {with_prompt}")


@pytest.mark.parametrize("form", ["prompt", pytest.param("messages", marks=pytest.mark.requires("chat"))])
def test_tokenize_add_special_tokens_only_adds_special_tokens(api: httpx.Client, endpoint: Endpoint,
                                                              form: str) -> None:
    fields = {"prompt": LONG_PROMPT} if form == "prompt" else {"messages": MESSAGES}
    without = tok.ids(api, endpoint.model, **fields, add_special_tokens=False)
    with_special = tok.ids(api, endpoint.model, **fields, add_special_tokens=True)
    assert tok.is_contiguous_in(without, with_special), (
        f"add_special_tokens=true may only add tokens around the {form}'s own: without it {without}, with it "
        f"{with_special}")
    added = len(with_special) - len(without)
    if added == 0:
        pytest.skip(f"this tokenizer adds no special tokens to the {form} form ({len(without)} tokens both ways)")
    shown, _ = tok.detokenize(api, endpoint.model, with_special)
    plain, _ = tok.detokenize(api, endpoint.model, without)
    assert plain in shown, f"the {added} added tokens wrap the same text: {plain!r} is not in {shown!r}"


def test_tokenize_reports_the_context_length(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> None:
    call = tok.tokenize(api, endpoint.model, prompt=LONG_PROMPT)
    if server.max_model_len is None:
        pytest.skip("the server's context length is unknown (no max_model_len in /v1/models or the spec)")
    assert call.json.get("max_model_len") == server.max_model_len, call.why(
        f"max_model_len {server.max_model_len}, the served context length")


BAD: dict[str, tuple[str, Callable[[str], dict[str, object]]]] = {
    "neither-prompt-nor-messages": (tok.TOKENIZE, lambda model: {"model": model}),
    "prompt-not-a-string": (tok.TOKENIZE, lambda model: {"model": model, "prompt": {"text": "hi"}}),
    "generation-prompt-and-continue": (tok.TOKENIZE, lambda model: {
        "model": model, "messages": MESSAGES, "add_generation_prompt": True, "continue_final_message": True}),
    "negative-token-id": (tok.DETOKENIZE, lambda model: {"model": model, "tokens": [5, -1]}),
    "tokens-not-a-list": (tok.DETOKENIZE, lambda model: {"model": model, "tokens": "1 2 3"}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_tokenizer_bad_request_is_a_4xx_with_a_message(api: httpx.Client, endpoint: Endpoint, case: str,
                                                       record_property: pytest.RecordProperty) -> None:
    path, payload = BAD[case]
    call = openai_calls.post(api, path, payload(endpoint.model))
    refusals.rejected_and_still_serving(call, record_property, api, endpoint)
