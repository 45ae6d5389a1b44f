"""The video and audio variants for real (opt-in: `-m media`, a build and two boots): cpu-tiny-av (Qwen2-VL:
images and video) and cpu-tiny-audio (Qwen2-Audio) pass the multimodal suites, failing only where real
vLLM's registered deviations say; and each video/audio check is proven to catch its defect through a proxy
in front of that real server, while a check the defect leaves alone still passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import launched
from tests.defects.clips import (
    BlankHttpVideos,
    BlankVideos,
    ServerErrorOnEmptyClip,
    SilentAudio,
    SortedFrames,
    SortedSamples,
)
from tests.defects.proxy import Defect, DefectProxy
from tests.integration.test_multimodal_proof import run_suites

pytestmark = [pytest.mark.integration, pytest.mark.media]

SUITES = ["suites/test_multimodal_av.py", "suites/test_multimodal_probes.py", "suites/test_multimodal_fetch.py",
          "suites/test_multimodal.py", "suites/test_multimodal_hostile.py", "suites/test_multimodal_cache.py"]
AV = "suites/test_multimodal_av.py"

# variant -> [(defect, the checks that must catch it, a check it leaves alone that must still pass)]
CAUGHT: dict[str, list[tuple[Defect, list[str], str]]] = {
    "cpu-tiny-av": [
        (BlankVideos(), ["test_distinct_videos_give_distinct_answers", "test_video_differs_from_blank_control"],
         "test_video_by_http_and_data_url_agree"),
        (BlankHttpVideos(), ["test_video_by_http_and_data_url_agree"], "test_distinct_videos_give_distinct_answers"),
        (SortedFrames(), ["test_video_frame_order_matters"], "test_video_differs_from_blank_control"),
        (ServerErrorOnEmptyClip(), ["test_hostile_clip_is_refused_cleanly[video_zero_frames]"],
         "test_hostile_clip_is_refused_cleanly[video_wrong_container]"),
    ],
    "cpu-tiny-audio": [
        (SilentAudio(), ["test_distinct_audio_gives_distinct_answers", "test_audio_differs_from_silent_control"],
         "test_audio_by_http_and_data_url_agree"),
        (SortedSamples(), ["test_audio_time_order_matters"], "test_audio_differs_from_silent_control"),
        (ServerErrorOnEmptyClip(), ["test_hostile_clip_is_refused_cleanly[audio_zero_samples]"],
         "test_hostile_clip_is_refused_cleanly[audio_wrong_container]"),
    ],
}


@pytest.mark.parametrize("variant", list(CAUGHT))
def test_media_variant_passes_its_suites_and_each_check_catches_its_defect(
        variant: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    with launched(tmp_path_factory, variant) as endpoint:
        outcomes, output = run_suites(endpoint.base_url, tmp_path / "suites", SUITES, "--image-host", "docker",
                                      image=variant)
        failed = {name for name, outcome in outcomes.items() if outcome in ("FAILED", "ERROR")}
        assert outcomes and not failed, output
        for i, (defect, catching, untouched) in enumerate(CAUGHT[variant]):
            selection = " or ".join(re.sub(r"\[(.*)\]", r" and \1", c) for c in [*catching, untouched])
            with DefectProxy(endpoint.base_url, defect) as url:
                got, output = run_suites(url, tmp_path / str(i), [AV], "--image-host", "docker", "-k", selection,
                                         image=variant)
            name = type(defect).__name__
            for check in catching:
                assert got.get(check) == "FAILED", f"{name}: {check} should FAIL, got {got.get(check)}\n{output}"
            assert got.get(untouched) == "PASSED", f"{name}: {untouched} should still pass\n{output}"
