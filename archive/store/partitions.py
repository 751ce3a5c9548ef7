"""Partitions: one wrapped data key per (corp, month), created on first use by any worker."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from archive.keys.envelope import new_data_key, partition_id, wrap_data_key
from archive.runtime import ArchiveRuntime


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition row as archive code uses it; `dek` is None once shredded."""

    id: int
    name: str
    dek: bytes | None


def month_of(msgtime_ms: int) -> date:
    """The first day of the UTC month a message belongs to."""
    moment = datetime.fromtimestamp(msgtime_ms / 1000, UTC)
    return date(moment.year, moment.month, 1)


def month_key(msgtime_ms: int) -> int:
    """A cheap per-month key (year * 12 + month) to group a batch by partition."""
    month = month_of(msgtime_ms)
    return month.year * 12 + month.month


def month_end(month: date) -> float:
    """Unix seconds at the end of `month` (UTC), for the retention cut-off."""
    last = calendar.monthrange(month.year, month.month)[1]
    end = datetime(month.year, month.month, last, tzinfo=UTC).timestamp()
    return end + 86_400


async def ensure_partition(
    runtime: ArchiveRuntime, conn: Any, name: str, ends_at: float | None
) -> Partition:
    """Return the partition, creating it with a fresh wrapped data key if it is new."""
    db = runtime.db
    select = (
        "SELECT id, kek_id, wrapped_key FROM archive_partitions "
        f"WHERE name = {db.placeholders(1)[0]}"
    )
    rows = await conn.execute_query_dict(select, [name])
    if not rows:
        wrapped = wrap_data_key(runtime.current_ring(), new_data_key(), name)
        marks = ",".join(db.placeholders(5))
        await conn.execute_query(
            "INSERT INTO archive_partitions (name, kek_id, wrapped_key, month_end, created_at) "
            f"VALUES ({marks}) ON CONFLICT (name) DO NOTHING",
            [name, wrapped.kek_id, wrapped.blob, ends_at, runtime.clock()],
        )
        rows = await conn.execute_query_dict(select, [name])  # ours, or a racing worker's
    row = rows[0]
    if row["wrapped_key"] is None:
        return Partition(row["id"], name, None)
    dek = runtime.data_key(name, row["kek_id"], bytes(row["wrapped_key"]))
    return Partition(row["id"], name, dek)


async def message_partition(runtime: ArchiveRuntime, conn: Any, msgtime_ms: int) -> Partition:
    """The partition of a message's corp and month."""
    month = month_of(msgtime_ms)
    return await ensure_partition(
        runtime, conn, partition_id(runtime.corp_id, month), month_end(month)
    )


async def audit_partition(runtime: ArchiveRuntime, conn: Any) -> Partition:
    """The partition whose data key encrypts audit details; never shredded by retention."""
    return await ensure_partition(runtime, conn, f"{runtime.corp_id}:audit", None)


async def load_partition(runtime: ArchiveRuntime, partition_id_: int) -> Partition:
    """Load a partition by row id (search and verify)."""
    rows = await runtime.db.fetch(
        "SELECT id, name, kek_id, wrapped_key FROM archive_partitions "
        f"WHERE id = {runtime.db.placeholders(1)[0]}",
        [partition_id_],
    )
    row = rows[0]
    if row["wrapped_key"] is None:
        return Partition(row["id"], row["name"], None)
    dek = runtime.data_key(row["name"], row["kek_id"], bytes(row["wrapped_key"]))
    return Partition(row["id"], row["name"], dek)
