"""What a request says beyond a fresh random prompt: a shared prefix, a trace line's blocks, or the next
turn of a conversation. Pure functions of the config and seeds, so the same prefix or hash id is the
same tokens in every request (and on every worker) that uses it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.load.config import LoadConfig
from harness.load.prompts import prompt_words
from harness.load.trace import TraceEntry

PREFIX_SEED = 0x5EED
BLOCK_SEED = 0xB10C


def shared_prefix(config: LoadConfig, group: tuple[int, ...]) -> str:
    """The `prefix_tokens`-token prefix of prefix group `group` (its level, its process, its index)."""
    if config.prefix_tokens == 0:
        return ""
    return prompt_words(np.random.default_rng([config.seed, PREFIX_SEED, *group]), config.prefix_tokens,
                        config.word_costs)


def prefix_group(config: LoadConfig, level: int, share: int, index: int) -> tuple[int, ...]:
    """Requests 0..prefix_share-1 of a process's level share one prefix, the next prefix_share the next."""
    return (level, share, index // config.prefix_share)


def with_prefix(prefix: str, text: str) -> str:
    return f"{prefix} {text}" if prefix else text


def block(config: LoadConfig, hash_id: int) -> str:
    """The tokens of one trace hash id: the same id, the same `block_tokens` tokens."""
    return prompt_words(np.random.default_rng([config.seed, BLOCK_SEED, hash_id]), config.block_tokens,
                        config.word_costs)


def trace_text(config: LoadConfig, entry: TraceEntry, rng: np.random.Generator) -> str:
    """A trace line's prompt: its hash ids' blocks in order, cut (or filled with fresh words) to its
    input_length, counted in words (~tokens; exact where the server's tokenizer measured the words)."""
    words: list[str] = []
    for hash_id in entry.hash_ids:
        if len(words) >= entry.input_length:
            break
        words += block(config, hash_id).split()
    if len(words) < entry.input_length:
        words += prompt_words(rng, entry.input_length - len(words), config.word_costs).split()
    if config.word_costs:  # cut by tokens, not words
        kept, used = [], 0
        for word in words:
            cost = config.word_costs.get(word, 1)
            if used + cost > entry.input_length:
                break
            kept.append(word)
            used += cost
        return " ".join(kept)
    return " ".join(words[:entry.input_length])


@dataclass
class Conversation:
    """One session: each turn sends every earlier message (the assistant's real answers included) plus a
    new user message of `input_len` tokens; the first also carries the shared prefix, if any."""

    session: str
    turns: int
    prefix: str = ""
    history: list[dict[str, object]] = field(default_factory=list)
    turn: int = 0  # the turn being sent (0-based)
    level: int = -1  # the level it belongs to: a new level starts new sessions

    @property
    def over(self) -> bool:
        return self.turn >= self.turns

    def message(self, config: LoadConfig, rng: np.random.Generator) -> str:
        text = prompt_words(rng, config.input_len, config.word_costs)
        return with_prefix(self.prefix, text) if self.turn == 0 else text

    def answered(self, user_text: str, answer: str | None) -> None:
        """Keep the turn (a failed turn ends the session: its answer is unknown)."""
        if answer is None:
            self.turn = self.turns
            return
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": answer}]
        self.turn += 1


def think_seconds(config: LoadConfig, rng: np.random.Generator) -> float:
    if config.think_time <= 0:
        return 0.0
    return float(rng.exponential(config.think_time)) if config.think == "exponential" else config.think_time
