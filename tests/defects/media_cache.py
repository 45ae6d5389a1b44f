"""Cache defects for the proxy, the ways users saw vLLM confuse images (vLLM #20261, #10983): a media cache
keyed on part of the image, answers crossed between concurrent requests, a stale entry after eviction."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PIL import Image

from tests.defects.multimodal import media_parts, rewrite
from tests.defects.proxy import Defect, Exchange, Reply


def _pixels(url: str) -> np.ndarray | None:
    if not url.startswith("data:"):
        return None
    try:
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    except (ValueError, OSError):
        return None


def all_but_last_rows(pixels: np.ndarray) -> bytes:
    """A content hash that skips the last 16 rows (a hash over a buffer's length minus its tail)."""
    return hashlib.sha256(pixels[:-16].tobytes()).digest()


def thumbnail(pixels: np.ndarray) -> bytes:
    """A perceptual 'hash': a 4x4 grey thumbnail in 8 levels. Images differing in a small region collide."""
    grey = np.asarray(Image.fromarray(pixels).convert("L").resize((4, 4), Image.Resampling.BOX))
    return (grey // 32).tobytes()


class KeyedImageCache(Defect):
    """An image whose key matches an earlier image's is answered as that earlier image."""

    def __init__(self, key: Callable[[np.ndarray], bytes]) -> None:
        self.key = key
        self.seen: dict[bytes, str] = {}

    def request(self, exchange: Exchange) -> Reply | None:
        def cached(body: Any) -> None:
            for _, part in media_parts(body):
                pixels = _pixels(part["image_url"].get("url", ""))
                if pixels is not None:
                    part["image_url"]["url"] = self.seen.setdefault(self.key(pixels), part["image_url"]["url"])

        rewrite(exchange, cached)
        return None


class CrossedWhenConcurrent(Defect):
    """A request that arrives while another is in flight gets that other request's image."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[int, str] = {}

    def request(self, exchange: Exchange) -> Reply | None:
        def cross(body: Any) -> None:
            for _, part in media_parts(body):
                url = part["image_url"].get("url", "")
                with self.lock:
                    other = next(iter(self.in_flight.values()), None)
                    self.in_flight[id(exchange)] = url
                if other is not None:
                    part["image_url"]["url"] = other

        rewrite(exchange, cross)
        return None

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from chunks
        finally:
            with self.lock:
                self.in_flight.pop(id(exchange), None)


class StaleAfterEviction(Defect):
    """An image sent again after 16 other images is answered as the image sent just before it."""

    EVICT_AFTER = 16

    def __init__(self) -> None:
        self.order: list[str] = []

    def request(self, exchange: Exchange) -> Reply | None:
        def stale(body: Any) -> None:
            for _, part in media_parts(body):
                url = part["image_url"].get("url", "")
                if url in self.order and len(self.order) - self.order.index(url) > self.EVICT_AFTER:
                    part["image_url"]["url"] = self.order[-1]
                if url not in self.order:
                    self.order.append(url)

        rewrite(exchange, stale)
        return None
