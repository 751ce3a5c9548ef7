"""Capped exponential backoff with full jitter, as a pure function so it can be tested."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 600.0,
    jitter: float | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

    ``base * 2**(attempt-1)`` capped at ``cap``; ``jitter`` in [0, 1] scales it down
    (defaults to a random draw in [0.5, 1]) so a burst of failures does not retry in lockstep.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    factor = random.uniform(0.5, 1.0) if jitter is None else jitter
    return max(0.0, ceiling * factor)
