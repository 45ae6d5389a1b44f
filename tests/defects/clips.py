"""Video and audio defects for the proxy: each breaks what the model hears or sees of a clip."""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import numpy as np

from harness.checks import imagegen, mediagen
from tests.defects.multimodal import media_parts, rewrite
from tests.defects.proxy import Defect, Exchange, Reply

BLANK_VIDEO = mediagen.jpeg_frames_data_url(mediagen.blank_clip())
SILENCE = imagegen.data_url_of(mediagen.silence_wav(), "audio/wav")


class _Replace(Defect):
    kind = "video_url"

    def change(self, url: str) -> str:
        return url

    def request(self, exchange: Exchange) -> Reply | None:
        def each(body: Any) -> None:
            for _, part in media_parts(body, self.kind):
                part[self.kind]["url"] = self.change(part[self.kind].get("url", ""))

        rewrite(exchange, each)
        return None


class BlankVideos(_Replace):
    """Every clip reaches the model as blank grey frames."""

    def change(self, url: str) -> str:
        return BLANK_VIDEO


class BlankHttpVideos(_Replace):
    """Clips by http URL reach the model as blank frames; data URLs are fine."""

    def change(self, url: str) -> str:
        return BLANK_VIDEO if url.startswith("http") else url


class SortedFrames(_Replace):
    """The frames of a JPEG-frames clip are put in a fixed order of their own: the clip's order is lost."""

    def change(self, url: str) -> str:
        head, _, frames = url.partition(",")
        return f"{head},{','.join(sorted(frames.split(',')))}" if head == "data:video/jpeg;base64" else url


class SilentAudio(_Replace):
    """Every sound reaches the model as silence."""

    kind = "audio_url"

    def change(self, url: str) -> str:
        return SILENCE


class SortedSamples(_Replace):
    """A data-URL WAV's samples are sorted: what was heard stays, when it was heard is lost."""

    kind = "audio_url"

    def change(self, url: str) -> str:
        if not url.startswith("data:audio/wav;base64,"):
            return url
        with wave.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as clip:
            samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        return imagegen.data_url_of(mediagen.wav_of(sorted(int(s) for s in samples)), "audio/wav")


class ServerErrorOnEmptyClip(Defect):
    """A clip of no frames or no samples gets a 500 instead of a 400."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        empty_wav = imagegen.data_url_of(mediagen.wav_of([]), "audio/wav")
        for kind in ("video_url", "audio_url"):
            for _, part in media_parts(body, kind):
                if part[kind].get("url") in ("data:video/jpeg;base64,", empty_wav):
                    return Reply(500, b'{"error": {"message": "Internal Server Error", "code": 500}}')
        return None
