"""The daily job that signs every partition's chain heads, and the audit log's head.

Each run appends one chained checkpoint per partition with heads, then one for the audit
log (see `archive.integrity.checkpoint`); nothing is replaced, so deleting one is detected.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime

from tortoise.transactions import in_transaction

from archive.integrity.checkpoint import (
    CHECKPOINT_GENESIS,
    Heads,
    read_checkpoint,
    sign_checkpoint,
)
from archive.runtime import ArchiveRuntime

log = logging.getLogger(__name__)
AUDIT_CHECKPOINT = "audit"  # the partition name audit-log checkpoints are filed under


def day_of(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


def stored_digest(body: str) -> bytes:
    """The chain digest of a stored checkpoint body; an unreadable body gets a stable stand-in,
    so the next checkpoint still links to exactly this row (verify reports the row)."""
    checkpoint = read_checkpoint(body)
    if checkpoint is not None:
        return checkpoint.digest()
    return hashlib.sha256(b"scrm.archive.checkpoint.unreadable\x00" + body.encode()).digest()


async def _heads_to_sign(runtime: ArchiveRuntime) -> list[tuple[str, Heads]]:
    """(name, heads) of every partition holding chains, then of the audit log."""
    db = runtime.db
    partitions = await db.fetch(
        "SELECT id, name FROM archive_partitions WHERE wrapped_key IS NOT NULL ORDER BY id"
    )
    found: list[tuple[str, Heads]] = []
    for partition in partitions:
        rows = await db.fetch(
            "SELECT conversation, position, head_hash FROM archive_chain_heads "
            f"WHERE partition_id = {db.placeholders(1)[0]}",
            [partition["id"]],
        )
        heads = {row["conversation"]: (row["position"], bytes(row["head_hash"])) for row in rows}
        if heads:
            found.append((partition["name"], heads))
    head = await db.fetch("SELECT seq, hash FROM archive_audit_head")
    if head and head[0]["seq"]:
        found.append(
            (
                AUDIT_CHECKPOINT,
                {AUDIT_CHECKPOINT: (int(head[0]["seq"]), bytes.fromhex(head[0]["hash"]))},
            )
        )
    return found


async def sign_checkpoints(runtime: ArchiveRuntime, now: float) -> int:
    """Sign today's heads of every live partition and of the audit log; return how many."""
    db = runtime.db
    day = day_of(now)
    documents = await _heads_to_sign(runtime)
    if not documents:
        return 0
    async with in_transaction() as conn:
        if db.is_postgres:  # one run at a time, or two runs would both claim the next seq
            await conn.execute_query("LOCK TABLE archive_checkpoints IN SHARE ROW EXCLUSIVE MODE")
        last = await conn.execute_query_dict(
            "SELECT seq, body FROM archive_checkpoints WHERE seq IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1"
        )
        first = int(last[0]["seq"]) + 1 if last else 1
        prev = stored_digest(last[0]["body"]) if last else CHECKPOINT_GENESIS
        marks = ",".join(db.placeholders(5))
        for offset, (name, heads) in enumerate(documents):
            checkpoint = sign_checkpoint(
                runtime.ring.signing_key, name, day, heads,
                seq=first + offset, prev=prev, run=(first, len(documents)),
            )  # fmt: skip
            prev = checkpoint.digest()
            await conn.execute_query(
                "INSERT INTO archive_checkpoints (seq, partition, day, body, created_at) "
                f"VALUES ({marks})",
                [checkpoint.seq, name, day.isoformat(), checkpoint.to_json(), now],
            )
    log.info(
        "archive checkpoints #%d-#%d signed; newest %s", first, first + len(documents) - 1,
        prev.hex(),
    )  # fmt: skip
    return len(documents)
