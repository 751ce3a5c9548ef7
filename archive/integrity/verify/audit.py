"""The reviewer audit log: its chain, its head row, and the heads checkpoints signed of it."""

from __future__ import annotations

from collections.abc import Sequence

from archive.integrity.audit_chain import AuditEntry, audit_links, verify_audit_chain
from archive.integrity.checkpoint import Checkpoint
from archive.integrity.signing import AUDIT_CHECKPOINT
from archive.integrity.verify.report import problem_line
from archive.integrity.verify.signed_heads import compare_signed, newest_signed
from archive.runtime import ArchiveRuntime


async def verify_audit(
    runtime: ArchiveRuntime, entries: Sequence[AuditEntry], checkpoints: Sequence[Checkpoint]
) -> list[str]:
    """The audit log's chain problems, its head row against its newest entry, its signed heads."""
    out = [problem_line("audit log", p, {}) for p in verify_audit_chain(entries)]
    head = await runtime.db.fetch("SELECT seq, hash FROM archive_audit_head")
    newest = max(entries, key=lambda entry: entry.seq, default=None)
    if newest is not None and not head:
        out.append(f"audit log position {newest.seq}: the audit head row is gone")
    elif head and newest is not None and int(head[0]["seq"]) < newest.seq:
        out.append(
            f"audit log position {head[0]['seq']}: head row is behind: the log ends at {newest.seq}"
        )
    elif (
        head
        and int(head[0]["seq"])
        and (newest is None or (int(head[0]["seq"]), head[0]["hash"]) != (newest.seq, newest.hash))
    ):
        end = newest.seq if newest else 0
        out.append(
            f"audit log position {head[0]['seq']}: truncated: the log ends at {end}, "
            f"its head row says {head[0]['seq']}"
            if end < int(head[0]["seq"])
            else f"audit log position {end}: head row hash differs from entry {end}'s"
        )
    audit = [c for c in checkpoints if c.partition == AUDIT_CHECKPOINT]
    return out + compare_signed(
        "audit log", newest_signed(audit), {AUDIT_CHECKPOINT: audit_links(entries)}
    )
