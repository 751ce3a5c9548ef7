"""The daily job that signs every partition's chain heads, and the audit log's head."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tortoise.transactions import in_transaction

from archive.checkpoint import Checkpoint, sign_checkpoint
from archive.runtime import ArchiveRuntime

AUDIT_CHECKPOINT = "audit"  # the partition name audit-log checkpoints are filed under


def day_of(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


async def _save(runtime: ArchiveRuntime, checkpoint: Checkpoint, now: float) -> None:
    """Keep one checkpoint per partition and day: a later run that day replaces it."""
    db = runtime.db
    day = checkpoint.day.isoformat()
    marks = db.placeholders(4)
    async with in_transaction() as conn:
        await conn.execute_query(
            f"DELETE FROM archive_checkpoints WHERE partition = {marks[0]} AND day = {marks[1]}",
            [checkpoint.partition, day],
        )
        await conn.execute_query(
            "INSERT INTO archive_checkpoints (partition, day, body, created_at) "
            f"VALUES ({','.join(marks)})",
            [checkpoint.partition, day, checkpoint.to_json(), now],
        )


async def sign_checkpoints(runtime: ArchiveRuntime, now: float) -> int:
    """Sign today's heads of every live partition and of the audit log; return how many."""
    db = runtime.db
    day = day_of(now)
    partitions = await db.fetch(
        "SELECT id, name FROM archive_partitions "
        "WHERE wrapped_key IS NOT NULL AND month_end IS NOT NULL ORDER BY id"
    )
    signed = 0
    for partition in partitions:
        rows = await db.fetch(
            "SELECT conversation, position, head_hash FROM archive_chain_heads "
            f"WHERE partition_id = {db.placeholders(1)[0]}",
            [partition["id"]],
        )
        heads = {row["conversation"]: (row["position"], bytes(row["head_hash"])) for row in rows}
        if heads:
            key = runtime.ring.signing_key
            await _save(runtime, sign_checkpoint(key, partition["name"], day, heads), now)
            signed += 1
    head = await db.fetch("SELECT seq, hash FROM archive_audit_head")
    if head and head[0]["seq"]:
        audit_heads = {AUDIT_CHECKPOINT: (int(head[0]["seq"]), bytes.fromhex(head[0]["hash"]))}
        checkpoint = sign_checkpoint(runtime.ring.signing_key, AUDIT_CHECKPOINT, day, audit_heads)
        await _save(runtime, checkpoint, now)
        signed += 1
    return signed
