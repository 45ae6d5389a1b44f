"""Media URLs that fail on the way (seed 004: image, video and audio by URL): the host refuses the
connection, the name does not resolve, the host never answers, answers 500, redirects in a loop, sends an
HTML page, trickles the bytes or sends far too many (harness.checks.media_faults). Each must be answered with a
4xx and a message — never a 5xx, never a dropped connection, never a server waiting forever — and the
server must still serve that modality afterwards.

Every fault is a real socket behaviour of the harness's media server, so these run for each modality
the target declares (`vision`, `video`, `audio`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.checks.image_server import MediaServer
from harness.checks.media_faults import Fault
from harness.checks.media_kinds import MODALITIES, Modality
from harness.checks.multimodal import MediaChat, assert_still_healthy, check_refusal, describe, send
from harness.checks.observed import healthy_after
from harness.checks.openai_calls import ServerFacts, all_hold
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.requires("chat")

WHY = {
    Fault.REFUSED: "the media host refuses the connection",
    Fault.UNRESOLVABLE: "the media host name does not resolve",
    Fault.SILENT: "the media host never answers",
    Fault.ERROR_500: "the media host answers 500",
    Fault.REDIRECT_LOOP: "the media URL redirects in a loop",
    Fault.WRONG_TYPE: "the media URL answers an HTML page",
    Fault.TRICKLE: "the media host trickles its bytes, one every half second",
    Fault.OVERSIZED: "the media host sends 512 MiB",
}


@pytest.fixture
def client(endpoint: Endpoint) -> Iterator[httpx.Client]:
    with endpoint.client() as client:  # a connection of its own per test (uvicorn closes one after a 500)
        yield client


@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.value)
@pytest.mark.parametrize("modality", [pytest.param(m, marks=pytest.mark.requires(m.capability), id=m.name)
                                      for m in MODALITIES])
def test_failing_media_url_is_refused(modality: Modality, fault: Fault, client: httpx.Client, endpoint: Endpoint,
                                      server: ServerFacts, media_server: MediaServer,
                                      record_property: pytest.RecordProperty) -> None:
    # a server still silent after answer_within_s waits (or retries) far past any fetch timeout of its own
    chat = MediaChat(client, endpoint, server, max_tokens=4)
    client.timeout = httpx.Timeout(modality.answer_within_s)
    url = media_server.fault_url(fault, modality.sample(), modality.mime)
    media = [modality.media(f"URL that fails ({fault.value}) {url}", url)]

    def judged() -> None:
        try:  # the status, or that none came, recorded for the upstream registry (checks.observed)
            response = send(chat, media, record_property)
        except AssertionError as exc:
            raise AssertionError(f"{exc} ({WHY[fault]})") from None
        check_refusal(response, describe(media), False, WHY[fault])

    all_hold(judged, healthy_after(record_property,
                                   lambda: assert_still_healthy(endpoint, server, describe(media),
                                                                modality.data_media())))
