"""Caches that confuse inputs. vLLM caches processed media by a hash of their content and shares KV blocks
by prompt prefix; users have seen images ignored or swapped under prefix caching and concurrency (vLLM
#20261, #10983). So: images that differ only in a small region, or only in their last rows, must not be
answered as one image; the same text with different images sent at once keeps each answer its own; and an
image sent again after many others answers as it did the first time.

The near-identical pairs are judged by `Answer.identical` (tokens, runners-up and logprob gaps to the last
bit): a model that saw different pixels moves its logprobs, however slightly; a cache that handed it the
other image's features gives bit-identical ones. Run against the server as it is served: vLLM ships with
prefix caching and its multimodal cache on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image, ImageDraw

from harness.checks import imagegen
from harness.checks.multimodal import Answer, Media, MediaChat, image, isolation_problems
from harness.checks.openai_calls import ServerFacts
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat", "vision")

MANY = 24  # images sent between the two sends of one image


@pytest.fixture(scope="module")
def chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> MediaChat:
    return MediaChat(api, endpoint, server)


def _base() -> Image.Image:
    return imagegen.shapes()


def _patched(box: tuple[int, int, int, int], color: tuple[int, int, int] = (250, 0, 250)) -> Image.Image:
    picture = _base()
    ImageDraw.Draw(picture).rectangle(box, fill=color)
    return picture


def small_region() -> Image.Image:
    """The base image with one 16x16 square (1/196 of it) recoloured, away from the edges."""
    return _patched((100, 100, 115, 115))


def last_rows() -> Image.Image:
    """The base image with only its last 8 rows recoloured: the tail of the pixel bytes."""
    w, h = _base().size
    return _patched((0, h - 8, w - 1, h - 1))


def _png(label: str, picture: Image.Image) -> Media:
    return image(label, imagegen.data_url(picture))


def _not_one_image(chat: MediaChat, label: str, other: Image.Image) -> None:
    base, changed = chat.ask([_png("base shapes image", _base())]), chat.ask([_png(label, other)])
    if not base.margins or not changed.margins:
        pytest.skip("the server returns no logprobs: answers this alike can only be told apart by them")
    assert not base.identical(changed), (f"two images that differ ({label}) got bit-identical answers, logprobs "
                                         f"included: one was answered from the other's cache? {changed.brief()}")


def test_small_region_difference_is_seen(chat: MediaChat) -> None:
    _not_one_image(chat, "a 16x16 square recoloured", small_region())


def test_last_rows_difference_is_seen(chat: MediaChat) -> None:
    _not_one_image(chat, "the last 8 rows recoloured", last_rows())


def test_near_identical_images_at_once_keep_their_own_answers(chat: MediaChat) -> None:
    gallery = {"base": _base(), "16x16 square recoloured": small_region(), "last 8 rows recoloured": last_rows(),
               **{f"solid {name}": imagegen.solid(rgb) for name, rgb in list(imagegen.COLORS.items())[:3]}}
    media = {label: _png(label, picture) for label, picture in gallery.items()}
    solo = {label: chat.ask([m]) for label, m in media.items()}
    # only images whose answers alone tell them apart can show a swap
    told_apart = [label for label in media if sum(solo[label].same_as(solo[o]) for o in media) == 1]
    if len(told_apart) < 2:
        pytest.skip(f"alone, only {told_apart} got answers no other image got: a swap could not be observed")
    rounds = 3
    with ThreadPoolExecutor(max_workers=len(told_apart)) as pool:
        together = [list(pool.map(lambda label: chat.ask([media[label]]), told_apart)) for _ in range(rounds)]
    problems = [p for answers in together for p in isolation_problems([solo[label] for label in told_apart], answers)]
    assert not problems, (f"{len(told_apart)} images with the same prompt, sent at once ({rounds} rounds), did not "
                          "each get their own answer:\n  " + "\n  ".join(problems))


def test_image_sent_again_after_many_others_answers_the_same(chat: MediaChat) -> None:
    first = chat.ask([_png("base shapes image", _base())])
    others: list[Answer] = [chat.ask([_png(f"gradient {i}", imagegen.gradient(start=(10 * i, 255 - 10 * i, 60)))])
                            for i in range(MANY)]
    again = chat.ask([_png("base shapes image, again", _base())])
    assert again.agrees_with(first), (f"the same image answered differently after {len(others)} other images: "
                                      f"first {first.brief()}, again {again.brief()}")
