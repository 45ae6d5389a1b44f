"""The three media modalities a multimodal check can send, each with the capability that declares it, the
content part that carries it, and deterministic good samples: what fetch, hostile and load checks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.checks import imagegen, mediagen
from harness.checks.multimodal import Media, audio, image, video

COLORS = ("red", "blue", "green", "yellow", "white", "black")
TONES_HZ = (220.0, 1760.0, 440.0, 880.0, 330.0, 660.0)


@dataclass(frozen=True)
class Modality:
    name: str  # image, video, audio
    capability: str  # what variant.toml's [capabilities] (or --capabilities) declares
    part: Callable[[str, str], Media]  # (label, url) -> the content part
    mime: str  # of the samples
    make: Callable[[int], bytes]  # a distinct sample for each index
    # how long a server may take to give up on a media host that never answers: three times vLLM's own
    # default fetch timeout for the modality (VLLM_IMAGE/AUDIO/VIDEO_FETCH_TIMEOUT: 5, 10, 30 s)
    answer_within_s: float

    def sample(self, index: int = 0) -> bytes:
        return self.make(index)

    def media(self, label: str, url: str) -> Media:
        return self.part(f"{self.name} {label}", url)

    def data_media(self, index: int = 0) -> Media:
        """The index-th sample as a data URL: a request that works wherever the modality is served."""
        return self.media(f"sample {index}, data URL", imagegen.data_url_of(self.sample(index), self.mime))


def _image(index: int) -> bytes:
    return imagegen.encode(imagegen.solid(imagegen.COLORS[COLORS[index % len(COLORS)]]) if index else imagegen.shapes())


def _video(index: int) -> bytes:
    return mediagen.gif_bytes(mediagen.moving_square(COLORS[index % len(COLORS)]))


def _audio(index: int) -> bytes:
    return mediagen.tone_wav(TONES_HZ[index % len(TONES_HZ)])


IMAGE = Modality("image", "vision", image, "image/png", _image, answer_within_s=15.0)
VIDEO = Modality("video", "video", video, "image/gif", _video, answer_within_s=90.0)
AUDIO = Modality("audio", "audio", audio, "audio/wav", _audio, answer_within_s=30.0)
MODALITIES = (IMAGE, VIDEO, AUDIO)
