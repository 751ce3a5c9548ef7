"""Thresholds: fire on the count-th hit inside the window ending now, with injected times."""

import random

import pytest

from tagging import Threshold, fire_times, hits_in_window, threshold_fires
from tagging.threshold import DAY_MS

NOW = 1_700_000_000_000
TWICE_A_WEEK = Threshold(count=2, window_days=7)


@pytest.mark.parametrize(
    ("earlier", "fires"),
    [
        ([], False),  # first hit: 1 of 2
        ([NOW - 1 * DAY_MS], True),  # second hit within 7 days
        ([NOW - 7 * DAY_MS + 1], True),  # just inside the window
        ([NOW - 7 * DAY_MS], False),  # exactly 7 days ago is outside (now − 7d, now]
        ([NOW - 30 * DAY_MS], False),
        ([NOW - 2 * DAY_MS, NOW - 1 * DAY_MS], False),  # third hit: already fired at the second
        ([NOW - 9 * DAY_MS, NOW - 1 * DAY_MS], True),  # oldest left the window: second again
        ([NOW], True),  # same millisecond counts as earlier
        ([NOW + 1], False),  # a later message delivered first does not count
    ],
)
def test_fires_on_the_count_th_hit_in_window(earlier: list[int], fires: bool) -> None:
    assert threshold_fires(TWICE_A_WEEK, earlier, NOW) is fires


def test_without_threshold_every_hit_fires() -> None:
    assert threshold_fires(None, [NOW - 1, NOW - 2], NOW) is True


def test_count_one_fires_once_per_quiet_window() -> None:
    once_a_day = Threshold(count=1, window_days=1)
    assert threshold_fires(once_a_day, [], NOW) is True
    assert threshold_fires(once_a_day, [NOW - 3_600_000], NOW) is False
    assert threshold_fires(once_a_day, [NOW - DAY_MS], NOW) is True


def test_hits_in_window_counts_the_current_hit() -> None:
    earlier = [NOW - 8 * DAY_MS, NOW - 6 * DAY_MS, NOW - 1]
    assert hits_in_window(TWICE_A_WEEK, earlier, NOW) == 3


def test_replay_fires_in_time_order() -> None:
    day = DAY_MS
    times = [10 * day, 0, 3 * day, 20 * day, 21 * day, 22 * day]  # any order in
    assert fire_times(TWICE_A_WEEK, times) == [3 * day, 21 * day]
    assert fire_times(None, [2, 1]) == [1, 2]


def test_replay_agrees_with_one_by_one_decisions() -> None:
    rng = random.Random(7)
    for _ in range(200):
        threshold = Threshold(count=rng.randint(1, 4), window_days=rng.randint(1, 5))
        times = sorted(rng.randint(0, 20 * DAY_MS) // 3_600_000 * 3_600_000 for _ in range(30))
        expected = [
            now for i, now in enumerate(times) if threshold_fires(threshold, times[:i], now)
        ]
        assert fire_times(threshold, times) == expected
