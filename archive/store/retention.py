"""Retention by crypto-shredding: destroy a partition's wrapped data key, then its rows.

The partition row (name, month, shredded_at) and its checkpoints are kept, and the audit log
names every shredded partition: `archive verify` accepts a missing month only with both.

The key goes first and in its own commit: from then on no copy of the database (backups
included) can decrypt the partition, whatever happens to the row deletion after it.
"""

from __future__ import annotations

import logging

from tortoise.transactions import in_transaction

from archive.review.audit_log import AuditEvent, append_audit
from archive.runtime import ArchiveRuntime

log = logging.getLogger(__name__)
DAY = 86_400


async def apply_retention(runtime: ArchiveRuntime, now: float) -> list[str]:
    """Shred every partition whose month ended more than `retention_days` ago; return them."""
    if runtime.retention_days <= 0:
        return []
    db = runtime.db
    cutoff = now - runtime.retention_days * DAY
    due = await db.fetch(
        "SELECT id, name FROM archive_partitions WHERE wrapped_key IS NOT NULL "
        f"AND month_end IS NOT NULL AND month_end <= {db.placeholders(1)[0]} ORDER BY id",
        [cutoff],
    )
    shredded: list[str] = []
    deleted = 0
    for partition in due:
        one = db.placeholders(1)[0]
        await db.connection().execute_query(
            "UPDATE archive_partitions SET wrapped_key = NULL, shredded_at = "
            f"{db.placeholders(2)[0]} WHERE id = {db.placeholders(2)[1]}",
            [now, partition["id"]],
        )
        runtime.deks.clear()
        shredded.append(partition["name"])
        async with in_transaction() as conn:
            ids = f"(SELECT id FROM archive_records WHERE partition_id = {one})"
            for table in ("archive_postings", "archive_participants"):
                await conn.execute_query(
                    f"DELETE FROM {table} WHERE record_id IN {ids}", [partition["id"]]
                )
            records, _ = await conn.execute_query(
                f"DELETE FROM archive_records WHERE partition_id = {one}", [partition["id"]]
            )
            deleted += records
            await conn.execute_query(
                f"DELETE FROM archive_chain_heads WHERE partition_id = {one}", [partition["id"]]
            )
            # Its signed checkpoints stay: they are links of the checkpoint chain and hold
            # only hashes; verify skips a partition shredded by a retention audit entry.
        log.info("archive partition %s shredded (retention)", partition["name"])
    if shredded:
        await append_audit(
            runtime,
            AuditEvent(
                "retention-job", "system", "retention",
                f"retention of {runtime.retention_days} days",
                {"partitions": shredded}, deleted, "done",
            ),
        )  # fmt: skip
    return shredded
