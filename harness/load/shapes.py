"""Load shapes as pure functions of (level, random generator): testable without a server.

Closed loop: `users` users each send their next request as soon as the last one ended.
Open loop: requests arrive on a schedule fixed in advance — gamma inter-arrivals with shape
`burstiness` and mean 1/rate (burstiness 1 is a Poisson process), as `vllm bench serve` draws them.
Every open-loop request keeps its scheduled time, so a request sent late because all users were busy
records its client queue delay instead of silently shifting the schedule (no coordinated omission).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from harness.load.config import LoadConfig


def arrival_offsets(rate: float, burstiness: float, rng: np.random.Generator, ramp_up: float = 0.0,
                    ) -> Iterator[float]:
    """Scheduled send times in seconds from the level's start, endless.

    Arrivals are a unit-rate gamma renewal process mapped through the inverse of the cumulative rate
    (time rescaling): a constant `rate`, or with `ramp_up` a rate rising linearly from 0 to `rate` over
    that many seconds, then constant."""
    u = 0.0
    knee = rate * ramp_up / 2  # expected arrivals during the ramp
    while True:
        u += 1.0 if math.isinf(burstiness) else float(rng.gamma(shape=burstiness, scale=1.0 / burstiness))
        if ramp_up > 0 and u < knee:
            yield math.sqrt(2 * ramp_up * u / rate)
        else:
            yield u / rate + (ramp_up / 2 if ramp_up > 0 else 0.0)


def split_by_weights(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder: the parts sum to `total` (when any
    weight is positive) and a zero weight gets zero."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[:total - sum(parts)]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Quota:
    """One process's part of a level: its users, and the share of the level's requests and rate they carry."""

    users: int
    limit: int | None  # requests; None: until the level's deadline
    rate: float | None  # requests/s; None: closed loop


def quotas(config: LoadConfig, level: int, users: list[int]) -> list[Quota]:
    """The level's requests and rate split over processes in proportion to the users each really runs:
    a process locust gave no users must get no requests, or the level never ends."""
    _, total, rate = config.levels()[level]
    limits: list[int | None] = (list(split_by_weights(config.requests, users)) if config.requests
                                else [None] * len(users))
    return [Quota(u, limit, rate * u / total if rate is not None and u else None)
            for u, limit in zip(users, limits, strict=True)]
