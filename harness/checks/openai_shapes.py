"""The shapes of OpenAI API objects, as the API reference defines them, checked on decoded JSON.

Each function returns a list of problems (empty: conforming), each naming the JSON path, so one check
reports everything that is wrong at once. Only what OpenAI clients rely on is required: extra fields
(vLLM's `max_model_len`, `prompt_logprobs`, `kv_transfer_params`, ...) are always allowed, and
optional fields may be absent or null.
"""

from __future__ import annotations

import json
from typing import Any

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")
# OpenAI's nested error shape, and the flat one older vLLM releases send
ERROR_SHAPES = ("openai-nested", "vllm-flat")


def trim(value: Any, limit: int = 300) -> str:
    """A value as compact JSON (or text), cut to `limit` characters for failure messages."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def field(self, obj: dict[str, Any], path: str, key: str, kinds: tuple[type, ...], *,
              optional: bool = False) -> Any:
        """obj[key] if it has one of `kinds` (bool never counts as int); a problem otherwise."""
        where = f"{path}.{key}" if path else key
        if key not in obj or obj[key] is None:
            if not optional:
                self.problems.append(f"{where} is missing" if key not in obj else f"{where} is null")
            return None
        value = obj[key]
        if isinstance(value, bool) and bool not in kinds:
            self.problems.append(f"{where} must be {_names(kinds)}, got {trim(value, 60)}")
            return None
        if not isinstance(value, kinds):
            self.problems.append(f"{where} must be {_names(kinds)}, got {trim(value, 60)}")
            return None
        return value

    def equals(self, obj: dict[str, Any], path: str, key: str, expected: str) -> None:
        if obj.get(key) != expected:
            self.problems.append(f"{path}.{key} must be '{expected}', got {trim(obj.get(key), 60)}")

    def header(self, body: dict[str, Any], object_name: str) -> list[dict[str, Any]]:
        """The fields every completion object and chunk shares; returns the choices that are objects."""
        self.field(body, "", "id", (str,))
        self.equals(body, "", "object", object_name)
        self.field(body, "", "created", (int,))
        self.field(body, "", "model", (str,))
        self.field(body, "", "system_fingerprint", (str,), optional=True)
        choices = self.field(body, "", "choices", (list,)) or []
        good = []
        for i, choice in enumerate(choices):
            if isinstance(choice, dict):
                good.append(choice)
                self.field(choice, f"choices[{i}]", "index", (int,))
            else:
                self.problems.append(f"choices[{i}] must be an object, got {trim(choice, 60)}")
        return good

    def finish_reason(self, choice: dict[str, Any], path: str, *, optional: bool) -> None:
        reason = self.field(choice, path, "finish_reason", (str,), optional=optional)
        if reason is not None and reason not in FINISH_REASONS:
            self.problems.append(f"{path}.finish_reason must be one of {', '.join(FINISH_REASONS)}, got '{reason}'")


def _names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "an object",
             bool: "a boolean"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def usage(value: Any, path: str = "usage") -> list[str]:
    """prompt/completion/total token counts: integers >= 0 with total = prompt + completion."""
    if not isinstance(value, dict):
        return [f"{path} must be an object, got {trim(value, 60)}"]
    check = _Checker()
    counts = {k: check.field(value, path, k, (int,)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    problems = list(check.problems)
    if all(isinstance(v, int) for v in counts.values()):
        if min(counts.values()) < 0:  # type: ignore[type-var]
            problems.append(f"{path} has a negative count: {trim(value, 120)}")
        if counts["total_tokens"] != counts["prompt_tokens"] + counts["completion_tokens"]:  # type: ignore[operator]
            problems.append(f"{path}.total_tokens {counts['total_tokens']} != prompt_tokens "
                            f"{counts['prompt_tokens']} + completion_tokens {counts['completion_tokens']}")
    return problems


def chat_completion(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return [f"the body must be a JSON object, got {trim(body, 60)}"]
    check = _Checker()
    choices = check.header(body, "chat.completion")
    if not choices and not check.problems:
        check.problems.append("choices is empty")
    for i, choice in enumerate(choices):
        path = f"choices[{i}]"
        message = check.field(choice, path, "message", (dict,))
        if message is not None:
            check.equals(message, f"{path}.message", "role", "assistant")
            content = check.field(message, f"{path}.message", "content", (str,), optional=True)
            calls = check.field(message, f"{path}.message", "tool_calls", (list,), optional=True)
            if content is None and not calls:
                check.problems.append(f"{path}.message has neither content nor tool_calls")
        check.finish_reason(choice, path, optional=False)
        check.field(choice, path, "logprobs", (dict,), optional=True)
    return check.problems + usage(body.get("usage"))


def chat_chunk(chunk: Any) -> list[str]:
    if not isinstance(chunk, dict):
        return [f"a chunk must be a JSON object, got {trim(chunk, 60)}"]
    check = _Checker()
    for i, choice in enumerate(check.header(chunk, "chat.completion.chunk")):
        path = f"choices[{i}]"
        delta = check.field(choice, path, "delta", (dict,))
        if delta is not None:
            role = check.field(delta, f"{path}.delta", "role", (str,), optional=True)
            if role is not None and role != "assistant":
                check.problems.append(f"{path}.delta.role must be 'assistant', got '{role}'")
            check.field(delta, f"{path}.delta", "content", (str,), optional=True)
        check.finish_reason(choice, path, optional=True)
    return check.problems + (usage(chunk["usage"]) if chunk.get("usage") is not None else [])


def completion(body: Any, *, chunk: bool = False) -> list[str]:
    """A `text_completion` (streamed chunks carry the same object name)."""
    if not isinstance(body, dict):
        return [f"the body must be a JSON object, got {trim(body, 60)}"]
    check = _Checker()
    choices = check.header(body, "text_completion")
    if not chunk and not choices and not check.problems:
        check.problems.append("choices is empty")
    for i, choice in enumerate(choices):
        path = f"choices[{i}]"
        check.field(choice, path, "text", (str,))
        check.finish_reason(choice, path, optional=chunk)
        check.field(choice, path, "logprobs", (dict,), optional=True)
    if chunk:
        return check.problems + (usage(body["usage"]) if body.get("usage") is not None else [])
    return check.problems + usage(body.get("usage"))


def model_list(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return [f"the body must be a JSON object, got {trim(body, 60)}"]
    check = _Checker()
    check.equals(body, "", "object", "list")
    for i, card in enumerate(check.field(body, "", "data", (list,)) or []):
        problems = model_card(card, f"data[{i}]")
        check.problems.extend(problems)
    return check.problems


def model_card(card: Any, path: str = "") -> list[str]:
    if not isinstance(card, dict):
        return [f"{path or 'the model'} must be an object, got {trim(card, 60)}"]
    check = _Checker()
    check.field(card, path, "id", (str,))
    check.equals(card, path, "object", "model")
    check.field(card, path, "created", (int,))
    check.field(card, path, "owned_by", (str,))
    return check.problems


def error_shape(body: Any) -> tuple[str | None, str]:
    """Which error shape a body has and its message: OpenAI's `{"error": {"message": ...}}` or the flat
    `{"object": "error", "message": ...}` of older vLLM. (None, "") when it is neither."""
    if isinstance(body, dict):
        nested = body.get("error")
        if isinstance(nested, dict) and isinstance(nested.get("message"), str):
            return ERROR_SHAPES[0], nested["message"]
        if body.get("object") == "error" and isinstance(body.get("message"), str):
            return ERROR_SHAPES[1], body["message"]
    return None, ""
