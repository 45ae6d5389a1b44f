"""Request bodies. Prompts are random common words. Where the server has vLLM's `/tokenize`, each word's
token cost is measured once with the server's own tokenizer (`word_costs`), and a prompt is filled to
the requested number of text tokens (exact but for how its first and last words join their neighbours,
measured within 2 tokens); elsewhere a word counts as about one token (the server's
usage reports the exact count either way). Each vision request carries an image no other request has, each
video request a clip and each audio request a sound no other has, so the server's multimodal cache cannot
hide the encoders' cost."""

from __future__ import annotations

import base64
import io
import json
import wave
from typing import TYPE_CHECKING

import httpx
import numpy as np
from PIL import Image

from harness.checks.imagegen import data_url_of, shapes

if TYPE_CHECKING:
    from harness.load.config import LoadConfig

WORDS = ("time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
         "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
         "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
         "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book",
         "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend",
         "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name",
         "president", "team", "minute", "idea", "kid", "body", "information", "back", "parent", "face", "others",
         "level", "office", "door", "health", "person", "art", "war", "history", "party", "result", "change",
         "morning", "reason", "research", "girl", "guy", "moment", "air", "teacher", "force", "education")


def prompt_words(rng: np.random.Generator, count: int, costs: dict[str, int] | None = None) -> str:
    """`count` words; with `costs` (tokens per space-led word), words adding up to exactly `count` tokens."""
    picks = rng.integers(0, len(WORDS), size=count)
    if not costs:
        return " ".join(WORDS[i] for i in picks)
    words: list[str] = []
    left = count
    for i in picks:
        if left <= 0:
            break
        word = WORDS[i]
        if costs.get(word, left + 1) > left:  # too long for what is left: the first that fits instead
            word = next((w for w in WORDS if 0 < costs.get(w, 0) <= left), "")
            if not word:
                break
        words.append(word)
        left -= costs[word]
    return " ".join(words)


def word_costs(base_url: str, model: str, headers: dict[str, str], timeout: float = 10.0) -> dict[str, int] | None:
    """Tokens each word adds after a space, by the server's tokenizer (vLLM's POST /tokenize); None when the
    server has no such endpoint."""
    costs: dict[str, int] = {}
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
            for word in WORDS:
                counts = []
                for repeat in (1, 9):  # the marginal cost of a space-led word, without BOS or first-word effects
                    response = client.post("/tokenize", json={"model": model, "prompt": " ".join([word] * repeat),
                                                              "add_special_tokens": False})
                    if response.status_code != 200:
                        return None
                    counts.append(int(response.json()["count"]))
                cost, rest = divmod(counts[1] - counts[0], 8)
                if rest or cost < 1:
                    continue  # merges across repeats: not a word whose cost adds up
                costs[word] = cost
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    # a prompt can always be completed only when some word costs one token
    return costs if 1 in costs.values() else None


class ImageMaker:
    """A base picture whose top rows are overwritten per request with random pixels: distinct content,
    one fast PNG encode (~1 ms). With `pool` K > 0, `image()` draws one of K such pictures instead (made
    once each), so a picture recurs and the server's multimodal cache can hit; `document` makes the base a
    text-dense page scan (1700x2200) instead of 224x224 shapes."""

    def __init__(self, size: tuple[int, int] = (224, 224), pool: int = 0, document: bool = False,
                 seed: int = 0, repeat: float = 1.0) -> None:
        base = document_page(np.random.default_rng([seed, 0xD0C])) if document else shapes(size)
        self.base = np.asarray(base, dtype=np.uint8).copy()
        self.pool, self.seed, self.repeat = pool, seed, repeat
        self._made: dict[int, bytes] = {}

    def image(self, rng: np.random.Generator) -> bytes:
        """A fresh picture, or (with a pool, for a `repeat` share of requests) one of the pool's, drawn
        uniformly."""
        if not self.pool or (self.repeat < 1 and rng.random() >= self.repeat):
            return self.png(rng)
        index = int(rng.integers(0, self.pool))
        if index not in self._made:
            self._made[index] = self.png(np.random.default_rng([self.seed, 0x9001, index]))
        return self._made[index]

    def png(self, rng: np.random.Generator) -> bytes:
        pixels = self.base.copy()
        pixels[:8] = rng.integers(0, 256, size=pixels[:8].shape, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def video_url(self, rng: np.random.Generator, frames: int = 4) -> str:
        """vLLM's JPEG-frames data URL: the base picture, each frame's top rows random."""
        encoded = []
        for _ in range(frames):
            pixels = self.base.copy()
            pixels[:8] = rng.integers(0, 256, size=pixels[:8].shape, dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
            encoded.append(base64.b64encode(buffer.getvalue()).decode())
        return "data:video/jpeg;base64," + ",".join(encoded)


def document_page(rng: np.random.Generator, size: tuple[int, int] = (1700, 2200)) -> Image.Image:
    """A page scan's shape: white, margins, ~90 lines of small dark words (what OCR-style requests send)."""
    from PIL import ImageDraw

    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    for line in range(90):
        words = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), size=14))
        draw.text((120, 110 + line * 22), words, fill=(20, 20, 20))
    return page


def noise_wav(rng: np.random.Generator, seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A second of quiet random noise (16-bit mono): a distinct sound per request."""
    samples = rng.integers(-3000, 3000, size=int(seconds * rate), dtype=np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def body(kind: str, config: LoadConfig, rng: np.random.Generator, images: ImageMaker | None = None, *,
         text: str | None = None, output_len: int | None = None, history: list[dict[str, object]] | None = None,
         image_count: int | None = None) -> tuple[str, bytes]:
    """(path, JSON body) of one streaming request. `text`: the prompt (default: `input_len` random tokens);
    `history`: earlier messages of a conversation, sent before this one; `image_count`: images of a vision
    request (default one)."""
    if text is None:
        text = prompt_words(rng, config.input_len, config.word_costs)
    payload: dict[str, object] = {"model": config.model, "max_tokens": output_len or config.output_len,
                                  "stream": True, "stream_options": {"include_usage": True}}
    if config.ignore_eos:
        payload["ignore_eos"] = True
    if kind == "completions":
        payload["prompt"] = text
        return "/v1/completions", json.dumps(payload).encode()
    content: object = text
    count = image_count if image_count is not None else (1 if kind == "vision" else 0)
    if count:
        maker = images or ImageMaker()
        content = [{"type": "text", "text": text}] + [
            {"type": "image_url", "image_url": {"url": data_url_of(maker.image(rng), "image/png")}}
            for _ in range(count)]
    elif kind == "video":
        content = [{"type": "text", "text": text},
                   {"type": "video_url", "video_url": {"url": (images or ImageMaker()).video_url(rng)}}]
    elif kind == "audio":
        content = [{"type": "text", "text": text},
                   {"type": "audio_url", "audio_url": {"url": data_url_of(noise_wav(rng), "audio/wav")}}]
    payload["messages"] = [*(history or []), {"role": "user", "content": content}]
    return "/v1/chat/completions", json.dumps(payload).encode()
