"""vLLM's tokenizer endpoints, /tokenize and /detokenize, called the way the tokenizer suite judges them:
each call kept whole (openai_calls.Call) so a failing check says what was sent and what came back."""

from __future__ import annotations

from typing import Any

import httpx

from harness.checks import openai_calls
from harness.checks.openai_calls import Call

TOKENIZE, DETOKENIZE = "/tokenize", "/detokenize"

# One sentence per script; each non-ASCII one holds at least two distinct characters of its script, so a
# tokenizer that cannot represent the script shows it by giving two different characters the same tokens.
CORPUS: dict[str, str] = {
    "ascii": "The quick brown fox jumps over 13 lazy dogs, twice!",
    "ascii-punctuation": "a+b=c; (x, y) -> [1, 2] {k: 'v'} #tag @user 50% ~ok?",
    "latin-accents": "naïve café, über straße",
    "greek": "Ελληνικά γράμματα",
    "cyrillic": "Русский текст",
    "cjk": "中文文本と日本語",
    "arabic": "اللغة العربية",
    "emoji": "emoji 🙂🚀",
    "mixed": "Hello мир 世界 γεια!",
}


def tokenize(api: httpx.Client, model: str, **fields: Any) -> Call:
    """POST /tokenize with `prompt=...` or `messages=...` (and its options); asserts a well-formed answer."""
    call = openai_calls.post(api, TOKENIZE, {"model": model, **fields})
    assert call.status == 200, call.why("200 with {count, max_model_len, tokens}")
    body = call.json if isinstance(call.json, dict) else {}
    tokens = body.get("tokens")
    assert isinstance(tokens, list) and all(isinstance(t, int) and t >= 0 for t in tokens), call.why(
        "tokens: a list of non-negative token ids")
    assert body.get("count") == len(tokens), call.why(f"count equal to the {len(tokens)} tokens listed")
    return call


def ids(api: httpx.Client, model: str, **fields: Any) -> list[int]:
    return list(tokenize(api, model, **fields).json["tokens"])


def detokenize(api: httpx.Client, model: str, tokens: list[int]) -> tuple[str, Call]:
    call = openai_calls.post(api, DETOKENIZE, {"model": model, "tokens": tokens})
    prompt = (call.json or {}).get("prompt") if isinstance(call.json, dict) else None
    assert call.status == 200 and isinstance(prompt, str), call.why('200 {"prompt": "<text>"}')
    return prompt, call


def indistinct_characters(api: httpx.Client, model: str, text: str) -> tuple[str, str, list[int]] | None:
    """Two different characters of `text` that tokenize (alone, no special tokens) to the same ids, if any:
    then no detokenizer can tell them apart, so `text` has no exact round trip through this tokenizer."""
    seen: dict[tuple[int, ...], str] = {}
    for char in dict.fromkeys(c for c in text if not c.isspace()):
        key = tuple(ids(api, model, prompt=char, add_special_tokens=False))
        if key in seen:
            return seen[key], char, list(key)
        seen[key] = char
    return None


def is_contiguous_in(part: list[int], whole: list[int]) -> bool:
    return any(whole[i:i + len(part)] == part for i in range(len(whole) - len(part) + 1))
