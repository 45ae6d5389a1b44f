"""Request bodies. Prompts are random words (about one token each; the server's usage reports the exact
count); each vision request carries an image no other request has, so the server's multimodal cache
cannot hide the encoder's cost."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from harness.imagegen import data_url_of, shapes

WORDS = ("time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
         "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
         "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
         "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book",
         "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend",
         "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name",
         "president", "team", "minute", "idea", "kid", "body", "information", "back", "parent", "face", "others",
         "level", "office", "door", "health", "person", "art", "war", "history", "party", "result", "change",
         "morning", "reason", "research", "girl", "guy", "moment", "air", "teacher", "force", "education")


def prompt_words(rng: np.random.Generator, count: int) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), size=count))


class ImageMaker:
    """A base picture whose top rows are overwritten per request with random pixels: distinct content,
    one fast PNG encode (~1 ms)."""

    def __init__(self, size: tuple[int, int] = (224, 224)) -> None:
        self.base = np.asarray(shapes(size), dtype=np.uint8).copy()

    def png(self, rng: np.random.Generator) -> bytes:
        pixels = self.base.copy()
        pixels[:8] = rng.integers(0, 256, size=pixels[:8].shape, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()


def body(kind: str, model: str, rng: np.random.Generator, input_len: int, output_len: int, ignore_eos: bool,
         images: ImageMaker | None = None) -> tuple[str, bytes]:
    """(path, JSON body) of one streaming request."""
    text = prompt_words(rng, input_len)
    payload: dict[str, object] = {"model": model, "max_tokens": output_len, "stream": True,
                                  "stream_options": {"include_usage": True}}
    if ignore_eos:
        payload["ignore_eos"] = True
    if kind == "completions":
        payload["prompt"] = text
        return "/v1/completions", json.dumps(payload).encode()
    content: object = text
    if kind == "vision":
        maker = images or ImageMaker()
        content = [{"type": "text", "text": text},
                   {"type": "image_url", "image_url": {"url": data_url_of(maker.png(rng), "image/png")}}]
    payload["messages"] = [{"role": "user", "content": content}]
    return "/v1/chat/completions", json.dumps(payload).encode()
