"""Secrets (HF_TOKEN, API keys, anything a spec marks secret) never reach a log, report or message."""

from __future__ import annotations

import os
from collections.abc import Iterable

ALWAYS_SECRET = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "OPENAI_API_KEY")
MASK = "***"


class Redactor:
    def __init__(self, secrets: Iterable[str | None]) -> None:
        # longest first, so a secret containing another is masked whole; short values would mask noise
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str], extra: Iterable[str | None] = ()) -> Redactor:
        return cls([*(os.environ.get(n) for n in (*ALWAYS_SECRET, *names)), *extra])

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
