import pytest

from scrm.events.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (8, 128.0), (10, 512.0), (11, 600.0), (500, 600.0)],
)
def test_doubles_then_caps(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=1.0, cap=600.0, jitter=1.0) == expected


def test_jitter_scales_down_never_up() -> None:
    delays = {backoff_delay(5, base=1.0, cap=600.0) for _ in range(200)}
    assert all(8.0 <= d <= 16.0 for d in delays)
    assert len(delays) > 1


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0)
