"""Not a defect but a fix, to prove the fetch checks fair: the proxy fetches each http media URL first
(bounded, no retries, on the harness's side of the Docker bridge) and answers 400 with a message when that
fails, as a correct server would; media that fetch fine go on to the real server untouched."""

from __future__ import annotations

import json

import httpx

from harness.server.host_gateway import host_gateway_address
from tests.defects.multimodal import media_parts
from tests.defects.proxy import Defect, Exchange, Reply

LIMIT_BYTES = 64 * 1024 * 1024
DEADLINE_S = 5.0


class RefuseFailingMedia(Defect):
    def request(self, exchange: Exchange) -> Reply | None:
        for kind in ("image_url", "video_url", "audio_url"):
            for _, part in media_parts(exchange.json, kind):
                url = part[kind].get("url", "")
                problem = _fetch_problem(url) if url.startswith("http") else None
                if problem:
                    message = f"cannot fetch {kind} {url}: {problem}"
                    return Reply(400, json.dumps({"error": {"message": message, "type": "BadRequestError",
                                                            "code": 400}}).encode())
        return None


def _fetch_problem(url: str) -> str | None:
    url = url.replace("host.docker.internal", host_gateway_address())  # the proxy runs on the host
    try:
        with httpx.Client(timeout=DEADLINE_S, follow_redirects=True, max_redirects=5) as client, \
                client.stream("GET", url) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            if not response.headers.get("content-type", "").startswith(("image/", "video/", "audio/")):
                return f"content type {response.headers.get('content-type')}"
            if int(response.headers.get("content-length") or 0) > LIMIT_BYTES:
                return "larger than the limit"
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None
