"""The reviewer audit log: appended under a lock on one head row, so seq never forks.

Justification and filters are encrypted with the audit partition's data key (a keyword
filter quotes message content); the hash chain covers them in clear, via `audit_chain`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from archive.integrity.audit_chain import AUDIT_GENESIS, AuditEntry, next_entry
from archive.keys.envelope import decrypt_message, encrypt_message
from archive.runtime import ArchiveRuntime
from archive.store.partitions import audit_partition

HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What one audit entry says; `at` is filled in when it is appended."""

    actor: str
    role: str
    action: str  # search|export|backtest|audit|retention|rotate|import
    justification: str
    filters: dict[str, Any]
    result_count: int
    outcome: str  # API requests: allowed|denied|invalid|failed; commands and jobs: done


async def append_audit(runtime: ArchiveRuntime, event: AuditEvent) -> AuditEntry:
    """Append one entry to the chain (serialised by a row lock / SQLite's single writer)."""
    db = runtime.db
    async with in_transaction() as conn:
        part = await audit_partition(runtime, conn)
        assert part.dek is not None
        await conn.execute_query(
            "INSERT INTO archive_audit_head (id, seq, hash) "
            f"VALUES ({','.join(db.placeholders(3))}) ON CONFLICT (id) DO NOTHING",
            [HEAD_ID, 0, AUDIT_GENESIS],
        )
        lock = " FOR UPDATE" if db.is_postgres else ""
        head = await conn.execute_query_dict(
            f"SELECT seq, hash FROM archive_audit_head WHERE id = {db.placeholders(1)[0]}{lock}",
            [HEAD_ID],
        )
        seq, head_hash = int(head[0]["seq"]), head[0]["hash"]
        previous = AuditEntry(seq, {}, "", head_hash) if seq else None
        fields = {
            "at": runtime.clock(),
            "actor": event.actor,
            "role": event.role,
            "action": event.action,
            "justification": event.justification,
            "filters": event.filters,
            "result_count": event.result_count,
            "outcome": event.outcome,
        }
        entry = next_entry(previous, fields)
        details = json.dumps(
            {"justification": event.justification, "filters": event.filters}, ensure_ascii=False
        ).encode()
        blob = encrypt_message(
            part.dek, details, msgid=f"audit:{entry.seq}", partition=part.name, position=entry.seq
        )
        marks = ",".join(db.placeholders(11))
        await conn.execute_query(
            "INSERT INTO archive_audit_entries (seq, at, actor, role, action, outcome, "
            f"result_count, details, prev_hash, hash, id) VALUES ({marks})",
            [
                entry.seq, fields["at"], event.actor, event.role, event.action, event.outcome,
                event.result_count, blob, entry.prev_hash, entry.hash, entry.seq,
            ],
        )  # fmt: skip
        marks2 = db.placeholders(3)
        await conn.execute_query(
            f"UPDATE archive_audit_head SET seq = {marks2[0]}, hash = {marks2[1]} "
            f"WHERE id = {marks2[2]}",
            [entry.seq, entry.hash, HEAD_ID],
        )
    return entry


async def read_audit(
    runtime: ArchiveRuntime, after_seq: int = 0, limit: int | None = None
) -> list[AuditEntry]:
    """Audit entries after `after_seq`, oldest first, with their details decrypted."""
    db = runtime.db
    sql = (
        "SELECT seq, at, actor, role, action, outcome, result_count, details, prev_hash, hash "
        f"FROM archive_audit_entries WHERE seq > {db.placeholders(1)[0]} ORDER BY seq"
    )
    rows = await db.fetch(sql + (f" LIMIT {int(limit)}" if limit else ""), [after_seq])
    if not rows:
        return []
    async with in_transaction() as conn:
        part = await audit_partition(runtime, conn)
    assert part.dek is not None
    entries = []
    for row in rows:
        try:
            details = json.loads(
                decrypt_message(
                    part.dek, bytes(row["details"]), msgid=f"audit:{row['seq']}",
                    partition=part.name, position=row["seq"],
                )
            )  # fmt: skip
        except Exception:  # an altered blob: keep the row, verification will name it
            details = {"justification": None, "filters": None}
        fields = {
            "at": row["at"], "actor": row["actor"], "role": row["role"],
            "action": row["action"], "justification": details["justification"],
            "filters": details["filters"], "result_count": row["result_count"],
            "outcome": row["outcome"],
        }  # fmt: skip
        entries.append(AuditEntry(int(row["seq"]), fields, row["prev_hash"], row["hash"]))
    return entries
