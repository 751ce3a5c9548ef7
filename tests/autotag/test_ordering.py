"""The per-customer lock: one decision at a time, a busy customer retried later, not waited on."""

from __future__ import annotations

import asyncio

import pytest

from adapters.kv import KVStore, MemoryKV
from config import Settings, WorkerSettings
from scrm.autotag.ordering import customer_lock
from scrm.events.errors import Retry
from scrm.services import Services


def services(kv: KVStore, lease: float = 0.2) -> Services:
    settings = Settings(worker=WorkerSettings(lease_seconds=lease))
    return Services(settings, None, kv, None, None)  # type: ignore[arg-type]


async def test_decisions_about_one_customer_run_one_after_another() -> None:
    kv = MemoryKV()
    order: list[str] = []

    async def decide(name: str) -> None:
        async with customer_lock(services(kv, lease=30), "wmA"):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(decide("first"), decide("second"))
    assert order in (
        ["first in", "first out", "second in", "second out"],
        ["second in", "second out", "first in", "first out"],
    )


async def test_a_customer_held_too_long_is_retried_later() -> None:
    kv = MemoryKV()
    holder = services(kv)
    async with customer_lock(holder, "wmA"):
        with pytest.raises(Retry) as retry:
            async with customer_lock(services(kv), "wmA"):
                pass
        async with customer_lock(services(kv), "wmB"):  # another customer is free
            pass
    assert retry.value.defer == pytest.approx(0.05)
    async with customer_lock(services(kv), "wmA"):  # released on exit
        pass
