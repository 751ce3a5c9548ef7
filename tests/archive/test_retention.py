"""Retention crypto-shreds old months; checkpoints sign heads; audit appends never fork."""

from __future__ import annotations

import asyncio

from archive.integrity.audit_chain import verify_audit_chain
from archive.integrity.signing import sign_checkpoints
from archive.integrity.verify import verify_archive
from archive.review.audit_log import AuditEvent, append_audit, read_audit
from archive.runtime import ArchiveRuntime
from archive.store.partitions import load_partition
from archive.store.read import read_message
from archive.store.retention import apply_retention
from archive.store.write import store_messages
from scrm.db import Database
from tests.archive.conftest import Clock
from tests.archive.messages import NOV_2025, content, text_message

DAY_MS = 86_400_000
SEP_2025 = NOV_2025 - 60 * DAY_MS


async def test_retention_makes_old_messages_unreadable(
    runtime: ArchiveRuntime, database: Database, clock: Clock
) -> None:
    await store_messages(
        runtime,
        [text_message("old", "旧消息", msgtime=SEP_2025), text_message("new", "新消息")],
    )
    old_row = (
        await database.fetch("SELECT partition_id FROM archive_records WHERE msgid = 'old'")
    )[0]
    runtime.retention_days = 30
    assert await apply_retention(runtime, NOV_2025 / 1000) == ["wwcorp:2025-09"]
    assert (await load_partition(runtime, old_row["partition_id"])).dek is None
    assert await read_message(runtime, "old") is None
    assert await content(runtime, "new") == "新消息"
    index = "archive_records" if database.is_postgres else "archive_postings"  # where tokens live
    for table in (index, "archive_participants"):
        rows = await database.fetch(f"SELECT COUNT(*) AS n FROM {table}")
        assert rows[0]["n"] > 0  # only the old month's rows went
    if database.is_postgres:
        rows = await database.fetch("SELECT tokens FROM archive_records")
        assert [len(row["tokens"]) for row in rows] == [len(runtime.text_tokens("新消息"))]
    rows = await database.fetch("SELECT COUNT(*) AS n FROM archive_records")
    assert rows[0]["n"] == 1
    entries = await read_audit(runtime)
    assert [
        (e.fields["action"], e.fields["filters"], e.fields["result_count"]) for e in entries
    ] == [("retention", {"partitions": ["wwcorp:2025-09"]}, 1)]
    assert await apply_retention(runtime, NOV_2025 / 1000) == []  # nothing left to do
    await store_messages(runtime, [text_message("late", "迟到", msgtime=SEP_2025 + 1)])
    assert await read_message(runtime, "late") is None  # a shredded month stays shredded
    assert await verify_archive(runtime) == []


async def test_retention_zero_keeps_everything(runtime: ArchiveRuntime) -> None:
    await store_messages(runtime, [text_message("old", "x", msgtime=SEP_2025)])
    assert await apply_retention(runtime, NOV_2025 / 1000 + 10**9) == []


async def test_checkpoints_sign_every_partition_and_the_audit_log(
    runtime: ArchiveRuntime, database: Database
) -> None:
    await store_messages(
        runtime, [text_message("a", "x"), text_message("b", "y", msgtime=SEP_2025)]
    )
    await append_audit(
        runtime, AuditEvent("rita", "reviewer", "search", "why not", {}, 0, "allowed")
    )
    assert await sign_checkpoints(runtime, NOV_2025 / 1000) == 3
    assert await sign_checkpoints(runtime, NOV_2025 / 1000) == 3  # same day: appended, chained
    rows = await database.fetch("SELECT seq, partition, day FROM archive_checkpoints ORDER BY seq")
    run = [
        ("wwcorp:2025-11", "2025-11-13"),  # partitions in creation order, then the audit log
        ("wwcorp:2025-09", "2025-11-13"),
        ("audit", "2025-11-13"),
    ]
    assert [(r["seq"], r["partition"], r["day"]) for r in rows] == [
        (seq, *names) for seq, names in enumerate(run + run, start=1)
    ]
    assert await verify_archive(runtime) == []
    await database.connection().execute_query("DELETE FROM archive_audit_entries WHERE seq = 1")
    await database.connection().execute_query("UPDATE archive_audit_head SET seq = 0")
    problems = await verify_archive(runtime)
    assert any("audit" in line and "truncated" in line for line in problems), problems


async def test_concurrent_audit_appends_form_one_chain(runtime: ArchiveRuntime) -> None:
    events = [
        AuditEvent(f"r{i}", "reviewer", "search", "why not", {}, i, "allowed") for i in range(20)
    ]
    await asyncio.gather(*(append_audit(runtime, event) for event in events))
    entries = await read_audit(runtime)
    assert [e.seq for e in entries] == list(range(1, 21))
    assert verify_audit_chain(entries) == []
