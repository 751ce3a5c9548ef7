"""`verify_archive`: the whole archive — checkpoints, the partition table, each partition in
the asked months, and the audit log.

The partition table is checked on its own because a deleted partition row, or a data key
destroyed outside a retention run, leaves nothing behind for the per-partition checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from archive.errors import ArchiveCryptoError
from archive.integrity.audit_chain import AuditEntry
from archive.integrity.checkpoint import Checkpoint
from archive.integrity.signing import AUDIT_CHECKPOINT
from archive.integrity.verify.audit import verify_audit
from archive.integrity.verify.checkpoints import check_anchor, load_checkpoints, verify_checkpoints
from archive.integrity.verify.partition import verify_partition
from archive.review.audit_log import read_audit
from archive.runtime import ArchiveRuntime
from archive.store.partitions import month_end


async def verify_archive(
    runtime: ArchiveRuntime,
    start: date | None = None,
    end: date | None = None,
    anchor: tuple[int, bytes] | None = None,
) -> list[str]:
    """Every problem in the partitions overlapping [start, end], the checkpoints and the
    audit log; `anchor` is a (seq, digest) of a checkpoint that must still be there."""
    stored = await load_checkpoints(runtime)
    out, checkpoints = verify_checkpoints(runtime, stored)
    if anchor is not None:
        out += check_anchor(stored, *anchor)
    by_partition: dict[str, list[Checkpoint]] = defaultdict(list)
    for checkpoint in checkpoints:
        by_partition[checkpoint.partition].append(checkpoint)
    entries = await read_audit(runtime)
    shredded = _shredded_by_retention(entries)
    partitions = await runtime.db.fetch(
        "SELECT id, name, wrapped_key, month_end FROM archive_partitions ORDER BY name"
    )
    out += await _orphan_records(runtime, {row["id"] for row in partitions})
    names = {row["name"] for row in partitions}
    for name in sorted(set(by_partition) - names - {AUDIT_CHECKPOINT}):
        month = _month(name)
        if month is None or _month_overlaps(month, start, end):
            newest = max(by_partition[name], key=lambda c: (c.seq, c.day))
            out.append(
                f"{name}: signed in checkpoint {newest.day.isoformat()} #{newest.seq} "
                f"({len(newest.heads)} chains), but the partition row is gone"
            )
    for row in partitions:
        name = row["name"]
        if name == f"{runtime.corp_id}:audit":
            continue
        month = _month(name)
        if month is None:
            out.append(f"{name}: not a month partition name")
            continue
        if not _month_overlaps(month, start, end):
            continue
        if row["month_end"] is None or row["month_end"] != month_end(month):
            out.append(
                f"{name}: month_end is {row['month_end']}, the month ends at {month_end(month)} "
                "(retention and signing rely on it)"
            )
        if row["wrapped_key"] is None:
            if name not in shredded:
                out.append(f"{name}: data key destroyed, but no retention entry names it")
            continue
        try:
            out += await verify_partition(runtime, row["id"], name, by_partition.get(name, ()))
        except ArchiveCryptoError as exc:
            out.append(f"{name}: data key cannot be opened: {exc}")
    return out + await verify_audit(runtime, entries, checkpoints)


def _month(name: str) -> date | None:
    """The month of a "<corp>:YYYY-MM" partition name, None for any other name."""
    try:
        year, month = (int(part) for part in name.rsplit(":", 1)[1].split("-"))
        return date(year, month, 1)
    except (IndexError, ValueError):
        return None


def _month_overlaps(month: date, start: date | None, end: date | None) -> bool:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (end is None or month <= end) and (start is None or following > start)


async def _orphan_records(runtime: ArchiveRuntime, partition_ids: set[int]) -> list[str]:
    rows = await runtime.db.fetch(
        "SELECT partition_id, COUNT(*) AS n FROM archive_records GROUP BY partition_id"
    )
    return [
        f"partition id {row['partition_id']}: {row['n']} records whose partition row is gone"
        for row in rows
        if row["partition_id"] not in partition_ids
    ]


def _shredded_by_retention(entries: Sequence[AuditEntry]) -> set[str]:
    """Partitions a retention run of the audit log says it crypto-shredded."""
    names: set[str] = set()
    for entry in entries:
        filters = entry.fields.get("filters")
        if entry.fields.get("action") == "retention" and isinstance(filters, dict):
            names.update(str(name) for name in filters.get("partitions") or ())
    return names
