"""Capped exponential backoff as a pure function, shared by every retry loop in scrm.

The WeCom client retries a call within a request; the event workers retry a handler run
minutes later. Both wait ``base·2^(attempt-1)`` seconds, capped, shaved by jitter.
"""

from __future__ import annotations


def backoff_delay(
    attempt: int, *, base: float, cap: float, jitter: float = 0.0, rand: float = 1.0
) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): ``base·2^(attempt-1)``, capped.

    ``jitter`` (0..1) shaves up to that fraction off, scaled by ``rand`` (0..1), so that many
    processes hit by the same outage do not retry in lockstep.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    delay = min(cap, base * 2 ** min(attempt - 1, 62))  # no float overflow on long outages
    return delay * (1.0 - jitter * rand)
