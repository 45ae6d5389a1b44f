"""The multimodal suite's pure parts: fixtures, answer comparison, error judgement, the media server,
probe specs."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import httpx
import pytest
from PIL import Image

from harness.checks import imagegen, mediagen
from harness.checks.image_server import MediaServer, ServeAddress, serve_address
from harness.checks.multimodal import Answer, collisions, error_problems, isolation_problems, parse_answer
from harness.errors import SpecError
from harness.spec.variant import parse_spec


def _pixels(payload: bytes) -> bytes:
    return Image.open(io.BytesIO(payload)).convert("RGB").tobytes()


def test_fixtures_are_deterministic_and_distinct() -> None:
    first = {k: imagegen.encode(v) for k, v in imagegen.distinct_set().items()}
    again = {k: imagegen.encode(v) for k, v in imagegen.distinct_set().items()}
    assert first == again
    assert len({_pixels(p) for p in first.values()}) == len(first)
    white = _pixels(imagegen.encode(imagegen.solid(imagegen.COLORS["white"])))
    assert white not in {_pixels(p) for p in first.values()}


def test_webp_is_lossless_and_jpeg_is_not() -> None:
    picture = imagegen.shapes()
    png = _pixels(imagegen.encode(picture))
    assert _pixels(imagegen.encode(picture, "WEBP")) == png
    assert _pixels(imagegen.encode(picture, "JPEG")) != png


def test_hostile_payloads_are_what_they_claim() -> None:
    with pytest.raises(OSError):
        Image.open(io.BytesIO(imagegen.truncated_png())).load()
    with pytest.raises(Image.DecompressionBombError, match="400000000 pixels"):
        Image.open(io.BytesIO(imagegen.huge_png()))
    assert len(imagegen.huge_png()) < 200_000


def test_image_specs() -> None:
    assert imagegen.from_spec("solid:red").getpixel((0, 0)) == imagegen.COLORS["red"]
    assert imagegen.from_spec("text:HI").size == (448, 160)
    assert "unknown colour" in (imagegen.check_spec("solid:mauve") or "")
    assert "unknown image kind" in (imagegen.check_spec("photo") or "")
    assert imagegen.check_spec("text:") is not None


def test_media_fixtures() -> None:
    gif = Image.open(io.BytesIO(mediagen.gif_bytes(mediagen.moving_square("red"))))
    assert gif.n_frames == mediagen.FRAMES
    assert mediagen.jpeg_frames_data_url(mediagen.moving_square("blue")).count(",") == mediagen.FRAMES
    with wave.open(io.BytesIO(mediagen.tone_wav(440.0, seconds=0.5))) as clip:
        assert (clip.getframerate(), clip.getnframes()) == (16000, 8000)
    assert mediagen.tone_wav(220.0) != mediagen.tone_wav(440.0)


def _answer(text: str, alternatives: tuple[tuple[str, ...], ...] = (("a", "b"),),
            margins: tuple[float, ...] = ()) -> Answer:
    return Answer(f"[{text}]", text, tuple(text.split()), alternatives, 10, margins)


def test_collisions_need_tokens_and_runners_up_equal() -> None:
    assert collisions([_answer("x"), _answer("y")]) == []
    assert collisions([_answer("x", (("a", "b"),)), _answer("x", (("a", "c"),))]) == []
    same = collisions([_answer("x"), _answer("y"), _answer("x")])
    assert [(a.text, b.text) for a, b in same] == [("x", "x")]


def test_agreement_tolerates_only_near_ties() -> None:
    confident = (3.0, 2.0, 1.5, 4.0, 0.01)  # nearly tied only at the last position
    alone = _answer("the quick brown fox jumps", margins=confident)
    assert _answer("the quick brown fox leaps").agrees_with(alone)
    assert not _answer("the quick brown cat jumps").agrees_with(alone)
    assert not _answer("a completely different answer here").agrees_with(alone)
    other = _answer("a completely different answer here", margins=confident)
    assert isolation_problems([alone, other], [alone, other]) == []
    assert len(isolation_problems([alone, other], [other, alone])) == 2


def test_error_problems() -> None:
    assert error_problems(httpx.Response(400, json={"error": {"message": "bad image"}})) == []
    assert error_problems(httpx.Response(500, json={"error": "boom"})) == ["a 500 (a server error) instead of a 4xx"]
    leak = error_problems(httpx.Response(400, json={"error": "<PIL.PngImageFile at 0x7F3A2C0B1D40>"}))
    assert leak and "0x7F3A2C0B1D40" in leak[0]
    assert error_problems(httpx.Response(400, text="plain")) == ["a 4xx whose body is not JSON"]


def test_parse_answer_rejects_errors_and_empty_answers() -> None:
    body = {"choices": [{"message": {"content": "hi"}, "logprobs": {"content": [
        {"token": "hi", "top_logprobs": [{"token": "hi", "logprob": -0.5}, {"token": "yo", "logprob": -2.0}]}]}}],
        "usage": {"prompt_tokens": 7}}
    answer = parse_answer("[x]", httpx.Response(200, json=body))
    assert (answer.tokens, answer.alternatives, answer.prompt_tokens) == (("hi",), (("hi", "yo"),), 7)
    assert answer.margins == (1.5,)
    with pytest.raises(AssertionError, match="answered 500"):
        parse_answer("[x]", httpx.Response(500, text="oops"))
    with pytest.raises(AssertionError, match="empty content"):
        parse_answer("[x]", httpx.Response(200, json={"choices": [{"message": {"content": ""}}]}))


def test_media_server_serves_what_was_published() -> None:
    with MediaServer(ServeAddress(bind="127.0.0.1", url_host="127.0.0.1")) as server:
        url = server.publish(b"\x89PNG fake", "image/png")
        response = httpx.get(url)
        assert (response.status_code, response.content) == (200, b"\x89PNG fake")
        assert response.headers["content-type"] == "image/png"
        assert url.startswith(server.base_url)
        assert httpx.get(server.base_url + "/media/missing.png").status_code == 404
    assert serve_address("remote", None) is None
    assert serve_address("process", None) == ServeAddress("127.0.0.1", "127.0.0.1")
    assert serve_address("remote", "10.0.0.5") == ServeAddress("10.0.0.5", "10.0.0.5")


SPEC = """
[serve]
model = "m"
served_model_name = "m"
{probes}
"""


def test_probe_specs(tmp_path: Path) -> None:
    path = tmp_path / "v" / "variant.toml"
    path.parent.mkdir()
    path.write_text(SPEC.format(probes='[[probes]]\nimage = "text:INVOICE 2024"\nexpect = ["INVOICE", "2024"]'))
    (probe,) = parse_spec(path).probes
    assert (probe.image, probe.expect, probe.max_tokens) == ("text:INVOICE 2024", ("INVOICE", "2024"), 64)
    path.write_text(SPEC.format(probes='[[probes]]\nimage = "solid:mauve"\nexpect = ["mauve"]'))
    with pytest.raises(SpecError, match=r"probes\[0\]\.image"):
        parse_spec(path)
    path.write_text(SPEC.format(probes='[[probes]]\nimage = "solid:red"\nexpect = []'))
    with pytest.raises(SpecError, match="expect"):
        parse_spec(path)
