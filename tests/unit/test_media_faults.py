"""The media server's failing URLs, on real sockets: each fault does what it says to a real HTTP client;
and the load generator's video and audio bodies."""

from __future__ import annotations

import base64
import io
import json
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from harness.checks.image_server import MediaServer, ServeAddress
from harness.checks.media_faults import OVERSIZED_BYTES, UNRESOLVABLE_HOST, Fault
from harness.load.config import LoadConfig
from harness.load.prompts import ImageMaker, body

PAYLOAD = b"GIF89a" + bytes(range(256))


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with MediaServer(ServeAddress(bind="127.0.0.1", url_host="127.0.0.1")) as server:
        yield server


def test_refused_port_refuses(media: MediaServer) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(media.fault_url(Fault.REFUSED, PAYLOAD, "image/gif"), timeout=5)


def test_unresolvable_host_is_reserved_never_to_resolve(media: MediaServer) -> None:
    url = httpx.URL(media.fault_url(Fault.UNRESOLVABLE, PAYLOAD, "image/gif"))
    assert url.host == UNRESOLVABLE_HOST and url.host.endswith(".invalid")


def test_silent_host_never_answers(media: MediaServer) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(media.fault_url(Fault.SILENT, PAYLOAD, "image/gif"), timeout=1.0)
    assert time.monotonic() - started < 5


def test_error_500_and_html_page(media: MediaServer) -> None:
    assert httpx.get(media.fault_url(Fault.ERROR_500, PAYLOAD, "image/gif"), timeout=5).status_code == 500
    page = httpx.get(media.fault_url(Fault.WRONG_TYPE, PAYLOAD, "image/gif"), timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert b"<html>" in page.content


def test_redirects_loop_forever(media: MediaServer) -> None:
    with httpx.Client(follow_redirects=True, max_redirects=7, timeout=5) as client, \
            pytest.raises(httpx.TooManyRedirects):
        client.get(media.fault_url(Fault.REDIRECT_LOOP, PAYLOAD, "image/gif"))


def test_trickle_sends_the_payload_slowly(media: MediaServer) -> None:
    got = b""
    started = time.monotonic()
    with httpx.stream("GET", media.fault_url(Fault.TRICKLE, PAYLOAD, "image/gif"), timeout=5) as response:
        assert int(response.headers["content-length"]) == len(PAYLOAD)
        for chunk in response.iter_raw():
            got += chunk
            if len(got) >= 3:
                break
    assert got == PAYLOAD[:len(got)] and time.monotonic() - started >= 0.9  # 3 bytes, 0.5 s apart


def test_oversized_declares_and_sends_more_than_any_limit(media: MediaServer) -> None:
    got = 0
    with httpx.stream("GET", media.fault_url(Fault.OVERSIZED, PAYLOAD, "image/gif"), timeout=5) as response:
        assert int(response.headers["content-length"]) == OVERSIZED_BYTES
        for chunk in response.iter_raw():
            if got == 0:
                assert chunk.startswith(PAYLOAD[:6])
            got += len(chunk)
            if got > 8 << 20:
                break
    assert got > 8 << 20


def test_load_bodies_carry_distinct_video_and_audio() -> None:
    config = LoadConfig(base_url="http://127.0.0.1:1", model="m", kinds=("video", "audio"), input_len=8, output_len=4)
    rng, maker = np.random.default_rng(0), ImageMaker()
    urls = {}
    for kind, field in (("video", "video_url"), ("audio", "audio_url")):
        parts = [json.loads(body(kind, config, rng, maker)[1])["messages"][0]["content"][1] for _ in range(2)]
        assert all(p["type"] == field for p in parts)
        urls[kind] = [p[field]["url"] for p in parts]
        assert urls[kind][0] != urls[kind][1], f"two {kind} requests carried the same media"
    frames = urls["video"][0].split(",", 1)[1].split(",")
    assert len(frames) == 4 and all(Image.open(io.BytesIO(base64.b64decode(f))).format == "JPEG" for f in frames)
    with wave.open(io.BytesIO(base64.b64decode(urls["audio"][0].split(",", 1)[1]))) as clip:
        assert (clip.getframerate(), clip.getnframes()) == (16000, 16000)
