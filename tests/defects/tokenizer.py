"""Tokenizer-endpoint defects for the proxy: each breaks vLLM's `/tokenize` or `/detokenize` in one way a
server could, and counts how often it really changed something (a defect that never fired proves nothing)."""

from __future__ import annotations

import json
from typing import Any

from tests.defects.proxy import Exchange, Reply
from tests.defects.tools import CountingDefect, CrashingDefect

TOKENIZE, DETOKENIZE = "/tokenize", "/detokenize"


class TokenizerDefect(CountingDefect):
    path = TOKENIZE


class ExtraTokenInPrompts(TokenizerDefect):
    """The prompt form counts (and lists) one token more than the text has: its first one, twice."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        sent = exchange.json
        if (self.mine(exchange) and isinstance(sent, dict) and "prompt" in sent and isinstance(body, dict)
                and body.get("tokens")):
            self.hits += 1
            body["tokens"] = body["tokens"][:1] + body["tokens"]
            body["count"] = len(body["tokens"])
        return body


class IgnoresGenerationPrompt(TokenizerDefect):
    """The messages form never appends the generation prompt."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and "messages" in body:
            if body.get("add_generation_prompt", True):
                self.hits += 1
            body["add_generation_prompt"] = False
            exchange.body = json.dumps(body).encode()
        return None


class TrimsTurnWithGenerationPrompt(TokenizerDefect):
    """With add_generation_prompt, the last message loses its last character: a different conversation."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        turns = body.get("messages") if isinstance(body, dict) else None
        if (self.mine(exchange) and isinstance(turns, list) and turns and body.get("add_generation_prompt", True)
                and isinstance(turns[-1].get("content"), str) and turns[-1]["content"]):
            self.hits += 1
            turns[-1]["content"] = turns[-1]["content"][:-1]
            exchange.body = json.dumps(body).encode()
        return None


class SkipsChatTemplate(TokenizerDefect):
    """The messages form tokenizes the last message's text alone, as if there were no chat template."""

    def request(self, exchange: Exchange) -> Reply | None:
        body = exchange.json
        if self.mine(exchange) and isinstance(body, dict) and isinstance(body.get("messages"), list):
            self.hits += 1
            content = body["messages"][-1].get("content")
            exchange.body = json.dumps({"model": body.get("model"), "prompt": content,
                                        "add_special_tokens": False}).encode()
        return None


class SpecialTokenInTheMiddle(TokenizerDefect):
    """add_special_tokens=true puts a token in the middle of the text's own tokens."""

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        sent = exchange.json
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if (self.mine(exchange) and isinstance(sent, dict) and sent.get("add_special_tokens") is True
                and isinstance(tokens, list) and len(tokens) > 2):
            self.hits += 1
            body["tokens"] = [*tokens[:2], 1, *tokens[2:]]
            body["count"] = len(body["tokens"])
        return body


class LossyDetokenize(TokenizerDefect):
    """/detokenize loses the text's last character."""

    path = DETOKENIZE

    def whole_json(self, exchange: Exchange, body: Any) -> Any:
        if self.mine(exchange) and isinstance(body, dict) and isinstance(body.get("prompt"), str) and body["prompt"]:
            self.hits += 1
            body["prompt"] = body["prompt"][:-1]
        return body


class CrashOnNegativeTokenId(CrashingDefect):
    """A negative token id crashes /detokenize (a 500) instead of being refused."""

    path = DETOKENIZE

    def crashes(self, body: dict[str, Any]) -> bool:
        tokens = body.get("tokens")
        return isinstance(tokens, list) and any(isinstance(t, int) and t < 0 for t in tokens)
