"""A small retry runner for WeCom calls around the shared `backoff_delay`."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from adapters.backoff import backoff_delay
from adapters.wecom.errors import WeComConnectionError, WeComError

T = TypeVar("T")
log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry retryable `WeComError`s."""

    tries: int = 3
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.2
    sleep: Sleep = field(default=asyncio.sleep, repr=False)

    def delay(self, attempt: int) -> float:
        return backoff_delay(
            attempt, base=self.base, cap=self.cap, jitter=self.jitter, rand=random.random()
        )

    async def run(
        self, operation: Callable[[], Awaitable[T]], what: str, *, resend_safe: bool = True
    ) -> T:
        """Call ``operation`` until it succeeds, fails terminally or runs out of tries.

        ``resend_safe=False`` is for a send that must happen at most once (a welcome, a
        notice): after a timeout or a broken connection the request may have arrived, so it is
        not sent again here — the effect ledger records the outcome as unknown. An errcode
        that says WeCom refused it (-1 busy, 45009 rate limit) is still retried.
        """
        attempt = 1
        while True:
            try:
                return await operation()
            except WeComError as exc:
                may_have_arrived = isinstance(exc, WeComConnectionError) and not resend_safe
                if not exc.retryable or attempt >= self.tries or may_have_arrived:
                    raise
                delay = self.delay(attempt)
                log.warning("%s failed (%s), retry %d in %.2fs", what, exc, attempt, delay)
                await self.sleep(delay)
                attempt += 1
