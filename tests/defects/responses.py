"""Responses API defects for the proxy: each breaks `/v1/responses` in one way a server could, and counts
how often it really changed something (a defect that never fired proves nothing)."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image, ImageOps

from harness.checks import imagegen
from tests.defects.multimodal import WHITE_URL
from tests.defects.proxy import Defect, Exchange, Reply, events

PATH = "/v1/responses"


class ResponsesDefect(Defect):
    """Touches `/v1/responses` only; chat and completions pass unchanged."""

    def __init__(self) -> None:
        self.hits = 0

    def mine(self, exchange: Exchange) -> bool:
        return exchange.path.split("?")[0].endswith(PATH)

    def rewrite(self, exchange: Exchange, change: Callable[[dict[str, Any]], bool]) -> None:
        """Apply `change` to the request body; it says whether it changed anything."""
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and change(body):
            self.hits += 1
            exchange.body = json.dumps(body).encode()


# --- requests -----------------------------------------------------------------------------------------


class StretchesMaxOutputTokens(ResponsesDefect):
    """Generates three tokens more than max_output_tokens allows."""

    def request(self, exchange: Exchange) -> Reply | None:
        def stretch(body: dict[str, Any]) -> bool:
            if isinstance(body.get("max_output_tokens"), int) and body["max_output_tokens"] > 0:
                body["max_output_tokens"] += 3
                return True
            return False

        self.rewrite(exchange, stretch)
        return None


class IgnoresTemperature(ResponsesDefect):
    """Every request samples greedily, whatever temperature it asked for."""

    def request(self, exchange: Exchange) -> Reply | None:
        def greedy(body: dict[str, Any]) -> bool:
            hot = body.get("temperature", 1) != 0
            body["temperature"] = 0
            return hot

        self.rewrite(exchange, greedy)
        return None


class IgnoresTopP(ResponsesDefect):
    def request(self, exchange: Exchange) -> Reply | None:
        self.rewrite(exchange, lambda body: body.pop("top_p", None) is not None)
        return None


class DropsInstructions(ResponsesDefect):
    def request(self, exchange: Exchange) -> Reply | None:
        self.rewrite(exchange, lambda body: body.pop("instructions", None) is not None)
        return None


class KeepsLastTurnOnly(ResponsesDefect):
    """A multi-turn input reaches the model as its last item only."""

    def request(self, exchange: Exchange) -> Reply | None:
        def last_only(body: dict[str, Any]) -> bool:
            turns = body.get("input")
            if isinstance(turns, list) and len(turns) > 1:
                body["input"] = turns[-1:]
                return True
            return False

        self.rewrite(exchange, last_only)
        return None


class IgnoresPreviousResponseId(ResponsesDefect):
    """A follow-up turn forgets the stored conversation it continues."""

    def request(self, exchange: Exchange) -> Reply | None:
        self.rewrite(exchange, lambda body: body.pop("previous_response_id", None) is not None)
        return None


class StreamShorter(ResponsesDefect):
    """Streamed requests generate one token less than the same request unstreamed."""

    def request(self, exchange: Exchange) -> Reply | None:
        def shorten(body: dict[str, Any]) -> bool:
            if body.get("stream") and isinstance(body.get("max_output_tokens"), int) and body["max_output_tokens"] > 1:
                body["max_output_tokens"] -= 1
                return True
            return False

        self.rewrite(exchange, shorten)
        return None


class CrashOnNegativeMaxOutputTokens(ResponsesDefect):
    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and isinstance(body.get("max_output_tokens"), int) \
                and body["max_output_tokens"] < 0:
            self.hits += 1
            return Reply(500, b'{"error": {"message": "Internal Server Error", "code": 500}}')
        return None


# --- whole answers ------------------------------------------------------------------------------------


class WrongUsage(ResponsesDefect):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict) and isinstance(body.get("usage"), dict):
            self.hits += 1
            body["usage"]["total_tokens"] += 1
        return body


class CutItemIncomplete(ResponsesDefect):
    """Fixes vLLM 0.32's deviation: in an incomplete response, the last message item says 'incomplete'."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict) and body.get("status") == "incomplete":
            messages = [i for i in body.get("output") or [] if isinstance(i, dict) and i.get("type") == "message"]
            if messages and messages[-1].get("status") != "incomplete":
                self.hits += 1
                messages[-1]["status"] = "incomplete"
        return body


class UnknownModelIs400(ResponsesDefect):
    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and exchange.status == 404:
            self.hits += 1
            exchange.status = 400
        return body


# --- streams ------------------------------------------------------------------------------------------


class StreamDefect(ResponsesDefect):
    """Rewrites a Responses stream event by event: `change` returns the event's new bytes, or None to drop it."""

    def change(self, event: bytes) -> bytes | None:
        return event

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if not self.mine(exchange) or "event-stream" not in exchange.response_headers.get("content-type", ""):
            yield from chunks
            return
        for event in events(chunks):
            changed = self.change(event)
            if changed != event:
                self.hits += 1
            if changed is not None:
                yield changed


class DropsTerminalEvent(StreamDefect):
    def change(self, event: bytes) -> bytes | None:
        return None if event.startswith(b"event: response.completed") else event


class MislabelsDeltas(StreamDefect):
    """The `event:` line of text deltas names another event than their data's type."""

    def change(self, event: bytes) -> bytes | None:
        return event.replace(b"event: response.output_text.delta\n", b"event: response.output_text\n")


class SequenceGoesBack(StreamDefect):
    """The terminal event's sequence_number restarts at 0."""

    def change(self, event: bytes) -> bytes | None:
        if event.startswith(b"event: response.completed"):
            return re.sub(rb'"sequence_number":\s*\d+', b'"sequence_number":0', event)
        return event


class LosesADelta(StreamDefect):
    """The second text delta of every stream never reaches the client."""

    def __init__(self) -> None:
        super().__init__()
        self.deltas = 0

    def response_chunks(self, exchange: Exchange, chunks: Iterator[bytes]) -> Iterator[bytes]:
        self.deltas = 0
        yield from super().response_chunks(exchange, chunks)

    def change(self, event: bytes) -> bytes | None:
        if event.startswith(b"event: response.output_text.delta"):
            self.deltas += 1
            return None if self.deltas == 2 else event
        return event


class TerminalEventByStatus(StreamDefect):
    """Fixes vLLM 0.32's deviation: a stream whose response is incomplete ends with response.incomplete."""

    def change(self, event: bytes) -> bytes | None:
        if event.startswith(b"event: response.completed") and b'"status":"incomplete"' in event:
            return event.replace(b"response.completed", b"response.incomplete")
        return event


# --- images -------------------------------------------------------------------------------------------


def _image_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in body.get("input") if isinstance(body.get("input"), list) else []:
        for part in item.get("content") if isinstance(item, dict) and isinstance(item.get("content"), list) else []:
            if isinstance(part, dict) and part.get("type") == "input_image":
                yield part


class WhitenImages(ResponsesDefect):
    """Every image sent through /v1/responses reaches the model as white pixels (`only`: URLs so prefixed)."""

    def __init__(self, only: str = "") -> None:
        super().__init__()
        self.only = only

    def request(self, exchange: Exchange) -> Reply | None:
        def whiten(body: dict[str, Any]) -> bool:
            parts = [p for p in _image_parts(body) if str(p.get("image_url", "")).startswith(self.only)]
            for part in parts:
                part["image_url"] = WHITE_URL
            return bool(parts)

        self.rewrite(exchange, whiten)
        return None


class WhitenHttpImages(WhitenImages):
    def __init__(self) -> None:
        super().__init__(only="http")


class MirrorsImages(ResponsesDefect):
    """Images through /v1/responses reach the model mirrored: still distinct, but not chat's pixels."""

    def request(self, exchange: Exchange) -> Reply | None:
        def mirror(body: dict[str, Any]) -> bool:
            parts = [p for p in _image_parts(body) if str(p.get("image_url", "")).startswith("data:image/png;base64,")]
            for part in parts:
                payload = base64.b64decode(part["image_url"].split(",", 1)[1])
                picture = ImageOps.mirror(Image.open(io.BytesIO(payload)).convert("RGB"))
                part["image_url"] = imagegen.data_url(picture)
            return bool(parts)

        self.rewrite(exchange, mirror)
        return None


class ServerErrorOnBadImage(ResponsesDefect):
    """An image that does not decode gets a 500 instead of a 400."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict):
            for part in _image_parts(body):
                url = str(part.get("image_url", ""))
                if url.startswith("data:") and not _decodes(url):
                    self.hits += 1
                    return Reply(500, b'{"error": {"message": "Internal Server Error", "code": 500}}')
        return None


def _decodes(url: str) -> bool:
    try:
        Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True))).load()
    except (ValueError, OSError, IndexError):
        return False
    return True
