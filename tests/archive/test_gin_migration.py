"""Migration 3 moves PostgreSQL's blind-index tokens into archive_records.tokens, losslessly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from archive.review.search import SearchFilters, search
from archive.runtime import ArchiveRuntime
from archive.store.write import store_messages
from scrm.db import MIGRATIONS_DIR, Database
from tests.archive.messages import text_message


def _migration() -> object:
    (path,) = (Path(MIGRATIONS_DIR) / "models").glob("3_*_archive_gin_tokens.py")
    spec = importlib.util.spec_from_file_location("gin_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_downgrade_then_upgrade_keeps_every_token(
    runtime: ArchiveRuntime, database: Database
) -> None:
    if not database.is_postgres:
        pytest.skip("the token column exists on PostgreSQL only; SQLite keeps the posting table")
    await store_messages(
        runtime, [text_message("m1", "过敏起疹子了"), text_message("m2", "快递到了吗")]
    )
    before = await database.fetch("SELECT msgid, tokens FROM archive_records ORDER BY msgid")
    migration = _migration()
    conn = database.connection()

    await conn.execute_script(migration.DOWNGRADE["postgres"])  # type: ignore[attr-defined]
    postings = await database.fetch("SELECT COUNT(*) AS n FROM archive_postings")
    assert postings[0]["n"] == sum(len(row["tokens"]) for row in before)

    await conn.execute_script(migration.UPGRADE["postgres"])  # type: ignore[attr-defined]
    after = await database.fetch("SELECT msgid, tokens FROM archive_records ORDER BY msgid")
    assert [(r["msgid"], sorted(r["tokens"])) for r in after] == [
        (r["msgid"], sorted(r["tokens"])) for r in before
    ]
    emptied = await database.fetch("SELECT COUNT(*) AS n FROM archive_postings")
    assert emptied[0]["n"] == 0
    found, _ = await search(runtime, SearchFilters(keyword="起疹子"), 10)
    assert [message["msgid"] for message in found] == ["m1"]
