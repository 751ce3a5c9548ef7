"""Shared key-value store: Redis in production, in-process memory for the embedded default."""

from adapters.kv.base import KeyBuilder, KVStore, LockNotAcquired
from adapters.kv.memory import MemoryKV

__all__ = ["KVStore", "KeyBuilder", "LockNotAcquired", "MemoryKV"]
