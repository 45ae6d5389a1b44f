"""Hostile image input: malformed, extreme or forbidden images must be refused with a 4xx — never a
5xx, never a crash (CVE-2026-22773: a 1x1 image killed the engine), never an error text with a memory
address in it (CVE-2026-22778) — and the server must still serve afterwards.

Where the OpenAI API allows the input (a valid image of an odd size), answering it with 200 is also correct;
each case says which answers it accepts, and why.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from PIL import Image

from harness.checks import imagegen
from harness.checks.image_server import MediaServer
from harness.checks.multimodal import Media, MediaChat, check_refusal, describe, image, send
from harness.checks.multimodal import assert_still_healthy as healthy
from harness.checks.observed import healthy_after
from harness.checks.openai_calls import ServerFacts, all_hold
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat", "vision")

PNG = "image/png"


@dataclass(frozen=True)
class Case:
    name: str
    media: Callable[[], list[Media]]
    may_succeed: bool  # a valid image the API allows: 200 is as correct as a 4xx
    why: str


def _png(label: str, picture: Image.Image) -> list[Media]:
    return [image(label, imagegen.data_url(picture))]


def _raw(label: str, payload: bytes, mime: str = PNG) -> list[Media]:
    return [image(label, imagegen.data_url_of(payload, mime))]


CASES = [
    Case("one_pixel", lambda: _png("1x1 PNG", imagegen.solid((200, 30, 30), (1, 1))), True,
         "a valid image; a server may upscale it or refuse it as too small"),
    Case("one_by_n", lambda: _png("1x300 PNG", imagegen.gradient((1, 300))), True,
         "a valid image of extreme aspect ratio; resizing it is legitimate"),
    Case("huge", lambda: _raw("20000x20000 PNG", imagegen.huge_png()), True,
         "valid, but far past any decoder's pixel budget: refusing is expected, decoding it is not wrong"),
    Case("truncated_png", lambda: _raw("PNG cut in half", imagegen.truncated_png()), False,
         "not a decodable image"),
    Case("not_an_image", lambda: _raw("text bytes labelled image/png", b"these bytes are not an image"), False,
         "not an image at all"),
    Case("bad_base64", lambda: [image("invalid base64", "data:image/png;base64,@@not*base64@@")], False,
         "the data URL itself is malformed"),
    Case("wrong_mime", lambda: _raw("PNG bytes labelled text/plain", imagegen.encode(imagegen.shapes()),
                                    "text/plain"), True,
         "the bytes are a valid PNG; a server may trust the content over the label, or refuse the label"),
    Case("ftp_scheme", lambda: [image("ftp:// URL", "ftp://127.0.0.1/image.png")], False,
         "no OpenAI-compatible server fetches ftp"),
    Case("file_scheme", lambda: [image("file:///etc/passwd", "file:///etc/passwd")], False,
         "a local file that is no image (and must not be read for a client unless allowed)"),
]


@pytest.fixture
def chat(endpoint: Endpoint, server: ServerFacts) -> Iterator[MediaChat]:
    # a connection of its own per test: uvicorn closes the connection after an unhandled 500, and a
    # shared pool would hand that dead connection to the next, innocent test
    with endpoint.client() as client:
        yield MediaChat(client, endpoint, server, max_tokens=4)


def assert_still_healthy(endpoint: Endpoint, server: ServerFacts, after: str) -> None:
    healthy(endpoint, server, after, image("checkerboard (health probe)", imagegen.data_url(imagegen.checkerboard())))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_image_is_refused_cleanly(case: Case, chat: MediaChat, endpoint: Endpoint, server: ServerFacts,
                                          record_property: pytest.RecordProperty) -> None:
    media = case.media()
    # healthy afterwards, whatever the answer was (or if none came); both facts recorded (checks.observed)
    all_hold(lambda: check_refusal(send(chat, media, record_property), describe(media), case.may_succeed, case.why),
             healthy_after(record_property, lambda: assert_still_healthy(endpoint, server, describe(media))))


def test_more_images_than_allowed_is_refused(chat: MediaChat, endpoint: Endpoint, server: ServerFacts) -> None:
    limit = endpoint.capabilities.multi_image
    if not server.vllm_like:
        pytest.skip("a per-prompt image limit is vLLM's --limit-mm-per-prompt; this server reports no vLLM "
                    "/version, so answering more images is no deviation")
    if limit == 0:
        pytest.skip("the image limit is not declared: capabilities.multi_image = N (served with "
                    "--limit-mm-per-prompt), or --capabilities ...,multi_image=N")
    media = [image(f"image {i + 1}", imagegen.data_url(imagegen.solid((10 * i, 80, 160)))) for i in range(limit + 1)]
    response = send(chat, media)
    all_hold(lambda: check_refusal(response, f"{limit + 1} images to a variant that allows {limit}", False,
                                   "the variant declares the limit"),
             lambda: assert_still_healthy(endpoint, server, f"{limit + 1} images"))


def test_unreachable_http_image_is_refused(chat: MediaChat, endpoint: Endpoint, server: ServerFacts,
                                           media_server: MediaServer) -> None:
    url = f"{media_server.base_url}/media/missing.png"  # never published: the harness answers 404
    response = send(chat, [image(f"404 URL {url}", url)])
    all_hold(lambda: check_refusal(response, url, False, "the image URL answers 404"),
             lambda: assert_still_healthy(endpoint, server, url))


def test_bad_base64_payload_never_leaks(chat: MediaChat) -> None:
    # the payload decodes, but to bytes no decoder recognises: the error path most likely to echo an object repr
    payload = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    response = send(chat, [image("PNG signature then zeros", f"data:image/png;base64,{payload}")])
    check_refusal(response, "a PNG signature followed by zeros", False, "not a decodable image")
