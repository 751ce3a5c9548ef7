"""A small retry runner for WeCom calls around the shared `backoff_delay`."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from adapters.backoff import backoff_delay
from adapters.wecom.errors import WeComError

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

    async def run(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """Call ``operation`` until it succeeds, fails terminally or runs out of tries."""
        attempt = 1
        while True:
            try:
                return await operation()
            except WeComError as exc:
                if not exc.retryable or attempt >= self.tries:
                    raise
                delay = self.delay(attempt)
                log.warning("%s failed (%s), retry %d in %.2fs", what, exc, attempt, delay)
                await self.sleep(delay)
                attempt += 1
