"""Pooling-route defects for the proxy (`/v1/embeddings`, `/pooling`, `/score`, `/rerank`, `/classify`): each
breaks one thing a server could, and counts how often it really changed something."""

from __future__ import annotations

import base64
import math
import random
import struct
from typing import Any

from tests.defects.proxy import Exchange, Reply
from tests.defects.tools import CountingDefect, CrashingDefect

EMBEDDINGS = "/v1/embeddings"


class EmbeddingsDefect(CountingDefect):
    path = EMBEDDINGS

    def items(self, exchange: Exchange, body: Any) -> list[dict[str, Any]]:
        data = body.get("data") if isinstance(body, dict) and self.mine(exchange) else None
        return data if isinstance(data, list) else []


class PerturbsLastBatchItem(EmbeddingsDefect):
    """A batch's last vector is nudged (0.01 on one coordinate): batching changes the answer."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        items = self.items(exchange, body)
        if len(items) > 1 and isinstance(items[-1].get("embedding"), list):
            self.hits += 1
            items[-1]["embedding"][0] += 0.01
        return body


class BigEndianBase64(EmbeddingsDefect):
    """base64 vectors packed big-endian, not little-endian float32 as OpenAI's clients decode them."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for item in self.items(exchange, body):
            if isinstance(item.get("embedding"), str):
                self.hits += 1
                raw = base64.b64decode(item["embedding"])
                values = struct.unpack(f"<{len(raw) // 4}f", raw)
                item["embedding"] = base64.b64encode(struct.pack(f">{len(values)}f", *values)).decode()
        return body


class OverCountsUsage(EmbeddingsDefect):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        usage = body.get("usage") if self.items(exchange, body) else None
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            self.hits += 1
            usage["prompt_tokens"] += 1
            usage["total_tokens"] = usage.get("total_tokens", 0) + 1
        return body


class NoisyVectors(EmbeddingsDefect):
    """Every answer carries fresh noise (1e-3): the same input gives another vector each time."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(7)

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for item in self.items(exchange, body):
            if isinstance(item.get("embedding"), list):
                self.hits += 1
                item["embedding"] = [x + self.rng.uniform(-1e-3, 1e-3) for x in item["embedding"]]
        return body


class IgnoresDimensions(EmbeddingsDefect):
    """`dimensions` is dropped: the full vector comes back."""

    def request(self, exchange: Exchange) -> Reply | None:
        self.rewrite_request(exchange, lambda body: body.pop("dimensions", None) is not None)
        return None


class CrashOnEmptyList(CrashingDefect):
    path = EMBEDDINGS

    def crashes(self, body: dict[str, Any]) -> bool:
        return body.get("input") == []


class PoolingDiffers(CountingDefect):
    """/pooling answers another vector than /v1/embeddings for the same input."""

    path = "/pooling"

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        data = body.get("data") if isinstance(body, dict) and self.mine(exchange) else None
        if isinstance(data, list) and data and isinstance(data[0].get("data"), list):
            self.hits += 1
            data[0]["data"] = [-x for x in data[0]["data"]]
        return body


class RerankDefect(CountingDefect):
    path = "/v1/rerank"

    def results(self, exchange: Exchange, body: Any) -> list[dict[str, Any]]:
        found = body.get("results") if isinstance(body, dict) and self.mine(exchange) else None
        return found if isinstance(found, list) else []


class MisSortsRerank(RerankDefect):
    """Results in the sent order, not by score."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        results = self.results(exchange, body)
        if len(results) > 1:
            self.hits += 1
            body["results"] = sorted(results, key=lambda r: r["index"])
            if body["results"] == results:  # already in sent order: reverse it so the order is wrong
                body["results"] = results[::-1]
        return body


class IgnoresTopN(RerankDefect):
    def request(self, exchange: Exchange) -> Reply | None:
        self.rewrite_request(exchange, lambda body: body.pop("top_n", None) is not None)
        return None


class SoftmaxOverDocuments(RerankDefect):
    """Scores normalized over the documents sent together (order kept): a score depends on its company."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        results = self.results(exchange, body)
        if results:
            self.hits += 1
            total = sum(math.exp(r["relevance_score"]) for r in results)
            for r in results:
                r["relevance_score"] = math.exp(r["relevance_score"]) / total
        return body


class V2ScoresHalved(RerankDefect):
    path = "/v2/rerank"

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for r in self.results(exchange, body):
            self.hits += 1
            r["relevance_score"] /= 2
        return body


class CrashOnNoDocuments(CrashingDefect):
    path = "/v1/rerank"

    def crashes(self, body: dict[str, Any]) -> bool:
        return body.get("documents") == []


class ClassifyDefect(CountingDefect):
    path = "/classify"

    def rows(self, exchange: Exchange, body: Any) -> list[dict[str, Any]]:
        found = body.get("data") if isinstance(body, dict) and self.mine(exchange) else None
        return found if isinstance(found, list) else []


class UnnormalizedProbs(ClassifyDefect):
    """Raw scores where probabilities belong: they no longer sum to 1."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        for row in self.rows(exchange, body):
            self.hits += 1
            row["probs"] = [p * 0.8 for p in row["probs"]]
        return body


class PerturbsClassifyBatch(ClassifyDefect):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        rows = self.rows(exchange, body)
        if len(rows) > 1:
            self.hits += 1
            first = rows[-1]["probs"]
            rows[-1]["probs"] = [first[-1], *first[:-1]]  # still sums to 1, another class favoured
        return body
