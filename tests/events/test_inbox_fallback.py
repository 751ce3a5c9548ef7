"""A batch the database refuses is written again event by event: one bad event fails alone.

The intakes refuse unstorable text themselves (`scrm.storable`); these events bypass them on
purpose, to test the net under them on both engines.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.kv import MemoryKV
from scrm.db import Database
from scrm.events.inbox import Inbox, InboxUnavailable, IncomingEvent
from scrm.events.router import Dispatcher, EventRecord, Router
from scrm.models import Event, HandlerRun
from scrm.services import Services


def good(key: str) -> IncomingEvent:
    return IncomingEvent(key, "test.happened", "test", {"k": key}, 1_700_000_000)


def bad(key: str) -> IncomingEvent:
    # a lone surrogate no engine can encode, or (PostgreSQL) a NUL in the event's name
    return IncomingEvent(key, "test.happened", "test", {"k": "x\ud800"}, 1_700_000_000)


def bad_name(key: str) -> IncomingEvent:
    return IncomingEvent(key, "test.happened\x00", "test", {"k": key}, 1_700_000_000)


@pytest.fixture
async def inbox(database: Database):  # type: ignore[no-untyped-def]
    router = Router("t")

    @router.on("test.happened")
    async def handle(ev: EventRecord, services: Services) -> None:
        return None

    inbox = Inbox(database, Dispatcher([router]), MemoryKV())
    await inbox.start()
    yield inbox
    await inbox.close()


async def test_concurrent_bad_events_fail_alone(inbox: Inbox, database: Database) -> None:
    events = [good(f"g{i}") for i in range(40)]
    events[5:5] = [bad(f"b{i}") for i in range(4)]
    if database.is_postgres:
        events[20:20] = [bad_name(f"n{i}") for i in range(4)]
    else:
        events[20:20] = [bad(f"n{i}") for i in range(4)]
    results = await asyncio.gather(*(inbox.store(e) for e in events), return_exceptions=True)
    for event, result in zip(events, results, strict=True):
        if event.dedupe_key.startswith("g"):
            assert result is True, event.dedupe_key
        else:
            assert isinstance(result, InboxUnavailable), event.dedupe_key
    stored = set(await Event.all().values_list("dedupe_key", flat=True))
    assert stored == {f"g{i}" for i in range(40)}
    assert await HandlerRun.all().count() == 40


async def test_store_many_stores_the_good_and_names_the_bad(inbox: Inbox) -> None:
    with pytest.raises(InboxUnavailable) as raised:
        await inbox.store_many([good("a"), bad("b"), good("c"), good("a")])
    assert raised.value.stored == [True, None, True, False]
    assert set(await Event.all().values_list("dedupe_key", flat=True)) == {"a", "c"}
    assert await inbox.store_many([good("a"), good("d")]) == [False, True]
