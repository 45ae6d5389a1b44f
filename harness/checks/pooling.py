"""vLLM's pooling routes called the way the pooling suites judge them: `/v1/embeddings` answers decoded
(float lists, or base64 little-endian float32 as OpenAI's client decodes them) and vectors compared within
a tolerance, each call kept whole (openai_calls.Call) so a failing check says what was sent and what came back."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import httpx

from harness.checks import openai_calls
from harness.checks.openai_calls import Call

EMBEDDINGS, POOLING = "/v1/embeddings", "/pooling"
# float32 arithmetic in another batch shape may round differently; a real defect moves a vector far more
BATCH_TOLERANCE = 1e-4
Vector = list[float]


def embed(api: httpx.Client, model: str, inputs: Any, **fields: Any) -> tuple[list[Vector], Call]:
    """POST /v1/embeddings; asserts an OpenAI embedding list with one vector per input, in `index` order."""
    call = openai_calls.post(api, EMBEDDINGS, {"model": model, "input": inputs, **fields})
    assert call.status == 200, call.why("200 with an embedding list")
    body = call.json if isinstance(call.json, dict) else {}
    data = body.get("data")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    assert body.get("object") == "list" and isinstance(data, list) and len(data) == count, call.why(
        f"an object 'list' with {count} data items")
    assert [d.get("index") for d in data] == list(range(count)), call.why(f"indexes 0..{count - 1} in order")
    assert all(d.get("object") == "embedding" for d in data), call.why("each item an 'embedding' object")
    usage = body.get("usage") or {}
    assert isinstance(usage.get("prompt_tokens"), int) and usage["prompt_tokens"] > 0, call.why(
        "usage.prompt_tokens, a positive count")
    vectors = [decode(d.get("embedding"), fields.get("encoding_format", "float")) for d in data]
    assert all(v and all(math.isfinite(x) for x in v) for v in vectors), call.why("non-empty vectors of finite floats")
    assert len({len(v) for v in vectors}) == 1, call.why("vectors of one dimension")
    return vectors, call


def decode(embedding: Any, encoding_format: str) -> Vector:
    if encoding_format == "base64":
        raw = base64.b64decode(embedding) if isinstance(embedding, str) else b""
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(x) for x in embedding] if isinstance(embedding, list) else []


def distance(a: Vector, b: Vector) -> float:
    """The largest difference of one coordinate; infinite for vectors of different sizes."""
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) if len(a) == len(b) else math.inf
