"""The Responses API's objects (`/v1/responses`), as OpenAI's API reference defines them, checked on
decoded JSON: the `response` object, its output items and content parts, its usage, and each streamed
event. Like harness.checks.openai_shapes, each function returns problems naming the JSON path; extra fields
(vLLM's `kv_transfer_params`, `input_messages`, ...) are always allowed.
"""

from __future__ import annotations

from typing import Any

from harness.checks.openai_shapes import _Checker, trim

STATUSES = ("completed", "incomplete", "in_progress", "failed", "cancelled", "queued")
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
# the events that carry a whole `response` object
RESPONSE_EVENTS = ("response.created", "response.in_progress", "response.queued", *TERMINAL_EVENTS)


def response(body: Any, *, final: bool = True, path: str = "") -> list[str]:
    """A `response` object. `final`: a finished one (usage required, status not in progress)."""
    if not isinstance(body, dict):
        return [f"{path or 'the body'} must be a JSON object, got {trim(body, 60)}"]
    check = _Checker()
    check.field(body, path, "id", (str,))
    check.equals(body, path, "object", "response")
    check.field(body, path, "created_at", (int, float))
    check.field(body, path, "model", (str,))
    status = check.field(body, path, "status", (str,))
    if status is not None and status not in STATUSES:
        check.problems.append(f"{_at(path, 'status')} must be one of {', '.join(STATUSES)}, got '{status}'")
    if final and status in ("in_progress", "queued"):
        check.problems.append(f"{_at(path, 'status')} is '{status}' in a finished response")
    if status == "incomplete":
        details = check.field(body, path, "incomplete_details", (dict,))
        if details is not None:
            check.field(details, _at(path, "incomplete_details"), "reason", (str,))
    check.field(body, path, "error", (dict,), optional=True)
    for key in ("instructions", "previous_response_id"):
        check.field(body, path, key, (str, list), optional=True)
    for key in ("temperature", "top_p"):
        check.field(body, path, key, (int, float), optional=True)
    check.field(body, path, "max_output_tokens", (int,), optional=True)
    for i, item in enumerate(check.field(body, path, "output", (list,)) or []):
        check.problems.extend(output_item(item, f"{_at(path, 'output')}[{i}]"))
    if final:
        return check.problems + usage(body.get("usage"), _at(path, "usage"))
    return check.problems + (usage(body["usage"], _at(path, "usage")) if body.get("usage") is not None else [])


def output_item(item: Any, path: str) -> list[str]:
    """One `output` item. Messages are checked part by part; other kinds (reasoning, function_call, ...)
    only need their type and id."""
    if not isinstance(item, dict):
        return [f"{path} must be an object, got {trim(item, 60)}"]
    check = _Checker()
    kind = check.field(item, path, "type", (str,))
    check.field(item, path, "id", (str,), optional=kind != "message")
    if kind == "message":
        check.equals(item, path, "role", "assistant")
        check.field(item, path, "status", (str,))
        for i, part in enumerate(check.field(item, path, "content", (list,)) or []):
            check.problems.extend(content_part(part, f"{path}.content[{i}]"))
    return check.problems


def content_part(part: Any, path: str) -> list[str]:
    if not isinstance(part, dict):
        return [f"{path} must be an object, got {trim(part, 60)}"]
    check = _Checker()
    kind = check.field(part, path, "type", (str,))
    if kind == "output_text":
        check.field(part, path, "text", (str,))
        check.field(part, path, "annotations", (list,))
        check.field(part, path, "logprobs", (list,), optional=True)
    elif kind == "refusal":
        check.field(part, path, "refusal", (str,))
    elif kind is not None:
        check.problems.append(f"{path}.type must be 'output_text' or 'refusal', got '{kind}'")
    return check.problems


def usage(value: Any, path: str = "usage") -> list[str]:
    """input/output/total token counts (integers >= 0, total = input + output) and their documented
    details (`input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`)."""
    if not isinstance(value, dict):
        return [f"{path} must be an object, got {trim(value, 60)}"]
    check = _Checker()
    counts = {k: check.field(value, path, k, (int,)) for k in ("input_tokens", "output_tokens", "total_tokens")}
    for details, key in (("input_tokens_details", "cached_tokens"), ("output_tokens_details", "reasoning_tokens")):
        found = check.field(value, path, details, (dict,))
        if found is not None:
            check.field(found, f"{path}.{details}", key, (int,))
    if all(isinstance(v, int) for v in counts.values()):
        inp, out, total = counts["input_tokens"], counts["output_tokens"], counts["total_tokens"]
        if min(inp, out, total) < 0:  # type: ignore[type-var]
            check.problems.append(f"{path} has a negative count: {trim(value, 120)}")
        if total != inp + out:  # type: ignore[operator]
            check.problems.append(f"{path}.total_tokens {total} != input_tokens {inp} + output_tokens {out}")
    return check.problems


def event(payload: Any) -> list[str]:
    """One streamed event's data, by its `type`."""
    if not isinstance(payload, dict):
        return [f"an event must be a JSON object, got {trim(payload, 60)}"]
    check = _Checker()
    kind = check.field(payload, "", "type", (str,))
    check.field(payload, "", "sequence_number", (int,), optional=True)
    if kind in RESPONSE_EVENTS:
        return check.problems + response(payload.get("response"), final=kind in TERMINAL_EVENTS, path="response")
    if kind == "error":
        check.field(payload, "", "message", (str,))
        return check.problems
    if kind in ("response.output_item.added", "response.output_item.done"):
        check.field(payload, "", "output_index", (int,))
        return check.problems + output_item(payload.get("item"), "item")
    if kind and kind.startswith(("response.content_part.", "response.output_text.")):
        check.field(payload, "", "item_id", (str,))
        check.field(payload, "", "output_index", (int,))
        check.field(payload, "", "content_index", (int,))
        if kind.startswith("response.content_part."):
            check.problems.extend(content_part(payload.get("part"), "part"))
        elif kind == "response.output_text.delta":
            check.field(payload, "", "delta", (str,))
        elif kind == "response.output_text.done":
            check.field(payload, "", "text", (str,))
    return check.problems


def output_text(body: Any) -> str:
    """What the SDK's `response.output_text` gives: the text of every output_text part, in order."""
    items = body.get("output") if isinstance(body, dict) else None
    parts = [part for item in items if isinstance(item, dict) and item.get("type") == "message"
             for part in item.get("content") or []] if isinstance(items, list) else []
    return "".join(p.get("text") or "" for p in parts if isinstance(p, dict) and p.get("type") == "output_text")


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
