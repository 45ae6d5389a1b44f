"""Test images made deterministically with Pillow, their encodings, and the hostile inputs the
multimodal suite sends. Same call, same bytes: nothing here reads a clock or a random source.

Images are named so a failure message can say what was sent ("solid:red", "text:HELLO 42"); `from_spec`
turns such a name back into the image (variant specs name their known-answer probe images this way).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable
from functools import cache

from PIL import Image, ImageDraw, ImageFont

SIZE = (224, 224)  # a common vision-tower input size; servers resize anything else anyway
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20), "green": (20, 170, 40), "blue": (20, 40, 220), "yellow": (240, 220, 20),
    "white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128),
}


def solid(color: tuple[int, int, int], size: tuple[int, int] = SIZE) -> Image.Image:
    return Image.new("RGB", size, color)


def checkerboard(size: tuple[int, int] = SIZE, cell: int = 28) -> Image.Image:
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for y in range(0, size[1], cell):
        for x in range(0, size[0], cell):
            if (x // cell + y // cell) % 2 == 0:
                draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(0, 0, 0))
    return image


def gradient(size: tuple[int, int] = SIZE, start: tuple[int, int, int] = (0, 0, 0),
             end: tuple[int, int, int] = (255, 160, 0)) -> Image.Image:
    """Left-to-right blend from `start` to `end`."""
    width = size[0]
    row = Image.new("RGB", (width, 1))
    for x in range(width):
        t = x / max(width - 1, 1)
        row.putpixel((x, 0), tuple(round(a + (b - a) * t) for a, b in zip(start, end, strict=True)))
    return row.resize(size, Image.Resampling.NEAREST)


def shapes(size: tuple[int, int] = SIZE) -> Image.Image:
    """A yellow disc, a red square and a green triangle on blue: structure at several scales."""
    w, h = size
    image = Image.new("RGB", size, COLORS["blue"])
    draw = ImageDraw.Draw(image)
    draw.ellipse([w * 0.08, h * 0.08, w * 0.48, h * 0.48], fill=COLORS["yellow"])
    draw.rectangle([w * 0.55, h * 0.15, w * 0.9, h * 0.5], fill=COLORS["red"])
    draw.polygon([(w * 0.2, h * 0.92), (w * 0.5, h * 0.55), (w * 0.8, h * 0.92)], fill=COLORS["green"])
    return image


def text_image(text: str, size: tuple[int, int] = (448, 160), font_size: int = 56) -> Image.Image:
    """Black text centred on white: what an OCR model reads back."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    draw.text((size[0] / 2, size[1] / 2), text, fill=(0, 0, 0), font=font, anchor="mm")
    return image


def transparent(size: tuple[int, int] = SIZE) -> Image.Image:
    """Fully transparent RGBA: valid, but carries no colour once alpha is dropped or composited."""
    return Image.new("RGBA", size, (0, 0, 0, 0))


def distinct_set() -> dict[str, Image.Image]:
    """Visually distinct images (none all-white), for the sensitivity and isolation checks."""
    return {
        "solid:red": solid(COLORS["red"]),
        "solid:blue": solid(COLORS["blue"]),
        "solid:black": solid(COLORS["black"]),
        "checkerboard": checkerboard(),
        "gradient": gradient(),
        "shapes": shapes(),
        "text:HELLO 42": text_image("HELLO 42"),
    }


_KINDS: dict[str, Callable[[str], Image.Image]] = {
    "solid": lambda arg: solid(COLORS[arg]),
    "checkerboard": lambda arg: checkerboard(),
    "gradient": lambda arg: gradient(),
    "shapes": lambda arg: shapes(),
    "text": lambda arg: text_image(arg),
    "transparent": lambda arg: transparent(),
}


def check_spec(spec: str) -> str | None:
    """Why `spec` names no image (None when it does): `solid:<colour>`, `text:<words>`, `checkerboard`,
    `gradient`, `shapes`, `transparent`."""
    kind, _, arg = spec.partition(":")
    if kind not in _KINDS:
        return f"unknown image kind '{kind}'; known: {', '.join(_KINDS)}"
    if kind == "solid" and arg not in COLORS:
        return f"unknown colour '{arg}'; known: {', '.join(COLORS)}"
    if kind == "text" and not arg.strip():
        return "text: needs the words to render, e.g. 'text:INVOICE 2024'"
    return None


def from_spec(spec: str) -> Image.Image:
    problem = check_spec(spec)
    if problem:
        raise ValueError(problem)
    kind, _, arg = spec.partition(":")
    return _KINDS[kind](arg)


# --- encodings ------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """PNG and WebP are lossless (same pixels back); JPEG is not."""
    buffer = io.BytesIO()
    options: dict[str, object] = {"lossless": True} if fmt.upper() == "WEBP" else {}
    if fmt.upper() == "JPEG":
        options = {"quality": 95}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def data_url_of(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    return data_url_of(encode(image, fmt), MIME[fmt.upper()])


# --- hostile inputs -------------------------------------------------------------------------------


def truncated_png() -> bytes:
    """A real PNG cut in the middle of its image data."""
    whole = encode(shapes())
    return whole[: len(whole) // 2]


@cache
def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels, ~100 KB on the wire. Its pixel count is far past
    Pillow's decompression-bomb guard: a server should refuse it, and must never crash decoding it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
