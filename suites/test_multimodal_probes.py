"""Known answers and other modalities.

Known-answer probes are declared per variant (`[[probes]]` in variant.toml) for real models only: the
colour of a solid square, the words of a rendered text for an OCR model. A random-weight variant declares
none, so they never run against it. Video and audio run where the variant's capabilities say so, each
delivered both ways of seed 004's matrix (http URL and data URL), and judged like images: different
clips give different answers, a clip is not ignored, and both deliveries of one clip agree.
"""

from __future__ import annotations

import httpx
import pytest

from harness.checks import imagegen, mediagen
from harness.checks.image_server import MediaServer
from harness.checks.multimodal import Media, MediaChat, audio, image, video
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint
from harness.spec.variant import Probe

pytestmark = pytest.mark.requires("chat")


@pytest.fixture(scope="module")
def chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> MediaChat:
    return MediaChat(api, endpoint, server)


def _probes(endpoint: Endpoint) -> list[Probe]:
    return list(endpoint.variant.probes) if endpoint.variant else []


@pytest.mark.requires("vision")
def test_known_answer_probes(chat: MediaChat, endpoint: Endpoint) -> None:
    probes = _probes(endpoint)
    if not probes:
        pytest.skip("the variant declares no [[probes]] (random-weight models must not)")
    misses = []
    for probe in probes:
        response = chat.post([image(probe.image, imagegen.data_url(imagegen.from_spec(probe.image)))],
                             prompt=probe.prompt, max_tokens=probe.max_tokens, logprobs=False, exact_length=False)
        assert response.status_code == 200, f"probe [{probe.image}] answered {response.status_code}: {response.text}"
        text = response.json()["choices"][0]["message"]["content"] or ""
        missing = [w for w in probe.expect if w.lower() not in text.lower()]
        if missing:
            misses.append(f"[{probe.image}] {probe.prompt!r} -> {text[:160]!r}; missing {missing}")
    assert not misses, "known-answer probes missed:\n  " + "\n  ".join(misses)


def _clips_judged(chat: MediaChat, first: list[Media], second: list[Media], same_as_first: list[Media]) -> None:
    """Two different clips differ, a clip is not ignored, two deliveries of the first clip agree."""
    a, b, again, none = chat.ask(first), chat.ask(second), chat.ask(same_as_first), chat.ask([])
    assert not a.same_as(b), f"two different clips gave the same answer: {a.brief()} / {b.brief()}"
    assert not a.same_as(none), f"a clip answered like no clip at all: {a.brief()} / {none.brief()}"
    assert again.agrees_with(a), f"one clip delivered two ways: {a.brief()} / {again.brief()}"


@pytest.mark.requires("video")
def test_video_is_seen(chat: MediaChat, media_server: MediaServer) -> None:
    red, blue = mediagen.moving_square("red"), mediagen.moving_square("blue")
    red_gif = media_server.publish(mediagen.gif_bytes(red), "image/gif")
    _clips_judged(chat,
                  [video("red square video, http GIF", red_gif)],
                  [video("blue square video, http GIF", media_server.publish(mediagen.gif_bytes(blue), "image/gif"))],
                  [video("red square video, http GIF again", red_gif)])
    frames = chat.ask([video("red square video, JPEG-frames data URL", mediagen.jpeg_frames_data_url(red))])
    none = chat.ask([])
    assert not frames.same_as(none), f"a data-URL video answered like no video: {frames.brief()}"


@pytest.mark.requires("audio")
def test_audio_is_seen(chat: MediaChat, media_server: MediaServer) -> None:
    low, high = mediagen.tone_wav(220.0), mediagen.tone_wav(1760.0)
    _clips_judged(chat,
                  [audio("220 Hz tone, http WAV", media_server.publish(low, "audio/wav"))],
                  [audio("1760 Hz tone, http WAV", media_server.publish(high, "audio/wav"))],
                  [audio("220 Hz tone, data URL", imagegen.data_url_of(low, "audio/wav"))])
