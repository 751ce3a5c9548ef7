import pytest

from adapters.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (8, 128.0), (10, 512.0), (11, 600.0), (500, 600.0)],
)
def test_doubles_then_caps(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=1.0, cap=600.0) == expected


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 16.0), (0.5, 12.0), (1.0, 8.0)])
def test_jitter_only_shortens(rand: float, expected: float) -> None:
    assert backoff_delay(5, base=1.0, cap=600.0, jitter=0.5, rand=rand) == expected


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, base=1.0, cap=1.0)
