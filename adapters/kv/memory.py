"""In-process `KVStore` for the embedded default: one process only, nothing shared."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable

from adapters.kv.base import KeyBuilder, LockNotAcquired, check_ttl


class MemoryKV:
    """Dict-backed store with the same TTL, lock and doorbell semantics as `RedisKV`."""

    def __init__(self, keys: KeyBuilder | None = None, clock: Callable[[], float] = time.monotonic):
        self.keys = keys or KeyBuilder()
        self._clock = clock
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._bells: dict[str, asyncio.Event] = {}

    def _alive(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._alive(key)

    async def set(
        self,
        key: str,
        value: bytes | str,
        ttl: float | None = None,
        *,
        only_if_absent: bool = False,
    ) -> bool:
        check_ttl(ttl)
        if only_if_absent and self._alive(key) is not None:
            return False
        data = value.encode() if isinstance(value, str) else value
        self._values[key] = (data, None if ttl is None else self._clock() + ttl)
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str, ttl: float | None = None) -> int:
        check_ttl(ttl)
        current = self._alive(key)
        if current is None:
            self._values[key] = (b"1", None if ttl is None else self._clock() + ttl)
            return 1
        number = int(current) + 1
        self._values[key] = (str(number).encode(), self._values[key][1])
        return number

    def lock(self, name: str, ttl: float, wait: float = 0.0) -> _MemoryLock:
        check_ttl(ttl)
        return _MemoryLock(self, self.keys("lock", name), ttl, wait)

    async def hit_rate_limit(self, name: str, limit: int, window: float) -> bool:
        now = self._clock()
        hits = self._hits[self.keys("rate", name)]
        while hits and hits[0] <= now - window:
            hits.popleft()
        hits.append(now)
        return len(hits) > limit

    async def ring(self, channel: str) -> None:
        bell = self._bells.pop(channel, None)
        if bell is not None:
            bell.set()

    async def wait_for_ring(self, channel: str, timeout: float) -> bool:
        bell = self._bells.setdefault(channel, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await bell.wait()
        except TimeoutError:
            return False
        return True

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._values.clear()


class _MemoryLock:
    def __init__(self, kv: MemoryKV, key: str, ttl: float, wait: float) -> None:
        self._kv, self._key, self._ttl, self._wait = kv, key, ttl, wait
        self._token = b""

    async def __aenter__(self) -> None:
        # A random token per acquisition: an address-based one (repr of a fresh object) is
        # reused once the object is freed, letting a late release delete the next holder's lock.
        self._token = secrets.token_hex(16).encode()
        deadline = time.monotonic() + self._wait
        while not await self._kv.set(self._key, self._token, self._ttl, only_if_absent=True):
            if time.monotonic() >= deadline:
                raise LockNotAcquired(self._key)
            await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        if await self._kv.get(self._key) == self._token:
            await self._kv.delete(self._key)
