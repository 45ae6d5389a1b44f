"""Images through the Responses API (`input_image` parts), held to the multimodal suite's standard:
distinct images give distinct answers, the same image gives the same answer through Responses as through
chat completions (by data URL and by http URL), and hostile images are refused with a 4xx while the server
keeps serving. Answers are compared as harness.checks.multimodal explains (tokens and runners-up)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.checks import imagegen
from harness.checks.image_server import MediaServer
from harness.checks.multimodal import Answer, Media, MediaChat, check_refusal, collisions, describe, image
from harness.checks.openai_calls import ServerFacts
from harness.checks.responses_media import MediaResponses
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("responses", "vision")


@pytest.fixture(scope="module")
def chat(api: httpx.Client, endpoint: Endpoint, server: ServerFacts) -> MediaChat:
    return MediaChat(api, endpoint, server)


@pytest.fixture(scope="module")
def responses(chat: MediaChat) -> MediaResponses:
    return MediaResponses(chat)


@pytest.fixture(scope="module")
def solo(responses: MediaResponses) -> dict[str, Answer]:
    """Each distinct image alone through /v1/responses, as data URLs."""
    return {label: responses.ask([image(label, imagegen.data_url(picture))])
            for label, picture in imagegen.distinct_set().items()}


def test_responses_distinct_images_give_distinct_answers(solo: dict[str, Answer]) -> None:
    same = collisions(list(solo.values()))
    assert not same, ("through /v1/responses, different images got identical answers (same tokens and runners-up), "
                      "as if the model never saw the pixels:\n" + "\n".join(f"  {a.brief()}\n  {b.brief()}"
                                                                           for a, b in same))


@pytest.mark.requires("chat")
def test_responses_image_by_data_url_answers_as_chat(chat: MediaChat, solo: dict[str, Answer]) -> None:
    label = "checkerboard"
    through_chat = chat.ask([image(label, imagegen.data_url(imagegen.checkerboard()))])
    assert solo[label].agrees_with(through_chat), (
        f"the same image and prompt, greedy: chat completions {through_chat.brief()}, "
        f"responses {solo[label].brief()}")


@pytest.mark.requires("chat")
def test_responses_image_by_http_url_answers_as_chat(chat: MediaChat, responses: MediaResponses,
                                                     media_server: MediaServer) -> None:
    url = media_server.publish(imagegen.encode(imagegen.gradient()), "image/png")
    fetched = responses.ask([image(f"gradient via {url}", url)])
    assert any(path in url for path in media_server.requests), f"the server answered without fetching {url}"
    through_chat = chat.ask([image("gradient as a data URL", imagegen.data_url(imagegen.gradient()))])
    assert fetched.agrees_with(through_chat), (f"the same PNG: chat completions {through_chat.brief()}, "
                                               f"responses {fetched.brief()}")


HOSTILE: list[tuple[str, Callable[[], Media]]] = [
    ("truncated_png", lambda: image("PNG cut in half", imagegen.data_url_of(imagegen.truncated_png(), "image/png"))),
    ("not_an_image", lambda: image("text bytes labelled image/png",
                                   imagegen.data_url_of(b"these bytes are not an image", "image/png"))),
    ("bad_base64", lambda: image("invalid base64", "data:image/png;base64,@@not*base64@@")),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=name) for name, m in HOSTILE])
def test_responses_hostile_image_is_refused_cleanly(make: Callable[[], Media], endpoint: Endpoint,
                                                    server: ServerFacts) -> None:
    media = make()
    # a connection of its own: uvicorn closes the connection after an unhandled 500
    with endpoint.client() as client:
        responses = MediaResponses(MediaChat(client, endpoint, server, max_tokens=4))
        try:
            response = responses.post([media])
        except httpx.TransportError as exc:
            raise AssertionError(f"sent {describe([media])} via /v1/responses: the connection dropped without an "
                                 f"answer ({type(exc).__name__}: {exc}); did the server crash?") from None
        try:
            check_refusal(response, f"{describe([media])} via /v1/responses", False, "not a decodable image")
        finally:  # healthy afterwards, whatever the answer was
            health = client.get(endpoint.health_path)
            assert health.status_code == 200, (f"after {media.label}: {endpoint.health_path} answered "
                                               f"{health.status_code}")
            responses.ask([image("checkerboard (health probe)", imagegen.data_url(imagegen.checkerboard()))])
