"""Decide whether a rule with a threshold fires now, from hit times the caller stored."""

import bisect
from collections.abc import Iterable
from typing import Final

from tagging.rules import Threshold

DAY_MS: Final = 86_400_000


def window_start(threshold: Threshold, now_ms: int) -> int:
    """The exclusive lower bound of the window that ends at ``now_ms``."""
    return now_ms - threshold.window_days * DAY_MS


def hits_in_window(threshold: Threshold, earlier_hits_ms: Iterable[int], now_ms: int) -> int:
    """Count hits in the window (now − window_days, now], the current hit included.

    Earlier hits later than ``now_ms`` (delivered out of order) are not counted: the
    decision for this message must not depend on messages written after it.
    """
    since = window_start(threshold, now_ms)
    return 1 + sum(1 for hit in earlier_hits_ms if since < hit <= now_ms)


def threshold_fires(
    threshold: Threshold | None, earlier_hits_ms: Iterable[int], now_ms: int
) -> bool:
    """Say whether this hit fires the rule: it must be exactly the ``count``-th in the window.

    ``earlier_hits_ms`` are the times of this rule's earlier hits for this customer, fired
    or not. "Exactly" rather than "at least" means a rule fires once per burst instead of
    on every later hit (no ticket per message), and fires again once older hits have left
    the window. A rule without threshold fires on every hit; count 1 with a window fires at
    most once per quiet window.
    """
    if threshold is None:
        return True
    return hits_in_window(threshold, earlier_hits_ms, now_ms) == threshold.count


def fire_times(threshold: Threshold | None, hit_times_ms: Iterable[int]) -> list[int]:
    """Replay one customer's hits in time order and return when the rule would have fired.

    Same decision as ``threshold_fires`` for each hit given the ones before it, in
    O(n log n) rather than O(n²), for backtests over long histories.
    """
    times = sorted(hit_times_ms)
    if threshold is None:
        return times
    window = threshold.window_days * DAY_MS
    fired = []
    for index, now in enumerate(times):
        in_window = index - bisect.bisect_right(times, now - window, 0, index) + 1
        if in_window == threshold.count:
            fired.append(now)
    return fired
