"""The key-value store every process shares: tokens, locks, rate limits and the doorbell.

Two implementations keep one contract (tests/adapters/test_kv_contract.py runs against both):
`MemoryKV` for the single-process embedded default and `RedisKV` for production.
Keys are built by `KeyBuilder` so every key carries the deployment prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class LockNotAcquired(Exception):
    """Raised by `KVStore.lock` when the lock stayed taken for the whole wait."""


def check_ttl(ttl: float | None) -> None:
    """Reject a TTL that is not positive: Redis refuses one, so every store does."""
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be positive seconds, got {ttl!r}")


@dataclass(frozen=True)
class KeyBuilder:
    """One place that names keys: ``<prefix>:<part>:<part>``."""

    prefix: str = "scrm"

    def __call__(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


class KVStore(Protocol):
    """What scrm needs from a shared store.

    All TTLs are positive seconds (floats allowed; `ValueError` otherwise). Keys passed to
    get/set/delete/incr are already built with ``keys(...)``; lock, rate-limit and doorbell
    names are prefixed by the store itself.
    """

    keys: KeyBuilder

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self,
        key: str,
        value: bytes | str,
        ttl: float | None = None,
        *,
        only_if_absent: bool = False,
    ) -> bool:
        """Store a value; with ``only_if_absent`` store only when the key is missing.

        Returns whether it was stored.
        """
        ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl: float | None = None) -> int:
        """Add one; the TTL is set when the counter is created."""
        ...

    def lock(self, name: str, ttl: float, wait: float = 0.0) -> AbstractAsyncLock:
        """A lease lock shared by all processes; released on exit, expires after ``ttl``.

        Entering polls for up to ``wait`` seconds, then raises `LockNotAcquired`. The lease
        ends after ``ttl`` even if the holder is still working, so keep ``ttl`` above the
        work's worst case; releasing never removes a lock someone else took since.
        """
        ...

    async def hit_rate_limit(self, name: str, limit: int, window: float) -> bool:
        """Count one use of ``name``; True when more than ``limit`` uses fell in ``window``."""
        ...

    async def ring(self, channel: str) -> None:
        """Wake everyone waiting on ``channel`` (a doorbell; carries no data)."""
        ...

    async def wait_for_ring(self, channel: str, timeout: float) -> bool:
        """Wait until ``channel`` rings or ``timeout`` passes; True if it rang.

        A ring while nobody waits is not remembered, so callers must also poll the source of
        truth (the database) after each wait; a lost ring costs one poll interval, never data.
        """
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class AbstractAsyncLock(Protocol):
    async def __aenter__(self) -> None: ...

    async def __aexit__(self, *exc: object) -> None: ...
