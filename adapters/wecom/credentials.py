"""Short-lived credentials (access_token, JS-SDK tickets) cached in the shared KV store.

Every process shares one cached value per credential, so a cluster calls ``gettoken`` once per
expiry instead of once per process (WeCom rate-limits ``gettoken`` and may invalidate early).
Refreshes are single-flight: an `asyncio.Lock` inside the process, a `kv.lock` across
processes, and a second look at the cache once the lock is held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from adapters.kv.base import KVStore, LockNotAcquired

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[tuple[str, int]]]
"""Ask the server for a fresh value; returns (value, expires_in seconds)."""

SAFETY_MARGIN = 300.0


def cache_ttl(expires_in: float, margin: float = SAFETY_MARGIN) -> float:
    """Seconds to keep a value that the server says lives ``expires_in`` seconds.

    Keep it ``margin`` shorter so no caller holds a token in its last minutes; for very short
    lifetimes (sandbox tests) fall back to half the lifetime.
    """
    if expires_in <= 0:
        return 0.0
    return expires_in - margin if expires_in > 2 * margin else expires_in / 2


class CachedCredential:
    """One named credential in the KV store, refreshed through ``fetch`` when missing."""

    def __init__(
        self, kv: KVStore, key: str, fetch: Fetch, *, lock_wait: float = 30.0, name: str = ""
    ) -> None:
        self._kv = kv
        self._key = key
        self._fetch = fetch
        self._lock_wait = lock_wait
        self._name = name or key
        self._local_lock = asyncio.Lock()

    async def get(self) -> str:
        """Return the cached value, fetching (once for everyone) when there is none."""
        cached = await self._kv.get(self._key)
        if cached is not None:
            return cached.decode()
        async with self._local_lock:
            cached = await self._kv.get(self._key)
            if cached is not None:
                return cached.decode()
            try:
                async with self._kv.lock(self._key, ttl=self._lock_wait, wait=self._lock_wait):
                    return await self._refresh_if_missing()
            except LockNotAcquired:
                # A holder died mid-refresh or is very slow: an extra fetch beats failing.
                log.warning("refresh lock for %s stayed taken; fetching anyway", self._name)
                return await self._refresh_if_missing()

    async def invalidate(self, stale: str) -> None:
        """Forget ``stale`` unless another caller already replaced it with a fresh value."""
        cached = await self._kv.get(self._key)
        if cached is not None and cached.decode() == stale:
            await self._kv.delete(self._key)

    async def _refresh_if_missing(self) -> str:
        cached = await self._kv.get(self._key)
        if cached is not None:
            return cached.decode()
        value, expires_in = await self._fetch()
        ttl = cache_ttl(expires_in)
        if ttl > 0:
            await self._kv.set(self._key, value, ttl)
        log.debug("refreshed %s (valid %ss)", self._name, expires_in)
        return value
