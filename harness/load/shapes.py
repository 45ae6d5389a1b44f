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

import numpy as np


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


def split_evenly(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split into `parts` shares that differ by at most one."""
    return total // parts + (1 if index < total % parts else 0)
