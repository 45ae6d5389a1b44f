"""Multimodal correctness: does the model really see the image it was sent, and only that image?

The seed of this project: vLLM served a vision model whose engine received all-white pixels, so every
image gave the same answer while every smoke test passed. These checks catch that family on any model,
random weights included, by comparing answers between requests (never against what the model "should"
say); harness.checks.multimodal explains how answers are compared so that chance does not fail a correct server.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.checks import imagegen
from harness.checks.image_server import MediaServer
from harness.checks.multimodal import Answer, MediaChat, collisions, image, isolation_problems
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat", "vision")

WHITE = "solid:white"


@pytest.fixture(scope="module")
def chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> MediaChat:
    return MediaChat(api, endpoint, server)


@pytest.fixture(scope="module")
def solo(chat: MediaChat) -> dict[str, Answer]:
    """Each distinct image and the white control, alone, one request at a time, as data URLs."""
    gallery = {**imagegen.distinct_set(), WHITE: imagegen.solid(imagegen.COLORS["white"])}
    return {label: chat.ask([image(label, imagegen.data_url(picture))]) for label, picture in gallery.items()}


def _distinct(solo: dict[str, Answer]) -> list[Answer]:
    return [answer for label, answer in solo.items() if label != WHITE]


# --- sensitivity --------------------------------------------------------------------------------------


def test_distinct_images_give_distinct_answers(solo: dict[str, Answer]) -> None:
    same = collisions(_distinct(solo))
    assert not same, ("different images got identical answers (same tokens and runners-up), as if the model never "
                      "saw the pixels:\n" + "\n".join(f"  {a.brief()}\n  {b.brief()}" for a, b in same))


def test_no_image_answers_like_the_white_control(solo: dict[str, Answer]) -> None:
    white = solo[WHITE]
    like_white = [a for a in _distinct(solo) if a.same_as(white)]
    assert not like_white, (f"these images got the white control's answer ({white.brief()}): the server sees white "
                            "pixels where the image was:\n" + "\n".join(f"  {a.brief()}" for a in like_white))


def test_image_changes_the_answer(chat: MediaChat, solo: dict[str, Answer]) -> None:
    without = chat.ask([])
    ignored = [a for a in _distinct(solo) if a.same_as(without)]
    assert not ignored, (f"an image request answered exactly like the same request without it ({without.brief()}): "
                         "the image was dropped:\n" + "\n".join(f"  {a.brief()}" for a in ignored))


def test_image_adds_prompt_tokens(chat: MediaChat, solo: dict[str, Answer]) -> None:
    without = chat.ask([]).prompt_tokens
    pictured = solo["checkerboard"].prompt_tokens
    assert without is not None and pictured is not None, "usage.prompt_tokens missing from a chat completion"
    assert pictured > without, (f"[checkerboard] counted {pictured} prompt tokens, the same request without the "
                                f"image {without}: the image took no place in the prompt")


# --- stability ----------------------------------------------------------------------------------------


def test_same_image_twice_gives_the_same_answer(chat: MediaChat, solo: dict[str, Answer]) -> None:
    # the second request may be served from vLLM's multimodal cache: a wrong cache hit shows here too
    first = solo["shapes"]
    again = chat.ask([image("shapes", imagegen.data_url(imagegen.shapes()))])
    assert again.agrees_with(first), f"the same image twice: {first.brief()}, then {again.brief()}"


def test_data_url_and_http_url_agree(chat: MediaChat, solo: dict[str, Answer], media_server: MediaServer) -> None:
    url = media_server.publish(imagegen.encode(imagegen.gradient()), "image/png")
    fetched = chat.ask([image(f"gradient via {url}", url)])
    assert any(path in url for path in media_server.requests), f"the server answered without fetching {url}"
    assert fetched.agrees_with(solo["gradient"]), (f"the same PNG as a data URL and as an http URL: "
                                                   f"{solo['gradient'].brief()} vs {fetched.brief()}")


def test_png_and_lossless_webp_agree_and_jpeg_is_seen(chat: MediaChat, solo: dict[str, Answer]) -> None:
    # lossless WebP decodes to the PNG's exact pixels, so the answers must match; JPEG changes pixels, so
    # it is only required to be read as an image (not answered like the white control)
    picture = imagegen.shapes()
    webp = chat.ask([image("shapes as lossless WebP", imagegen.data_url(picture, "WEBP"))])
    jpeg = chat.ask([image("shapes as JPEG", imagegen.data_url(picture, "JPEG"))])
    assert webp.agrees_with(solo["shapes"]), f"PNG {solo['shapes'].brief()} vs {webp.brief()}"
    assert not jpeg.same_as(solo[WHITE]), f"{jpeg.brief()} equals the white control {solo[WHITE].brief()}"


def test_transparent_png_is_accepted(chat: MediaChat) -> None:
    chat.ask([image("transparent RGBA PNG", imagegen.data_url(imagegen.transparent()))])


def test_streaming_matches_non_streaming(chat: MediaChat, solo: dict[str, Answer]) -> None:
    label = "checkerboard"
    stream, streamed = chat.stream([image(label, imagegen.data_url(imagegen.checkerboard()))])
    # [DONE] and the rest of the framing are test_conformance_streaming's to judge
    assert stream.error is None, f"streaming [{label}]: an error event {stream.error}"
    alone = solo[label]
    assert streamed.agrees_with(alone), f"[{label}] non-streaming {alone.text[:80]!r}, streaming {streamed.text[:80]!r}"
    if streamed.tokens == alone.tokens:  # same tokens must read as the same text, however they were chunked
        assert streamed.text == alone.text, (f"[{label}] the same tokens detokenised differently: non-streaming "
                                             f"{alone.text[:80]!r}, streaming {streamed.text[:80]!r}")


# --- several images in one message --------------------------------------------------------------------


@pytest.mark.requires("multi_image")
def test_second_image_matters(chat: MediaChat) -> None:
    first = image("solid:red", imagegen.data_url(imagegen.solid(imagegen.COLORS["red"])))
    a = chat.ask([first, image("checkerboard", imagegen.data_url(imagegen.checkerboard()))])
    b = chat.ask([first, image("gradient", imagegen.data_url(imagegen.gradient()))])
    assert not a.same_as(b), f"changing only the second image changed nothing: {a.brief()} / {b.brief()}"


@pytest.mark.requires("multi_image")
def test_image_order_matters(chat: MediaChat) -> None:
    red = image("solid:red", imagegen.data_url(imagegen.solid(imagegen.COLORS["red"])))
    board = image("checkerboard", imagegen.data_url(imagegen.checkerboard()))
    forward, backward = chat.ask([red, board]), chat.ask([board, red])
    assert not forward.same_as(backward), (f"swapping the images changed nothing: {forward.brief()} / "
                                           f"{backward.brief()}")


# --- concurrency --------------------------------------------------------------------------------------


def test_concurrent_requests_stay_isolated(chat: MediaChat, solo: dict[str, Answer]) -> None:
    gallery = imagegen.distinct_set()

    def timed(item: tuple[str, object]) -> tuple[Answer, float, float]:
        started = time.monotonic()
        answer = chat.ask([image(item[0], imagegen.data_url(item[1]))])  # type: ignore[arg-type]
        return answer, started, time.monotonic()

    with ThreadPoolExecutor(max_workers=len(gallery)) as pool:
        results = list(pool.map(timed, gallery.items()))
    together = [answer for answer, _, _ in results]
    spans = sorted((start, end) for _, start, end in results)
    if not any(start < max(end for _, end in spans[:i]) for i, (start, _) in enumerate(spans) if i):
        pytest.skip(f"the {len(gallery)} requests did not overlap in time (each ended before the next began): "
                    "isolation under concurrency was not observed")
    problems = isolation_problems([solo[label] for label in gallery], together)
    assert not problems, (f"{len(gallery)} images sent at once did not each get their own answer:\n  "
                          + "\n  ".join(problems))


# --- tokenisation report ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(16, 16), (224, 224), (640, 480), (1024, 1024), (2048, 512)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_prompt_tokens_per_image_size(chat: MediaChat, size: tuple[int, int],
                                      record_property: pytest.RecordProperty) -> None:
    # recorded, not judged: a bump that changes how images are tokenised shows in results.jsonl
    answer = chat.ask([image(f"shapes {size[0]}x{size[1]}", imagegen.data_url(imagegen.shapes(size)))])
    without = chat.ask([]).prompt_tokens
    record_property("prompt_tokens", answer.prompt_tokens)
    record_property("image_tokens", None if answer.prompt_tokens is None or without is None
                    else answer.prompt_tokens - without)
    record_property("answer", answer.text[:80])
    assert answer.prompt_tokens is not None, f"{answer.sent}: usage.prompt_tokens missing"
