"""Proof that the cache-confusion and media-fetch checks are sharp and fair against real vLLM (the shared
cpu-tiny server): each defect proxy in front of it is caught by the check named for it while a check it
leaves alone still passes; and the fetch checks, which real vLLM fails (its registered deviations), pass
through a proxy that refuses failing media URLs the way a correct server would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from tests.defects.media_cache import (
    CrossedWhenConcurrent,
    KeyedImageCache,
    StaleAfterEviction,
    all_but_last_rows,
    thumbnail,
)
from tests.defects.media_fetch import RefuseFailingMedia
from tests.defects.proxy import Defect, DefectProxy
from tests.integration.test_multimodal_proof import run_suites

pytestmark = pytest.mark.integration

CACHE = "suites/test_multimodal_cache.py"
FETCH = "suites/test_multimodal_fetch.py"

# defect -> (the checks that must catch it, a check it leaves alone that must still pass)
CAUGHT: dict[str, tuple[Defect, list[str], str]] = {
    "cache_skips_last_rows": (KeyedImageCache(all_but_last_rows), ["test_last_rows_difference_is_seen"],
                              "test_small_region_difference_is_seen"),
    "cache_keyed_on_thumbnail": (KeyedImageCache(thumbnail), ["test_small_region_difference_is_seen"],
                                 "test_last_rows_difference_is_seen"),
    "crossed_when_concurrent": (CrossedWhenConcurrent(), ["test_near_identical_images_at_once_keep_their_own_answers"],
                                "test_last_rows_difference_is_seen"),
    "stale_after_eviction": (StaleAfterEviction(), ["test_image_sent_again_after_many_others_answers_the_same"],
                             "test_small_region_difference_is_seen"),
}


@pytest.fixture
def proxied(cpu_tiny: Endpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    with DefectProxy(cpu_tiny.base_url, request.param) as url:
        yield url


def _selection(checks: list[str]) -> str:
    return " or ".join(re.sub(r"\[(.*)\]", r" and \1", c) for c in checks)


@pytest.mark.parametrize(("proxied", "name"), [(v[0], k) for k, v in CAUGHT.items()],
                         ids=list(CAUGHT), indirect=["proxied"])
def test_cache_defect_is_caught_by_its_check(proxied: str, name: str, tmp_path: Path) -> None:
    _, catching, untouched = CAUGHT[name]
    outcomes, output = run_suites(proxied, tmp_path, [CACHE], "-k", _selection([*catching, untouched]))
    for check in catching:
        assert outcomes.get(check) == "FAILED", f"{name}: {check} should FAIL, got {outcomes.get(check)}\n{output}"
    assert outcomes.get(untouched) == "PASSED", f"{name}: {untouched} should still pass\n{output}"


def test_cache_checks_pass_on_cpu_tiny(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    outcomes, output = run_suites(cpu_tiny.base_url, tmp_path, [CACHE])
    assert outcomes and all(o == "PASSED" for o in outcomes.values()), output


def test_fetch_checks_catch_real_vllm_and_pass_on_a_correct_server(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    # fast faults only: the silent and trickling hosts cost 45 s each and fail on vLLM the same way
    fast = "not silent and not trickle"
    strict, output = run_suites(cpu_tiny.base_url, tmp_path / "strict", [FETCH], "--image-host", "docker",
                                "--strict-upstream", "-k", fast)
    failed = {name for name, outcome in strict.items() if outcome == "FAILED"}
    vllm_500s = ("refused", "unresolvable", "error_500")  # the registry's media-fetch-error-500
    assert failed == {f"test_failing_media_url_is_refused[image-{f}]" for f in vllm_500s}, output
    with DefectProxy(cpu_tiny.base_url, RefuseFailingMedia()) as url:
        fixed, output = run_suites(url, tmp_path / "fixed", [FETCH], "--image-host", "docker", "--strict-upstream",
                                   "-k", fast)
    assert fixed and all(o == "PASSED" for o in fixed.values()), output
