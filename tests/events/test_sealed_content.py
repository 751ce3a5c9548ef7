"""Message content at rest: sealed from the commit, opened for handlers, shredded on time.

Every test runs on SQLite and PostgreSQL with an injected clock; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from adapters.kv import MemoryKV
from archive.keys.inbox_seal import InboxSeal
from archive.runtime import ArchiveRuntime
from config import Settings, WorkerSettings
from scrm.db import Database
from scrm.events.errors import PermanentError, Retry
from scrm.events.expiry import DAY, expire_content
from scrm.events.inbox import Inbox, InboxUnavailable, IncomingEvent
from scrm.events.router import Dispatcher, EventRecord, Router
from scrm.events.worker import Worker
from scrm.metrics import Metrics
from scrm.models import Event, HandlerRun
from scrm.services import Services
from tests.archive.keys import make_ring
from tests.events.test_inbox_worker import Clock

TEXT = "我的身份证号是SECRET-4417"
MARKER = "SECRET-4417"
TTL = 7


def chat(key: str, text: str = TEXT) -> IncomingEvent:
    payload = {"msgid": key, "from": "wmC", "msgtype": "text", "text": {"content": text}}
    return IncomingEvent(key, "chat.message", "test", payload, 1_700_000_000)


@dataclass
class Spine:
    inbox: Inbox
    worker: Worker
    clock: Clock
    seen: list[tuple[str, str]]
    db: Database


def make_router(seen: list[tuple[str, str]]) -> Router:
    router = Router("t")

    @router.on("chat.message")
    async def steady(ev: EventRecord, services: Services) -> None:
        seen.append(("steady", ev.payload["text"]["content"]))  # type: ignore[index]

    @router.on("chat.message")
    async def fragile(ev: EventRecord, services: Services) -> None:
        seen.append(("fragile", ev.payload["text"]["content"]))  # type: ignore[index]
        raise PermanentError("errcode 60011")  # parked dead, like a terminal WeCom error

    @router.on("message.text")
    async def app_message(ev: EventRecord, services: Services) -> None:
        seen.append(("app_message", str(ev.payload["Content"])))

    @router.on("chat.flaky")
    async def never_yet(ev: EventRecord, services: Services) -> None:
        raise Retry("not yet", defer=60.0)

    return router


@pytest.fixture
async def spine(database: Database) -> AsyncIterator[Spine]:
    clock = Clock()
    seen: list[tuple[str, str]] = []
    kv = MemoryKV()
    dispatcher = Dispatcher([make_router(seen)])
    seal = InboxSeal(ArchiveRuntime(database, make_ring(), corp_id="wwcorp", clock=clock))
    services = Services(Settings(), database, kv, Metrics(), wecom=None, clock=clock, seal=seal)  # type: ignore[arg-type]
    inbox = Inbox(database, dispatcher, kv, clock=clock, seal=seal)
    await inbox.start()
    settings = WorkerSettings(concurrency=4, max_attempts=3, lease_seconds=30)
    worker = Worker(database, dispatcher, services, settings, clock=clock)
    yield Spine(inbox, worker, clock, seen, database)
    await inbox.close()


async def raw_payload(db: Database, key: str) -> str:
    rows = await db.fetch(
        f"SELECT payload FROM events WHERE dedupe_key = {db.placeholders(1)[0]}", [key]
    )
    return str(rows[0]["payload"])


async def statuses(event_key: str) -> dict[str, str]:
    runs = await HandlerRun.filter(event__dedupe_key=event_key).values_list("handler", "status")
    return dict(runs)  # type: ignore[arg-type]


async def test_content_is_sealed_at_rest_and_opened_for_each_handler(spine: Spine) -> None:
    await spine.inbox.store(chat("c1"))
    at_rest = await raw_payload(spine.db, "c1")
    assert MARKER not in at_rest and "_sealed" in at_rest and '"msgid":"c1"' in at_rest
    await spine.worker.drain()
    assert sorted(spine.seen) == [("fragile", TEXT), ("steady", TEXT)]


async def test_a_dead_run_replays_within_the_ttl_then_expires_and_is_shredded(
    spine: Spine,
) -> None:
    await spine.inbox.store(chat("d1"))
    await spine.worker.drain()
    assert await statuses("d1") == {"t.steady": "done", "t.fragile": "dead"}
    assert MARKER not in await raw_payload(spine.db, "d1")  # dead, but only ciphertext rests

    spine.clock.now += (TTL - 1) * DAY  # within the TTL: nothing expires, replay still works
    assert (await expire_content(spine.db, spine.clock(), TTL)).runs == []
    await HandlerRun.filter(status="dead").update(
        status="pending", attempts=0, next_attempt_at=spine.clock()
    )
    spine.seen.clear()
    await spine.worker.drain()
    assert spine.seen == [("fragile", TEXT)]  # the replayed handler still sees the text

    spine.clock.now += 2 * DAY  # past the TTL
    report = await expire_content(spine.db, spine.clock(), TTL)
    event = await Event.get(dedupe_key="d1")
    assert report.runs == [(event.id, "t.fragile")] and report.stripped == [event.id]
    assert await statuses("d1") == {"t.steady": "done", "t.fragile": "expired"}
    run = await HandlerRun.get(handler="t.fragile")
    assert run.last_error is not None
    assert run.last_error.startswith("expired: content shredded after 7 days")
    assert "PermanentError: errcode 60011" in run.last_error  # why it was parked, kept
    payload = await raw_payload(spine.db, "d1")
    assert "_sealed" not in payload and "_content_stripped" in payload
    assert await spine.worker.drain() == 0  # expired is final
    assert (await expire_content(spine.db, spine.clock(), TTL)).runs == []  # and done once


async def test_a_run_still_working_keeps_the_content_until_it_finishes(spine: Spine) -> None:
    flaky = IncomingEvent("f1", "chat.flaky", "test", {"text": {"content": TEXT}}, 1)
    await spine.inbox.store(flaky)  # chat.* but not chat.message: not content, never expires
    await spine.inbox.store(chat("r1"))
    spine.clock.now += (TTL + 1) * DAY
    claimed = await spine.worker.claim(10)  # all three runs, leases live
    assert len(claimed) == 3
    steady = next(run for run in claimed if run.handler == "t.steady")
    fragile = next(run for run in claimed if run.handler == "t.fragile")
    assert await spine.worker.execute(fragile) == "dead"
    report = await expire_content(spine.db, spine.clock(), TTL)
    assert [handler for _, handler in report.runs] == ["t.fragile"]
    assert report.stripped == []  # t.steady is running: its content stays (sealed)
    assert "_sealed" in await raw_payload(spine.db, "r1")
    assert await spine.worker.execute(steady) == "done"
    assert ("steady", TEXT) in spine.seen
    assert "_content_stripped" in await raw_payload(spine.db, "r1")  # stripped when it finished
    assert (await HandlerRun.get(handler="t.never_yet")).status == "running"


async def test_callback_message_content_with_a_handler_is_sealed_too(spine: Spine) -> None:
    content = {"MsgType": "text", "Content": TEXT, "MsgId": "9", "FromUserName": "lisi"}
    await spine.inbox.store(IncomingEvent("a1", "message.text", "wecom_callback", content, 1))
    assert MARKER not in await raw_payload(spine.db, "a1")
    await spine.worker.drain()
    assert spine.seen == [("app_message", TEXT)]
    assert "_content_stripped" in await raw_payload(spine.db, "a1")


async def test_without_a_seal_the_inbox_refuses_content_it_would_keep(
    database: Database,
) -> None:
    seen: list[tuple[str, str]] = []
    inbox = Inbox(database, Dispatcher([make_router(seen)]), MemoryKV())
    await inbox.start()
    try:
        with pytest.raises(InboxUnavailable):
            await inbox.store(chat("n1"))
        no_handler = IncomingEvent("n2", "message.voice", "test", {"Content": TEXT}, 1)
        assert await inbox.store(no_handler) is True  # nobody wants it: stored stripped
    finally:
        await inbox.close()
    assert await Event.filter(dedupe_key="n1").count() == 0
    assert MARKER not in await raw_payload(database, "n2")
