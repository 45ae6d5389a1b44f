"""Multimodal defects for the proxy: each breaks what the model sees the way a real vLLM bug did."""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image, UnidentifiedImageError

from harness.checks import imagegen
from tests.defects.proxy import Defect, Exchange, Reply

WHITE_URL = imagegen.data_url(imagegen.solid((255, 255, 255)))


def media_parts(body: Any, kind: str = "image_url") -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """(content list, part) for every part of type `kind` (image_url, video_url, audio_url) of a chat request."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in list(content):
                if isinstance(part, dict) and part.get("type") == kind:
                    yield content, part


def _image_parts(body: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    return media_parts(body)


def rewrite(exchange: Exchange, change: Callable[[Any], None]) -> None:
    body = exchange.json
    if isinstance(body, dict) and exchange.path.endswith("/chat/completions"):
        change(body)
        exchange.body = json.dumps(body).encode()


class WhitenImages(Defect):
    """The seed: every image reaches the model as all-white pixels."""

    def request(self, exchange: Exchange) -> Reply | None:
        def whiten(body: Any) -> None:
            for _, part in _image_parts(body):
                part["image_url"]["url"] = WHITE_URL

        rewrite(exchange, whiten)
        return None


class DropImages(Defect):
    """Images are silently removed from the prompt."""

    def request(self, exchange: Exchange) -> Reply | None:
        def drop(body: Any) -> None:
            for content, part in list(_image_parts(body)):
                content.remove(part)

        rewrite(exchange, drop)
        return None


class FirstImageOnly(Defect):
    """Only the first of several images is used: every later image is replaced by the first."""

    def request(self, exchange: Exchange) -> Reply | None:
        def first_only(body: Any) -> None:
            parts = [part for _, part in _image_parts(body)]
            for part in parts[1:]:
                part["image_url"] = dict(parts[0]["image_url"])

        rewrite(exchange, first_only)
        return None


class ServerErrorOnBadImage(Defect):
    """A data-URL image that does not decode gets a 500 (with an object address in it) instead of a 400."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        for _, part in _image_parts(body):
            url = part["image_url"].get("url", "")
            if url.startswith("data:") and not _decodes(url):
                message = "Internal Server Error: <PIL.Image at 0x7f3a2c0b1d40>"
                return Reply(500, json.dumps({"error": {"message": message, "code": 500}}).encode())
        return None


def _decodes(url: str) -> bool:
    try:
        payload = base64.b64decode(url.split(",", 1)[1], validate=True)
        Image.open(io.BytesIO(payload)).load()
    except (IndexError, binascii.Error, UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return False
    return True
