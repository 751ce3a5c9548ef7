"""The msgaudit_notify pull: into the real inbox, cursor after commit, failures parked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.kv.memory import MemoryKV
from archive.handlers import router
from archive.keys.inbox_seal import InboxSeal
from archive.pull.puller import Puller, catch_up, pull_new, read_cursor, retry_parked
from archive.pull.rsa_keys import RsaKeyRing
from archive.pull.sdk_worker import FinanceWorkerClient
from archive.runtime import ArchiveRuntime
from scrm.db import Database
from scrm.events.inbox import Inbox
from scrm.events.router import Dispatcher
from tests.archive.finance_fake import CORP_ID, SECRET, FakeArchive, compile_fake, write_keys


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_fake(tmp_path_factory.mktemp("archive_pull"))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    path = tmp_path / "chatdata.tsv"
    monkeypatch.setenv("FAKE_FINANCE_SDK_DATA", str(path))
    return FakeArchive(path)


@pytest.fixture
async def puller(
    fake_library: Path, database: Database, tmp_path: Path, runtime: ArchiveRuntime
) -> AsyncIterator[Puller]:
    inbox = Inbox(database, Dispatcher([router]), MemoryKV(), seal=InboxSeal(runtime))
    keys = RsaKeyRing.from_spec(str(write_keys(tmp_path / "keys", (1,))))
    async with FinanceWorkerClient(fake_library, CORP_ID, SECRET, call_timeout=5.0) as client:
        yield Puller(client, keys, inbox.store_many, limit=2)
    await inbox.close()


async def chat_events(database: Database) -> list[str]:
    rows = await database.fetch(
        "SELECT dedupe_key FROM events WHERE name = 'chat.message' ORDER BY dedupe_key"
    )
    return [row["dedupe_key"] for row in rows]


async def test_pull_stores_events_parks_failures_and_moves_cursor(
    runtime: ArchiveRuntime, puller: Puller, fake: FakeArchive, database: Database
) -> None:
    ok = [fake.add(1)]
    parked = fake.add(2, version=3)  # no RSA key for publickey_ver 3 yet
    ok += [fake.add(3), fake.add(4), fake.add(5)]
    assert await pull_new(runtime, puller) == 4  # three batches of two
    assert await chat_events(database) == sorted(f"chat:{msgid}" for msgid in ok)
    assert await read_cursor(runtime) == 5
    rows = await database.fetch("SELECT seq, msgid, error FROM archive_pull_retries")
    assert [(r["seq"], r["msgid"]) for r in rows] == [(2, parked)]
    assert "10007" in rows[0]["error"]
    assert await pull_new(runtime, puller) == 0  # nothing after the cursor


async def test_parked_item_is_retried_once_its_key_exists(
    runtime: ArchiveRuntime, puller: Puller, fake: FakeArchive, database: Database, tmp_path: Path
) -> None:
    parked = fake.add(1, version=3)
    await pull_new(runtime, puller)
    assert await retry_parked(runtime, puller, runtime.clock()) == 0  # still no key
    rows = await database.fetch("SELECT attempts, next_attempt_at FROM archive_pull_retries")
    assert rows[0]["attempts"] == 1 and rows[0]["next_attempt_at"] > runtime.clock()
    puller.rsa_keys = RsaKeyRing.from_spec(str(write_keys(tmp_path / "k2", (1, 3))))
    assert await retry_parked(runtime, puller, runtime.clock()) == 0  # not due yet
    assert await retry_parked(runtime, puller, runtime.clock() + 3600) == 1
    assert await chat_events(database) == [f"chat:{parked}"]
    assert await database.fetch("SELECT id FROM archive_pull_retries") == []


async def test_cursor_stays_when_the_pull_fails(
    runtime: ArchiveRuntime, puller: Puller, fake: FakeArchive
) -> None:
    fake.add(1)
    await pull_new(runtime, puller)
    await puller.client.close()  # type: ignore[attr-defined]
    puller.client = FinanceWorkerClient("/nonexistent/lib.so", CORP_ID, SECRET, call_timeout=2.0)
    fake.add(2)
    with pytest.raises(Exception):  # noqa: B017 - whatever the worker raises, no cursor move
        await pull_new(runtime, puller)
    assert await read_cursor(runtime) == 1
    await puller.client.close()  # type: ignore[attr-defined]


async def test_catch_up_pulls_without_a_notification_and_retries_parked(
    runtime: ArchiveRuntime, puller: Puller, fake: FakeArchive, database: Database, tmp_path: Path
) -> None:
    assert await catch_up(runtime, runtime.clock()) == 0  # no puller configured: nothing
    runtime.puller = puller
    first = fake.add(1)
    parked = fake.add(2, version=3)
    assert await catch_up(runtime, runtime.clock()) == 1
    assert await chat_events(database) == [f"chat:{first}"]
    puller.rsa_keys = RsaKeyRing.from_spec(str(write_keys(tmp_path / "k2", (1, 3))))
    later = fake.add(3)
    assert await catch_up(runtime, runtime.clock() + 3600) == 2  # the new one and the parked
    assert await chat_events(database) == sorted(f"chat:{m}" for m in (first, parked, later))


async def test_pulled_messages_rest_sealed_in_the_inbox(
    runtime: ArchiveRuntime, puller: Puller, fake: FakeArchive, database: Database
) -> None:
    fake.add(1, content="拉取的秘密内容PULL-7")
    assert await pull_new(runtime, puller) == 1
    rows = await database.fetch("SELECT payload FROM events WHERE name = 'chat.message'")
    assert "PULL-7" not in rows[0]["payload"] and "_sealed" in rows[0]["payload"]
