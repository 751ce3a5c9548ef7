"""`archive verify` proves completeness: each tampering that used to pass now exits 1 with a
line naming it (issue 9 §3). Every case runs on SQLite and PostgreSQL (`settings`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from config import Settings
from scrm.db import Database, close_database, open_database
from tests.archive.cli_run import run
from tests.archive.messages import NOV_2025, text_message

Tamper = Callable[[Database], Awaitable[None]]
M3 = "(SELECT id FROM archive_records WHERE msgid = 'm3')"


def sql(*statements: str, postgres: tuple[str, ...] | None = None) -> Tamper:
    """Run `statements` (or, on PostgreSQL, `postgres` if given)."""

    async def tamper(db: Database) -> None:
        for statement in postgres if (postgres is not None and db.is_postgres) else statements:
            await db.connection().execute_script(statement)

    return tamper


def flip_byte(msgid: str, then: Tamper | None = None) -> Tamper:
    """Flip one bit inside a record's ciphertext (the stored hashes stay as they were)."""

    async def tamper(db: Database) -> None:
        if then is not None:
            await then(db)
        mark = db.placeholders(2)
        rows = await db.fetch(
            f"SELECT ciphertext FROM archive_records WHERE msgid = {mark[0]}", [msgid]
        )
        blob = bytearray(bytes(rows[0]["ciphertext"]))
        blob[20] ^= 1
        await db.connection().execute_query(
            f"UPDATE archive_records SET ciphertext = {mark[0]} WHERE msgid = {mark[1]}",
            [bytes(blob), msgid],
        )

    return tamper


async def archive_with_checkpoints(settings: Settings, tmp_path: Path, files: int = 1) -> None:
    """Import m1..m5 (one conversation) in `files` imports (one audit entry each), then sign."""
    for number in range(files):
        lines = [
            json.dumps(text_message(f"m{i}", f"退款 line {i}", msgtime=NOV_2025 + i))
            for i in range(1, 6)
        ]
        path = tmp_path / f"in{number}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert await run(settings, "archive", "import", str(path)) == 0
    assert await run(settings, "archive", "sign-checkpoints") == 0


async def tampered(settings: Settings, tamper: Tamper) -> None:
    db = await open_database(settings.database_url)
    try:
        await tamper(db)
    finally:
        await close_database()


async def verify_fails(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert await run(settings, "archive", "verify") == 1
    out = capsys.readouterr().out
    assert "archive verify: OK" not in out
    return out


CASES = {
    "month_end NULL hides a flipped ciphertext byte": (
        flip_byte("m3", then=sql("UPDATE archive_partitions SET month_end = NULL")),
        ["month_end is None", "position 3: altered record", "(msgid m3)", "GCM tag"],
    ),
    "month_end NULL hides a deleted record": (
        sql(
            "UPDATE archive_partitions SET month_end = NULL",
            f"DELETE FROM archive_participants WHERE record_id = {M3}",
            f"DELETE FROM archive_postings WHERE record_id = {M3}",
            "DELETE FROM archive_records WHERE msgid = 'm3'",
        ),
        ["month_end is None", "position 3: missing"],
    ),
    "a whole partition deleted while its checkpoint remains": (
        sql(
            "DELETE FROM archive_participants",
            "DELETE FROM archive_postings",
            "DELETE FROM archive_records",
            "DELETE FROM archive_chain_heads",
            "DELETE FROM archive_partitions WHERE name LIKE '%:2025-11'",
        ),
        [":2025-11: signed in checkpoint", "the partition row is gone"],
    ),
    "only the partition row deleted": (
        sql("DELETE FROM archive_partitions WHERE name LIKE '%:2025-11'"),
        ["5 records whose partition row is gone", "the partition row is gone"],
    ),
    "checkpoint rows deleted with the chain's tail": (
        sql(
            "DELETE FROM archive_checkpoints WHERE partition LIKE '%:2025-11'",
            "DELETE FROM archive_records WHERE msgid = 'm5'",
            "UPDATE archive_chain_heads SET position = 4, head_hash = "
            "(SELECT record_hash FROM archive_records WHERE msgid = 'm4')",
        ),
        ["checkpoint run #1", "1 of its 2 checkpoints are gone: #1", "checkpoint chain #1"],
    ),
    "audit entries after seq 1 deleted, head rewritten, audit checkpoint deleted": (
        sql(
            "DELETE FROM archive_audit_entries WHERE seq > 1",
            "UPDATE archive_audit_head SET seq = 1, hash = "
            "(SELECT hash FROM archive_audit_entries WHERE seq = 1)",
            "DELETE FROM archive_checkpoints WHERE partition = 'audit'",
        ),
        ["checkpoint run #1", "1 of its 2 checkpoints are gone: #2"],
    ),
    "audit entries deleted, head row left": (
        sql("DELETE FROM archive_audit_entries WHERE seq > 1"),
        ["audit log position 3: truncated: the log ends at 1, its head row says 3"],
    ),
    "a data key destroyed without retention": (
        sql("UPDATE archive_partitions SET wrapped_key = NULL WHERE name LIKE '%:2025-11'"),
        [":2025-11: data key destroyed, but no retention entry names it"],
    ),
    "participant rows deleted": (
        sql(f"DELETE FROM archive_participants WHERE record_id = {M3}"),
        ["position 3: index of record", "(msgid m3)", "archive_participants: 2 index rows missing"],
    ),
    "a record's hour changed": (
        sql("UPDATE archive_records SET hour = hour + 1 WHERE msgid = 'm3'"),
        ["(msgid m3): hour column is"],
    ),
    "a record's msgtype changed": (
        sql("UPDATE archive_records SET msgtype = 'image' WHERE msgid = 'm3'"),
        ["(msgid m3): msgtype column is 'image', the message's is 'text'"],
    ),
    "a record's conversation changed": (
        sql(
            "UPDATE archive_records SET conversation = 'ab' || substr(conversation, 3) "
            "WHERE msgid = 'm5'"
        ),
        ["(msgid m5): conversation column differs", "chain head row is missing"],
    ),
    "a chain head row deleted": (
        sql("DELETE FROM archive_chain_heads"),
        ["position 5: chain head row is missing"],
    ),
    "blind-index tokens deleted (postings on SQLite, the tokens column on PostgreSQL)": (
        sql(
            f"DELETE FROM archive_postings WHERE record_id = {M3}",
            postgres=("UPDATE archive_records SET tokens = tokens[2:] WHERE msgid = 'm3'",),
        ),
        ["(msgid m3):", "1 index rows missing", "searches would miss"],
    ),
    "all blind-index tokens of a record deleted": (
        sql(
            f"DELETE FROM archive_postings WHERE record_id = {M3}",
            postgres=("UPDATE archive_records SET tokens = '{}' WHERE msgid = 'm3'",),
        ),
        ["(msgid m3):", "index rows missing, 0 unexpected"],
    ),
}


@pytest.mark.parametrize(("tamper", "expected"), CASES.values(), ids=list(CASES))
async def test_verify_names_each_tampering(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: Tamper,
    expected: list[str],
) -> None:
    await archive_with_checkpoints(settings, tmp_path, files=3)
    assert await run(settings, "archive", "verify") == 0
    await tampered(settings, tamper)
    out = await verify_fails(settings, capsys)
    for fragment in expected:
        assert fragment in out, out


async def test_a_checkpoint_deleted_in_the_middle_of_the_chain(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await archive_with_checkpoints(settings, tmp_path)
    assert await run(settings, "archive", "sign-checkpoints") == 0  # a second run: #3, #4
    await tampered(settings, sql("DELETE FROM archive_checkpoints WHERE seq = 3"))
    out = await verify_fails(settings, capsys)
    assert "checkpoint chain #3: missing" in out
    assert "checkpoint run #3" in out


async def test_deleting_whole_newest_runs_is_caught_by_an_anchor(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What no database-only check can see: the newest runs deleted whole (a rollback)."""
    await archive_with_checkpoints(settings, tmp_path)
    capsys.readouterr()
    assert await run(settings, "archive", "verify") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("newest check"))
    anchor = line.split()[2]
    assert anchor.startswith("2:")
    await tampered(settings, sql("DELETE FROM archive_checkpoints"))
    assert await run(settings, "archive", "verify") == 0  # a consistent earlier state
    capsys.readouterr()
    assert await run(settings, "archive", "verify", "--anchor", anchor) == 1
    assert "checkpoint #2: the anchored checkpoint is gone" in capsys.readouterr().out


async def test_retention_keeps_the_checkpoint_chain_whole(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A month shredded by retention (audited) is no problem: its checkpoints stay."""
    await archive_with_checkpoints(settings, tmp_path)
    settings = replace(settings, archive=replace(settings.archive, retention_days=1))
    assert await run(settings, "archive", "retention") == 0
    assert ":2025-11" in capsys.readouterr().out
    assert await run(settings, "archive", "sign-checkpoints") == 0
    assert await run(settings, "archive", "verify") == 0, capsys.readouterr().out
