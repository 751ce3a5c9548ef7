"""The embedded default never answers `database is locked`.

The inbox writer has its own SQLite connection. A deferred transaction on the ORM's connection
that reads and then writes must upgrade its lock; when the inbox committed in between, SQLite
fails that upgrade at once, whatever busy_timeout says. Write transactions therefore begin
IMMEDIATE (`scrm.sqlite_client`), taking the write lock up front, where busy_timeout waits.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from adapters.kv import MemoryKV
from config import Settings, WorkerSettings
from scrm.contacts.handlers import router as contacts_router
from scrm.db import Database, close_database, open_database
from scrm.events.inbox import Inbox, IncomingEvent
from scrm.events.router import Dispatcher
from scrm.events.worker import Worker
from scrm.metrics import Metrics
from scrm.models import Customer, HandlerAttempt, HandlerRun
from scrm.services import Services

EVENTS = 300
LOCKED = "database is locked"


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "scrm.db"
    db = await open_database(f"sqlite://{path}")
    try:
        yield db, path
    finally:
        await close_database()


def deletion(n: int) -> IncomingEvent:
    """A del_follow_user: its handler reads (is the customer known?) then writes."""
    payload = {"UserID": "zhangsan", "ExternalUserID": f"wmLOAD{n:010d}"}
    return IncomingEvent(
        f"load-{n}",
        "change_external_contact.del_follow_user",
        "wecom",
        payload,
        1_700_000_000 + n,
    )


async def test_intake_under_load_with_four_workers_sees_no_locked_database(
    sqlite_db: tuple[Database, Path], caplog: pytest.LogCaptureFixture
) -> None:
    db, _ = sqlite_db
    caplog.set_level(logging.WARNING)
    kv = MemoryKV()
    dispatcher = Dispatcher([contacts_router])
    services = Services(Settings(), db, kv, Metrics(), wecom=None)  # type: ignore[arg-type]
    inbox = Inbox(db, dispatcher, kv)
    settings = WorkerSettings(concurrency=4, poll_interval=0.05, backoff_base=0.01)
    worker = Worker(db, dispatcher, services, settings)
    stop = asyncio.Event()
    await inbox.start()
    working = asyncio.create_task(worker.run(stop))
    try:
        for start in range(0, EVENTS, 3):  # many small commits while the workers write
            stored = await asyncio.gather(
                *(inbox.store(deletion(n)) for n in range(start, start + 3))
            )
            assert all(stored)
    finally:
        stop.set()
        await working
        await inbox.close()
    await worker.drain()
    errors = [r for r in caplog.records if LOCKED in r.getMessage() or LOCKED in (r.exc_text or "")]
    failed = await HandlerAttempt.filter(error__contains=LOCKED).count()
    assert (len(errors), failed) == (0, 0)
    assert await HandlerRun.filter(status="done").count() == EVENTS
    assert await Customer.all().count() == EVENTS


async def test_a_write_transaction_holds_the_write_lock_from_its_start(
    sqlite_db: tuple[Database, Path],
) -> None:
    """While an ORM transaction is open — even before it writes — no other connection can
    begin writing; with a deferred BEGIN the other writer would get in and this
    transaction's first write would then fail."""
    _, path = sqlite_db
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        async with in_transaction():
            await Customer.filter(external_userid="wmNobody").exists()  # a read only
            with pytest.raises(sqlite3.OperationalError, match=LOCKED):
                other.execute("BEGIN IMMEDIATE")
            await Customer.create(external_userid="wmSomebody", updated_at=0)
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert await Customer.filter(external_userid="wmSomebody").exists()
