"""Production `KVStore` on Redis: what several scrm processes on several hosts share.

Semantics match `MemoryKV` (one contract suite runs against both). Time-based state lives in
Redis (PX expiries, server TIME for rate limits), so processes never compare their own clocks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from typing import Self, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.kv.base import KeyBuilder, LockNotAcquired, check_ttl
from adapters.kv.redis_bell import RedisBell

log = logging.getLogger(__name__)

LOCK_POLL_INTERVAL = 0.02
PING_TIMEOUT = 2.0

# Delete the lock only if it still holds our token: after our lease expired, someone else's.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# Sliding window on a sorted set scored by the server's clock in microseconds, so every
# process agrees on "now". Every call counts, even one that is over the limit (as MemoryKV).
HIT_RATE_LIMIT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], now_us, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


def _ms(seconds: float) -> int:
    """Whole milliseconds for PX/PEXPIRE, rounded up so a short TTL never becomes zero."""
    return max(1, math.ceil(seconds * 1000))


class RedisKV:
    """`KVStore` on one `redis.asyncio` client, created at start and closed by `close()`."""

    def __init__(self, client: Redis, keys: KeyBuilder | None = None) -> None:
        if client.get_encoder().decode_responses:
            raise ValueError("RedisKV needs a client with decode_responses=False: values are bytes")
        self.keys = keys or KeyBuilder()
        self._client = client
        self._release_lock = client.register_script(RELEASE_LOCK)
        self._hit_rate_limit = client.register_script(HIT_RATE_LIMIT)
        self._bells: dict[str, RedisBell] = {}
        self._bells_opening = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, keys: KeyBuilder | None = None) -> Self:
        """Build the store's one client; options in the URL's query string win over ours."""
        client = Redis.from_url(
            url, decode_responses=False, socket_connect_timeout=5, socket_timeout=5
        )
        return cls(client, keys)

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.get(key))

    async def set(
        self,
        key: str,
        value: bytes | str,
        ttl: float | None = None,
        *,
        only_if_absent: bool = False,
    ) -> bool:
        check_ttl(ttl)
        px = None if ttl is None else _ms(ttl)
        return bool(await self._client.set(key, value, px=px, nx=only_if_absent))

    async def delete(self, key: str) -> None:
        await self._client.delete(key)

    async def incr(self, key: str, ttl: float | None = None) -> int:
        check_ttl(ttl)
        if ttl is None:
            return int(await self._client.incr(key))
        # SET NX gives a new counter its TTL and leaves an existing one alone; INCR keeps it.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, px=_ms(ttl), nx=True)
            pipe.incr(key)
            _, number = await pipe.execute()
        return int(number)

    def lock(self, name: str, ttl: float, wait: float = 0.0) -> RedisLock:
        check_ttl(ttl)
        return RedisLock(self, self.keys("lock", name), ttl, wait)

    async def hit_rate_limit(self, name: str, limit: int, window: float) -> bool:
        check_ttl(window)
        window_us = math.ceil(window * 1_000_000)
        hit = secrets.token_hex(8)
        count = await self._hit_rate_limit(
            keys=[self.keys("rate", name)], args=[window_us, _ms(window), hit]
        )
        return int(count) > limit

    async def ring(self, channel: str) -> None:
        """Publish a ring; best effort like the doorbell itself, so a Redis error is logged."""
        try:
            await self._client.publish(self.keys("bell", channel), b"")
        except RedisError as error:
            log.warning("doorbell %s: ring failed (%r)", channel, error)

    async def wait_for_ring(self, channel: str, timeout: float) -> bool:
        """Wait on the channel's shared subscription, opened on the first wait.

        A ring that lands between two waits wakes nobody (as in MemoryKV): the worker's
        database poll after each wait picks up the work a lost ring announced. When Redis is
        unreachable this waits out the timeout and returns False, so workers fall back to
        polling instead of crashing.
        """
        deadline = time.monotonic() + timeout
        try:
            # Not bounded by `timeout`: a wait shorter than one subscribe would never subscribe.
            bell = await self._bell(channel)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("doorbell %s: subscribe failed (%r)", channel, error)
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            return False
        return await bell.wait(max(0.0, deadline - time.monotonic()))

    async def ping(self) -> bool:
        """Whether Redis answers, for /readyz; False instead of an error."""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                return bool(await self._client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        """Stop the doorbell readers and close the client; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        async with self._bells_opening:  # a bell being opened right now is closed too
            bells, self._bells = list(self._bells.values()), {}
        for bell in bells:
            await bell.close()
        await self._client.aclose()

    async def _bell(self, channel: str) -> RedisBell:
        async with self._bells_opening:
            if self._closed:
                raise RuntimeError("RedisKV is closed")
            bell = self._bells.get(channel)
            if bell is None:
                bell = await RedisBell.open(self._client, self.keys("bell", channel))
                self._bells[channel] = bell
            return bell


class RedisLock:
    """A lease lock: SET NX PX with a random token, released by compare-and-delete."""

    def __init__(self, kv: RedisKV, key: str, ttl: float, wait: float) -> None:
        self._kv, self._key, self._ttl, self._wait = kv, key, ttl, wait
        self._token = b""

    async def __aenter__(self) -> None:
        self._token = secrets.token_hex(16).encode()
        deadline = time.monotonic() + self._wait
        while not await self._kv.set(self._key, self._token, self._ttl, only_if_absent=True):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockNotAcquired(self._key)
            await asyncio.sleep(min(LOCK_POLL_INTERVAL, remaining))

    async def __aexit__(self, *exc: object) -> None:
        await self._kv._release_lock(keys=[self._key], args=[self._token])
