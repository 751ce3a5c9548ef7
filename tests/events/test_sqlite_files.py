"""SQLite's files at rest: owner-only, and no message text in them — WAL and all."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.kv import MemoryKV
from archive.keys.inbox_seal import InboxSeal
from archive.runtime import ArchiveRuntime
from config import Settings, WorkerSettings
from scrm.db import Database, close_database, open_database
from scrm.events.inbox import Inbox
from scrm.events.router import Dispatcher
from scrm.events.worker import Worker
from scrm.metrics import Metrics
from scrm.services import Services
from tests.archive.keys import make_ring
from tests.events.test_sealed_content import MARKER, chat, make_router


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_of(db_file: Path) -> dict[str, Path]:
    return {s: db_file.with_name(db_file.name + s) for s in ("", "-wal", "-shm")}


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most shells give a service: files 0644 unless we care
    yield
    os.umask(previous)


@pytest.fixture
async def sqlite_db(tmp_path: Path, usual_umask: None) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "var" / "scrm.db"
    db = await open_database(f"sqlite://{path}")
    yield db, path
    await close_database()


async def test_database_wal_and_shm_are_created_owner_only(
    sqlite_db: tuple[Database, Path],
) -> None:
    db, path = sqlite_db
    await db.fetch("SELECT COUNT(*) FROM events")
    for suffix, member in files_of(path).items():
        assert member.exists(), suffix
        assert mode(member) == 0o600, f"scrm.db{suffix} is {oct(mode(member))}"


async def test_existing_files_are_tightened_at_open(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "scrm.db"
    await open_database(f"sqlite://{path}")
    await close_database()
    for member in files_of(path).values():  # as an older version, or a copy, left them
        if member.exists():
            os.chmod(member, 0o644)
    db = await open_database(f"sqlite://{path}")
    try:
        await db.fetch("SELECT COUNT(*) FROM events")
        assert {mode(m) for m in files_of(path).values() if m.exists()} == {0o600}
    finally:
        await close_database()


async def test_no_message_text_in_the_files_and_the_wal_is_truncated_after_stripping(
    sqlite_db: tuple[Database, Path],
) -> None:
    db, path = sqlite_db
    seen: list[tuple[str, str]] = []
    dispatcher = Dispatcher([make_router(seen)])
    seal = InboxSeal(ArchiveRuntime(db, make_ring(), corp_id="wwcorp"))
    inbox = Inbox(db, dispatcher, MemoryKV(), seal=seal)
    await inbox.start()
    services = Services(Settings(), db, MemoryKV(), Metrics(), wecom=None, seal=seal)  # type: ignore[arg-type]
    worker = Worker(db, dispatcher, services, WorkerSettings())

    def grep() -> bool:  # the raw bytes, with no checkpoint of our own first
        return any(MARKER.encode() in m.read_bytes() for m in files_of(path).values())

    try:
        await inbox.store(chat("w1"))
        assert not grep()  # sealed from the first commit: not even the WAL holds the text
        # the always-failing handler counts as finished, so the row is stripped after the drain
        await db.fetch("UPDATE handler_runs SET status = 'done' WHERE handler = 't.fragile'")
        await worker.drain()
    finally:
        await inbox.close()
    assert ("steady", "我的身份证号是" + MARKER) in seen
    assert "_content_stripped" in (await db.fetch("SELECT payload FROM events"))[0]["payload"]
    assert files_of(path)["-wal"].stat().st_size == 0  # checkpointed (TRUNCATE) after the strip
    assert not grep()
