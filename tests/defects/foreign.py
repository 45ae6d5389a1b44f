"""A server that is not vLLM, made from a real one: no vLLM `/version`, and unknown request fields refused
with 422 as OpenAI's own API and strict FastAPI servers do. Checks must then send only OpenAI fields."""

from __future__ import annotations

import json
from typing import Any

from tests.defects.proxy import Defect, Exchange, Reply

# the request fields vLLM accepts beyond OpenAI's that the suites could send
VLLM_EXTENSIONS = ("ignore_eos", "min_tokens", "top_k", "repetition_penalty", "skip_special_tokens")


class NotVllm(Defect):
    def __init__(self) -> None:
        self.refused: list[str] = []  # the extensions a check sent anyway

    def request(self, exchange: Exchange) -> Reply | None:
        if exchange.path == "/version":
            return Reply(404, b'{"detail": "Not Found"}')
        body = exchange.json
        sent = [field for field in VLLM_EXTENSIONS if isinstance(body, dict) and field in body]
        if sent:
            self.refused.extend(sent)
            detail = [{"type": "extra_forbidden", "loc": ["body", f], "msg": "Extra inputs are not permitted"}
                      for f in sent]
            return Reply(422, json.dumps({"detail": detail}).encode())
        return None

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        return body
