"""Deterministic video and audio fixtures, for variants whose capabilities declare `video` or `audio`.

Video goes two ways (seed 004's matrix): as an http URL to an animated GIF (a container every
ffmpeg/OpenCV-based loader reads), and as vLLM's `data:video/jpeg;base64,<frame>,<frame>,...` data URL
of JPEG frames. Audio is a 16-bit mono WAV sine tone, as an http URL or a `data:audio/wav` URL.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import wave

from PIL import Image, ImageDraw

from harness.checks.imagegen import COLORS, encode

FRAMES = 8
FRAME_SIZE = (224, 224)


def moving_square(color: str, frames: int = FRAMES) -> list[Image.Image]:
    """A square of `color` sliding left to right over grey: motion plus a colour that names the clip."""
    w, h = FRAME_SIZE
    side = w // 4
    images = []
    for i in range(frames):
        image = Image.new("RGB", FRAME_SIZE, COLORS["gray"])
        x = round((w - side) * i / max(frames - 1, 1))
        ImageDraw.Draw(image).rectangle([x, (h - side) // 2, x + side, (h + side) // 2], fill=COLORS[color])
        images.append(image)
    return images


def gif_bytes(frames: list[Image.Image], frame_ms: int = 250) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


def jpeg_frames_data_url(frames: list[Image.Image]) -> str:
    return "data:video/jpeg;base64," + ",".join(base64.b64encode(encode(f, "JPEG")).decode() for f in frames)


def tone_wav(frequency_hz: float, seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A sine tone; different frequencies are different inputs to any audio encoder."""
    return wav_of(tone_samples(frequency_hz, seconds, rate), rate)


def blank_clip(frames: int = FRAMES) -> list[Image.Image]:
    """The control for moving_square: the same grey background, nothing on it."""
    return [Image.new("RGB", FRAME_SIZE, COLORS["gray"]) for _ in range(frames)]


def huge_gif(side: int = 4096, frames: int = 4) -> bytes:
    """Frames far larger than any vision encoder takes (a GIF compresses flat frames to a few KiB)."""
    return gif_bytes([Image.new("RGB", (side, side), COLORS[c]) for c in ("red", "blue", "green", "yellow")[:frames]])


def long_gif(frames: int = 2000) -> bytes:
    """A clip of `frames` frames (at 10 ms each, 20 s); each frame a small, cheap image."""
    clip = [Image.new("RGB", (64, 64), (i % 256, (7 * i) % 256, 90)) for i in range(frames)]
    return gif_bytes(clip, frame_ms=10)


def wav_of(samples: list[int], rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


def tone_samples(frequency_hz: float, seconds: float, rate: int = 16000) -> list[int]:
    return [round(12000 * math.sin(2 * math.pi * frequency_hz * n / rate)) for n in range(int(seconds * rate))]


def silence_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """The control for tone_wav: the same length, all zeros."""
    return wav_of([0] * int(seconds * rate), rate)


def two_tones_wav(first_hz: float, second_hz: float, seconds: float = 1.0) -> bytes:
    """Half a clip of one tone, then half of the other: swapping them reverses the clip's time order."""
    return wav_of(tone_samples(first_hz, seconds / 2) + tone_samples(second_hz, seconds / 2))
