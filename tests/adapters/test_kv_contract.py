"""One contract for every `KVStore`: MemoryKV and RedisKV (a real Redis) must behave alike.

TTL tests use real, short waits (≤ 0.3 s): expiry in Redis runs on the server's clock, so an
injected clock cannot drive it. Redis-only tests at the end play two processes with two stores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.kv import KeyBuilder, KVStore, LockNotAcquired, MemoryKV, RedisKV, open_kv


async def _delete_prefixed(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def kv(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[KVStore]:
    store: KVStore
    if request.param == "memory":
        store = MemoryKV(KeyBuilder(key_prefix))
        yield store
        await store.close()
        return
    url = request.getfixturevalue("redis_url")
    store = RedisKV.from_url(url, keys=KeyBuilder(key_prefix))
    yield store
    await store.close()
    await _delete_prefixed(url, key_prefix)


@pytest.fixture
async def two_processes(redis_url: str, key_prefix: str) -> AsyncIterator[tuple[RedisKV, RedisKV]]:
    """Two stores with their own clients, as two service processes would have."""
    first = RedisKV.from_url(redis_url, keys=KeyBuilder(key_prefix))
    second = RedisKV.from_url(redis_url, keys=KeyBuilder(key_prefix))
    yield first, second
    await first.close()
    await second.close()
    await _delete_prefixed(redis_url, key_prefix)


async def _listening(kv: KVStore, channel: str, timeout: float = 2.0) -> asyncio.Task[bool]:
    """Start a waiter that is surely waiting, so the next ring must reach it."""
    await kv.wait_for_ring(channel, 0.01)  # RedisKV subscribes on the first wait
    waiter = asyncio.create_task(kv.wait_for_ring(channel, timeout))
    for _ in range(3):
        await asyncio.sleep(0)  # let the task reach its Event.wait(); no time passes
    assert not waiter.done()
    return waiter


# --- get / set / delete -----------------------------------------------------------------


async def test_get_missing_key_is_none(kv: KVStore) -> None:
    assert await kv.get(kv.keys("nothing")) is None


async def test_set_get_delete(kv: KVStore) -> None:
    key = kv.keys("token", "corp")
    assert await kv.set(key, b"\x00raw") is True
    assert await kv.get(key) == b"\x00raw"
    assert await kv.set(key, "文本") is True
    assert await kv.get(key) == "文本".encode()
    await kv.delete(key)
    assert await kv.get(key) is None
    await kv.delete(key)  # deleting a missing key is fine


async def test_ttl_expires(kv: KVStore) -> None:
    key = kv.keys("short")
    await kv.set(key, b"v", ttl=0.1)
    assert await kv.get(key) == b"v"
    await asyncio.sleep(0.15)
    assert await kv.get(key) is None


async def test_set_without_ttl_drops_old_ttl(kv: KVStore) -> None:
    key = kv.keys("kept")
    await kv.set(key, b"old", ttl=0.05)
    await kv.set(key, b"new")
    await asyncio.sleep(0.1)
    assert await kv.get(key) == b"new"


async def test_only_if_absent(kv: KVStore) -> None:
    key = kv.keys("once")
    assert await kv.set(key, b"first", only_if_absent=True) is True
    assert await kv.set(key, b"second", only_if_absent=True) is False
    assert await kv.get(key) == b"first"
    await kv.delete(key)
    assert await kv.set(key, b"third", ttl=0.05, only_if_absent=True) is True
    await asyncio.sleep(0.1)
    assert await kv.set(key, b"fourth", only_if_absent=True) is True
    assert await kv.get(key) == b"fourth"


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_non_positive_ttl_is_refused(kv: KVStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await kv.set(kv.keys("k"), b"v", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await kv.incr(kv.keys("n"), ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        kv.lock("job", ttl=ttl)
    assert await kv.get(kv.keys("k")) is None


# --- incr ---------------------------------------------------------------------------------


async def test_incr_counts_from_one(kv: KVStore) -> None:
    key = kv.keys("count")
    assert [await kv.incr(key) for _ in range(3)] == [1, 2, 3]
    assert await kv.get(key) == b"3"


async def test_incr_ttl_is_set_at_creation_only(kv: KVStore) -> None:
    key = kv.keys("per-window")
    assert await kv.incr(key, ttl=0.1) == 1
    assert await kv.incr(key, ttl=10) == 2  # does not extend the first TTL
    await asyncio.sleep(0.15)
    assert await kv.get(key) is None
    assert await kv.incr(key, ttl=0.1) == 1


# --- lock ---------------------------------------------------------------------------------


async def test_lock_excludes_a_second_holder_until_released(kv: KVStore) -> None:
    async with kv.lock("leader", ttl=5):
        with pytest.raises(LockNotAcquired):
            async with kv.lock("leader", ttl=5):
                pytest.fail("two holders at once")
        async with kv.lock("other", ttl=5):
            pass  # names are independent
    async with kv.lock("leader", ttl=5):
        pass


async def test_lock_released_when_body_raises(kv: KVStore) -> None:
    with pytest.raises(RuntimeError):
        async with kv.lock("job", ttl=5):
            raise RuntimeError("boom")
    async with kv.lock("job", ttl=5):
        pass


async def test_lock_waits_for_release(kv: KVStore) -> None:
    holder = kv.lock("job", ttl=5)
    await holder.__aenter__()

    async def contend() -> None:
        async with kv.lock("job", ttl=5, wait=2):
            pass

    contender = asyncio.create_task(contend())
    await asyncio.sleep(0.1)
    assert not contender.done()
    await holder.__aexit__(None, None, None)
    async with asyncio.timeout(1):
        await contender


async def test_lock_gives_up_after_wait(kv: KVStore) -> None:
    async with kv.lock("job", ttl=5):
        started = time.monotonic()
        with pytest.raises(LockNotAcquired):
            async with kv.lock("job", ttl=5, wait=0.1):
                pass
        assert 0.1 <= time.monotonic() - started < 1


async def test_expired_lease_can_be_taken(kv: KVStore) -> None:
    async with kv.lock("job", ttl=0.05):
        await asyncio.sleep(0.1)
        async with kv.lock("job", ttl=5):
            pass


async def test_late_release_keeps_the_new_holders_lock(kv: KVStore) -> None:
    slow = kv.lock("job", ttl=0.05)
    await slow.__aenter__()
    await asyncio.sleep(0.1)  # slow's lease ran out while it was still working
    async with kv.lock("job", ttl=5):
        await slow.__aexit__(None, None, None)
        with pytest.raises(LockNotAcquired):
            async with kv.lock("job", ttl=5):
                pass


# --- rate limit ---------------------------------------------------------------------------


async def test_rate_limit_trips_after_limit_uses(kv: KVStore) -> None:
    results = [await kv.hit_rate_limit("send", limit=3, window=5) for _ in range(4)]
    assert results == [False, False, False, True]
    assert await kv.hit_rate_limit("other", limit=3, window=5) is False


async def test_rate_limit_window_slides(kv: KVStore) -> None:
    for _ in range(3):
        await kv.hit_rate_limit("send", limit=2, window=0.15)
    assert await kv.hit_rate_limit("send", limit=2, window=0.15) is True
    await asyncio.sleep(0.2)
    assert await kv.hit_rate_limit("send", limit=2, window=0.15) is False


# --- doorbell -----------------------------------------------------------------------------


async def test_ring_wakes_a_waiter(kv: KVStore) -> None:
    waiter = await _listening(kv, "inbox")
    await kv.ring("inbox")
    assert await waiter is True
    # The ring was for the waiters of that moment, not for the next wait.
    assert await kv.wait_for_ring("inbox", 0.05) is False


async def test_wait_times_out_without_ring(kv: KVStore) -> None:
    started = time.monotonic()
    assert await kv.wait_for_ring("inbox", 0.1) is False
    assert 0.09 <= time.monotonic() - started < 1


async def test_one_ring_wakes_every_waiter(kv: KVStore) -> None:
    first = await _listening(kv, "inbox")
    second = await _listening(kv, "inbox")
    await kv.ring("inbox")
    assert await asyncio.gather(first, second) == [True, True]


async def test_ring_on_another_channel_does_not_wake(kv: KVStore) -> None:
    waiter = await _listening(kv, "inbox", timeout=0.2)
    await _listening(kv, "outbox", timeout=0.01)
    await kv.ring("outbox")
    assert await waiter is False


# --- ping / close -------------------------------------------------------------------------


async def test_ping(kv: KVStore) -> None:
    assert await kv.ping() is True


async def test_close_twice_with_an_open_doorbell(kv: KVStore) -> None:
    await kv.wait_for_ring("inbox", 0.01)
    await kv.close()
    await kv.close()  # and the fixture closes a third time


# --- Redis only: several processes share one Redis ----------------------------------------


@pytest.mark.redis
async def test_processes_share_locks(two_processes: tuple[RedisKV, RedisKV]) -> None:
    first, second = two_processes
    async with first.lock("leader", ttl=5):
        with pytest.raises(LockNotAcquired):
            async with second.lock("leader", ttl=5):
                pass
    async with second.lock("leader", ttl=5):
        pass


@pytest.mark.redis
async def test_processes_share_rate_limits(two_processes: tuple[RedisKV, RedisKV]) -> None:
    first, second = two_processes
    assert await first.hit_rate_limit("send", limit=2, window=5) is False
    assert await second.hit_rate_limit("send", limit=2, window=5) is False
    assert await first.hit_rate_limit("send", limit=2, window=5) is True


@pytest.mark.redis
async def test_ring_reaches_other_process(two_processes: tuple[RedisKV, RedisKV]) -> None:
    first, second = two_processes
    here, there = await _listening(first, "inbox"), await _listening(second, "inbox")
    await second.ring("inbox")
    assert await asyncio.gather(here, there) == [True, True]


@pytest.mark.redis
async def test_prefixes_keep_deployments_apart(redis_url: str, key_prefix: str) -> None:
    ours = RedisKV.from_url(redis_url, keys=KeyBuilder(key_prefix))
    theirs = RedisKV.from_url(redis_url, keys=KeyBuilder(key_prefix + "-other"))
    try:
        waiter = await _listening(ours, "inbox", timeout=0.2)
        async with theirs.lock("leader", ttl=5):
            await theirs.ring("inbox")
            async with ours.lock("leader", ttl=5):
                pass
        assert await waiter is False
    finally:
        await ours.close()
        await theirs.close()
        await _delete_prefixed(redis_url, key_prefix)
        await _delete_prefixed(redis_url, key_prefix + "-other")


@pytest.mark.redis
async def test_doorbell_survives_a_dropped_connection(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.kv import redis_bell

    monkeypatch.setattr(redis_bell, "RECONNECT_DELAY", 0.05)
    kv = RedisKV.from_url(f"{redis_url}?client_name={key_prefix}", keys=KeyBuilder(key_prefix))
    admin = Redis.from_url(redis_url)
    try:
        await kv.wait_for_ring("inbox", 0.01)
        clients = await admin.client_list(_type="pubsub")
        ids = [client["id"] for client in clients if client["name"] == key_prefix]
        assert len(ids) == 1
        await admin.client_kill_filter(_id=ids[0])
        # Rings sent while it reconnects are lost by design; keep ringing until one lands.
        waiter = asyncio.create_task(kv.wait_for_ring("inbox", 3))
        async with asyncio.timeout(3):
            while not waiter.done():
                await admin.publish(kv.keys("bell", "inbox"), b"")
                await asyncio.sleep(0.02)
        assert waiter.result() is True
    finally:
        await kv.close()
        await admin.aclose()


async def test_unreachable_redis_degrades_the_doorbell_and_fails_ping() -> None:
    kv = RedisKV.from_url("redis://127.0.0.1:1/0", keys=KeyBuilder("scrmtest-down"))
    try:
        assert await kv.ping() is False
        await kv.ring("inbox")  # best effort: logged, not raised
        started = time.monotonic()
        assert await kv.wait_for_ring("inbox", 0.1) is False
        assert time.monotonic() - started >= 0.09
    finally:
        await kv.close()


async def test_open_kv_picks_the_store() -> None:
    assert isinstance(open_kv(None, "scrm"), MemoryKV)
    assert isinstance(open_kv("", "scrm"), MemoryKV)
    store = open_kv("redis://127.0.0.1:1/0", "scrm")  # builds the client; connects lazily
    try:
        assert isinstance(store, RedisKV)
        assert store.keys("x") == "scrm:x"
    finally:
        await store.close()


async def test_refuses_a_client_that_decodes_values() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisKV(client)
    finally:
        await client.aclose()
