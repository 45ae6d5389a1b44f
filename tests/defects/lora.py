"""LoRA defects for the proxy: each breaks one promise of vLLM's run-time adapter routes, and counts how often
it really changed something (a defect that never fired proves nothing)."""

from __future__ import annotations

import json

from tests.defects.proxy import Defect, Exchange, Reply

LOAD, UNLOAD, COMPLETIONS = "/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/v1/completions"


class CountingDefect(Defect):
    def __init__(self) -> None:
        self.hits = 0
        self.adapters: set[str] = set()  # names loaded through this proxy

    def remember(self, exchange: Exchange) -> None:
        body = exchange.json
        if exchange.path == LOAD and isinstance(body, dict):
            self.adapters.add(str(body.get("lora_name")))


class AdapterIgnored(CountingDefect):
    """Requests for a loaded adapter are answered by the base model (the adapter's weights never applied)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, exchange: Exchange) -> Reply | None:
        self.remember(exchange)
        body = exchange.json
        if exchange.path == COMPLETIONS and isinstance(body, dict) and body.get("model") in self.adapters:
            self.hits += 1
            exchange.body = json.dumps({**body, "model": self.base}).encode()
        return None


class UnloadIgnored(CountingDefect):
    """Unloading answers 200 but the adapter stays loaded (and listed, and served)."""

    def request(self, exchange: Exchange) -> Reply | None:
        if exchange.path == UNLOAD:
            self.hits += 1
            return Reply(200, b"Success: LoRA adapter unloaded")
        return None


class BadPathLoaded(CountingDefect):
    """A load from a folder that is not there answers 200 (the server's error swallowed): the proxy answers
    such a load itself, as a server that never looked would."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if exchange.path == LOAD and isinstance(body, dict) and "nonexistent" in str(body.get("lora_path")):
            self.hits += 1
            return Reply(200, b"Success: LoRA adapter loaded", "text/plain")
        return None
