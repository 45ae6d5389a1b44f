"""Video and audio held to the images' standard, without knowing what the model should say: distinct clips
give distinct answers, one clip by http URL and by data URL gives the same answer, a clip and its blank or
silent control differ, the order of frames (or of sounds) matters, and hostile clips are refused with a
4xx — never a 5xx — with the server still serving the modality afterwards.

Test media are generated (harness.checks.mediagen): a coloured square sliding over grey (GIF, or vLLM's
JPEG-frames data URL), sine tones (WAV).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from harness.checks import imagegen, mediagen
from harness.checks.image_server import MediaServer
from harness.checks.media_kinds import AUDIO, VIDEO, Modality
from harness.checks.multimodal import (
    PROMPT,
    Media,
    MediaChat,
    assert_still_healthy,
    audio,
    check_refusal,
    collisions,
    describe,
    send,
    video,
)
from harness.checks.observed import healthy_after
from harness.checks.openai_calls import ServerFacts, all_hold
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat")
GIF, WAV = "image/gif", "audio/wav"


@pytest.fixture(scope="module")
def chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> MediaChat:
    return MediaChat(api, endpoint, server)


def _distinct(chat: MediaChat, clips: list[Media]) -> None:
    same = collisions([chat.ask([clip]) for clip in clips])
    assert not same, "different clips gave the same answer: " + "; ".join(f"{a.brief()} = {b.brief()}" for a, b in same)


def _differ(chat: MediaChat, clip: Media, other: Media, why: str) -> None:
    a, b = chat.ask([clip]), chat.ask([other])
    assert not a.same_as(b), f"{why}: {a.brief()} / {b.brief()}"


# agreement forgives answers that part at a near tie (batch-shape noise on GPUs, see harness.checks.multimodal);
# asked with two prompts, a clip that really differs shows at a confident choice under at least one
PROMPTS = (PROMPT, "What happens in this clip, from start to end?")


def _agree(chat: MediaChat, first: Media, second: Media) -> None:
    for prompt in PROMPTS:
        a, b = chat.ask([first], prompt=prompt), chat.ask([second], prompt=prompt)
        assert a.agrees_with(b), (f"one clip delivered two ways answered differently (prompt {prompt!r}): "
                                  f"{a.brief()} / {b.brief()}")


# --- video -----------------------------------------------------------------------------------------

def _frames(label: str, frames: list) -> Media:
    return video(label, mediagen.jpeg_frames_data_url(frames))


@pytest.mark.requires("video")
def test_distinct_videos_give_distinct_answers(chat: MediaChat) -> None:
    _distinct(chat, [_frames(f"{c} square sliding", mediagen.moving_square(c)) for c in ("red", "blue", "green")])


@pytest.mark.requires("video")
def test_video_by_http_and_data_url_agree(chat: MediaChat, media_server: MediaServer) -> None:
    clip = mediagen.gif_bytes(mediagen.moving_square("red"))
    _agree(chat, video("red square GIF, http URL", media_server.publish(clip, GIF)),
           video("red square GIF, data URL", imagegen.data_url_of(clip, GIF)))


@pytest.mark.requires("video")
def test_video_differs_from_blank_control(chat: MediaChat) -> None:
    _differ(chat, _frames("red square sliding", mediagen.moving_square("red")),
            _frames("blank grey frames", mediagen.blank_clip()), "a clip answered like its blank control")


@pytest.mark.requires("video")
def test_video_frame_order_matters(chat: MediaChat) -> None:
    frames = mediagen.moving_square("red")
    _differ(chat, _frames("red square sliding right", frames), _frames("the same frames reversed", frames[::-1]),
            "a clip answered like its frames in reverse order")


# --- audio -----------------------------------------------------------------------------------------

def _wav(label: str, payload: bytes) -> Media:
    return audio(label, imagegen.data_url_of(payload, WAV))


@pytest.mark.requires("audio")
def test_distinct_audio_gives_distinct_answers(chat: MediaChat) -> None:
    _distinct(chat, [_wav(f"{hz:.0f} Hz tone", mediagen.tone_wav(hz)) for hz in (220.0, 880.0, 1760.0)])


@pytest.mark.requires("audio")
def test_audio_by_http_and_data_url_agree(chat: MediaChat, media_server: MediaServer) -> None:
    clip = mediagen.tone_wav(440.0)
    _agree(chat, audio("440 Hz tone, http URL", media_server.publish(clip, WAV)), _wav("440 Hz tone, data URL", clip))


@pytest.mark.requires("audio")
def test_audio_differs_from_silent_control(chat: MediaChat) -> None:
    _differ(chat, _wav("440 Hz tone", mediagen.tone_wav(440.0)), _wav("silence, same length", mediagen.silence_wav()),
            "a clip answered like its silent control")


@pytest.mark.requires("audio")
def test_audio_time_order_matters(chat: MediaChat) -> None:
    _differ(chat, _wav("220 Hz then 1760 Hz", mediagen.two_tones_wav(220.0, 1760.0)),
            _wav("1760 Hz then 220 Hz", mediagen.two_tones_wav(1760.0, 220.0)),
            "a clip answered like its halves swapped")


# --- hostile clips ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    modality: Modality
    media: Callable[[], Media]
    may_succeed: bool  # valid media the API allows: 200 is as correct as a 4xx
    why: str


def _data(modality: Modality, label: str, payload: Callable[[], bytes], mime: str) -> Callable[[], Media]:
    return lambda: modality.media(label, imagegen.data_url_of(payload(), mime))


def _gif() -> bytes:
    return mediagen.gif_bytes(mediagen.moving_square("blue"))


def _tone() -> bytes:
    return mediagen.tone_wav(440.0)


def _vid(name: str, label: str, payload: Callable[[], bytes], mime: str, may_succeed: bool, why: str) -> Case:
    return Case(name, VIDEO, _data(VIDEO, label, payload, mime), may_succeed, why)


def _aud(name: str, label: str, payload: Callable[[], bytes], mime: str, may_succeed: bool, why: str) -> Case:
    return Case(name, AUDIO, _data(AUDIO, label, payload, mime), may_succeed, why)


TRUST = "the bytes are a valid clip; a server may trust the content over the label, or refuse the label"
CASES = [
    _vid("video_truncated", "GIF cut inside its header", lambda: _gif()[:20], GIF, False, "not a decodable clip"),
    _vid("video_cut_in_half", "GIF cut in half", lambda: _gif()[:len(_gif()) // 2], GIF, True,
         "the frames before the cut are whole: decoding them is legitimate, so is refusing the clip"),
    Case("video_zero_frames", VIDEO, lambda: VIDEO.media("JPEG-frames data URL of no frame", "data:video/jpeg;base64,"),
         False, "a clip of no frames"),
    _vid("video_wrong_container", "WAV labelled video/mp4", _tone, "video/mp4", False, "audio bytes are no video"),
    _vid("video_one_frame", "GIF of one frame", lambda: mediagen.gif_bytes(mediagen.moving_square("red")[:1]), GIF,
         True, "a valid clip of one still frame; a server may answer it or refuse it as too short"),
    _vid("video_huge_resolution", "4096x4096 GIF", mediagen.huge_gif, GIF, True,
         "valid; resizing it is legitimate, so is refusing it"),
    _vid("video_long", "2000-frame GIF", mediagen.long_gif, GIF, True,
         "valid; sampling frames from it is legitimate, so is refusing it"),
    _vid("video_wrong_mime", "GIF labelled audio/wav", _gif, WAV, True, TRUST),
    _aud("audio_truncated", "WAV cut in its header", lambda: _tone()[:30], WAV, False, "not a decodable clip"),
    _aud("audio_zero_samples", "WAV of no samples", lambda: mediagen.wav_of([]), WAV, False, "no sound at all"),
    _aud("audio_wrong_container", "PNG labelled audio/wav", lambda: imagegen.encode(imagegen.shapes()), WAV, False,
         "image bytes are no audio"),
    _aud("audio_long", "10-minute WAV", lambda: mediagen.silence_wav(600.0), WAV, True,
         "valid; truncating it is legitimate, so is refusing it"),
    _aud("audio_wrong_mime", "WAV labelled video/mp4", _tone, "video/mp4", True, TRUST),
]


@pytest.fixture
def fresh_chat(endpoint: Endpoint, server: ServerFacts) -> Iterator[MediaChat]:
    with endpoint.client() as client:  # its own connection: uvicorn closes one after an unhandled 500
        yield MediaChat(client, endpoint, server, max_tokens=4)


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.requires(c.modality.capability), id=c.name)
                                  for c in CASES])
def test_hostile_clip_is_refused_cleanly(case: Case, fresh_chat: MediaChat, endpoint: Endpoint, server: ServerFacts,
                                         record_property: pytest.RecordProperty) -> None:
    media = [case.media()]
    all_hold(lambda: check_refusal(send(fresh_chat, media, record_property), describe(media), case.may_succeed,
                                   case.why),
             healthy_after(record_property,
                           lambda: assert_still_healthy(endpoint, server, describe(media), case.modality.data_media())))
