from __future__ import annotations

import pytest

from adapters.wecom import RetryPolicy, WeComAPIError, WeComConnectionError, backoff_delay
from adapters.wecom.credentials import cache_ttl
from adapters.wecom.errors import scrub


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (20, 8.0)]
)
def test_backoff_doubles_then_caps(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=0.5, cap=8.0) == expected


def test_jitter_shaves_at_most_its_fraction() -> None:
    assert backoff_delay(3, base=0.5, cap=8.0, jitter=0.25, rand=1.0) == 1.5
    assert backoff_delay(3, base=0.5, cap=8.0, jitter=0.25, rand=0.0) == 2.0


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, base=1, cap=1)


@pytest.mark.parametrize(
    ("expires_in", "ttl"), [(7200, 6900), (601, 301), (600, 300), (10, 5), (0, 0)]
)
def test_cache_ttl_keeps_a_safety_margin(expires_in: int, ttl: float) -> None:
    assert cache_ttl(expires_in) == ttl


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (WeComAPIError(-1, "busy"), True),
        (WeComAPIError(45009, "freq"), True),
        (WeComAPIError(45033, "concurrent"), True),
        (WeComAPIError(40001, "secret"), False),
        (WeComAPIError(84061, "no relation"), False),
        (WeComConnectionError("timeout"), True),
    ],
)
def test_retryable_classification(
    error: WeComAPIError | WeComConnectionError, retryable: bool
) -> None:
    assert error.retryable is retryable


async def test_retry_policy_stops_after_tries() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    calls = 0

    async def busy() -> None:
        nonlocal calls
        calls += 1
        raise WeComAPIError(-1, "busy")

    with pytest.raises(WeComAPIError):
        await RetryPolicy(tries=3, jitter=0, sleep=sleep).run(busy, "test")
    assert calls == 3 and slept == [0.5, 1.0]


def test_scrub_masks_credentials_in_urls() -> None:
    url = "http://h/cgi-bin/x?access_token=abc123&corpsecret=s3&key=k&userid=u"
    assert scrub(url) == "http://h/cgi-bin/x?access_token=***&corpsecret=***&key=***&userid=u"
