"""Shared key-value store: Redis in production, in-process memory for the embedded default."""

from adapters.kv.base import KeyBuilder, KVStore, LockNotAcquired
from adapters.kv.memory import MemoryKV
from adapters.kv.redis import RedisKV


def open_kv(redis_url: str | None, prefix: str) -> KVStore:
    """Pick the store for this deployment: Redis when a URL is configured, else in-process."""
    keys = KeyBuilder(prefix)
    if redis_url:
        return RedisKV.from_url(redis_url, keys=keys)
    return MemoryKV(keys)


__all__ = ["KVStore", "KeyBuilder", "LockNotAcquired", "MemoryKV", "RedisKV", "open_kv"]
