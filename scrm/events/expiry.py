"""Message content waits for its handlers a bounded time: then it is shredded, the runs expire.

Content stays in the inbox (sealed) only while some handler still has to process it. A run
parked as dead keeps it replayable — for SCRM_INBOX_CONTENT_TTL_DAYS after the event arrived.
Past that, every unfinished run of the event (dead, pending, or running with a lapsed lease)
is closed as ``expired`` with the reason, and the payload is stripped to its metadata. A run
still running under a live lease is left to finish; its event is stripped when it does (the
worker's strip counts ``expired`` as finished) or on a later pass if it fails.

Expired runs are final: there is nothing left to replay. Events without content (contact
changes) are untouched: their dead runs stay replayable indefinitely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from scrm.db import Database
from scrm.events.content import CONTENT_EVENT_PREFIXES, strip_content
from scrm.sqlite_files import checkpoint_wal

EXPIRED = "expired"
DAY = 86_400.0
BATCH = 200
MAX_BATCHES = 50  # per pass; the next pass (an hour later) continues
_CONTENT = "(" + " OR ".join(f"e.name LIKE '{prefix}%'" for prefix in CONTENT_EVENT_PREFIXES) + ")"
_UNFINISHED = "(status IN ('dead', 'pending') OR (status = 'running' AND locked_until < {now}))"


@dataclass
class ExpiredContent:
    """What one pass did: events whose content was shredded, runs closed as expired."""

    stripped: list[int] = field(default_factory=list)
    runs: list[tuple[int, str]] = field(default_factory=list)  # (event id, handler)


async def expire_content(
    db: Database, now: float, ttl_days: int, *, batch: int = BATCH
) -> ExpiredContent:
    """Close the unfinished runs of content older than `ttl_days` and strip that content."""
    report = ExpiredContent()
    cutoff = now - ttl_days * DAY
    for _ in range(MAX_BATCHES):
        marks = db.placeholders(3)
        rows = await db.fetch(
            "SELECT DISTINCT e.id FROM handler_runs r JOIN events e ON e.id = r.event_id "
            f"WHERE {_UNFINISHED.format(now=marks[0])} AND e.received_at < {marks[1]} "
            f"AND {_CONTENT} ORDER BY e.id LIMIT {marks[2]}",
            [now, cutoff, batch],
        )
        ids = [row["id"] for row in rows]
        if ids:
            await _expire(db, ids, now, ttl_days, report)
        if len(ids) < batch:
            break
    if report.stripped:
        await checkpoint_wal(db)  # SQLite: the stripped pages leave the WAL too
    return report


async def _expire(
    db: Database, ids: list[int], now: float, ttl_days: int, report: ExpiredContent
) -> None:
    reason = f"expired: content shredded after {ttl_days} days unprocessed; last error: "
    marks = db.placeholders(3 + len(ids))  # in the order they appear: `?` is positional
    within = ", ".join(marks[3:])
    async with in_transaction() as conn:
        expired = await db.fetch(
            f"UPDATE handler_runs SET status = '{EXPIRED}', "
            f"last_error = SUBSTR(CAST({marks[0]} AS TEXT) || COALESCE(last_error, 'none'), 1, "
            f"2000), locked_until = NULL, claim_token = NULL, updated_at = {marks[1]} "
            f"WHERE {_UNFINISHED.format(now=marks[2])} AND event_id IN ({within}) "
            "RETURNING event_id, handler",
            [reason, now, now, *ids],
            conn,
        )
        report.runs += [(row["event_id"], row["handler"]) for row in expired]
        busy = await db.fetch(  # a live run still needs the content; it strips when done
            f"SELECT DISTINCT event_id FROM handler_runs WHERE event_id IN "
            f"({', '.join(db.placeholders(len(ids)))}) AND status = 'running'",
            ids,
            conn,
        )
        keep = {row["event_id"] for row in busy}
        sql = f"SELECT id, payload FROM events WHERE id IN ({', '.join(db.placeholders(len(ids)))})"
        for row in await db.fetch(sql, ids, conn):
            if row["id"] in keep:
                continue
            stripped = json.dumps(strip_content(json.loads(row["payload"])), ensure_ascii=False)
            update = db.placeholders(2)
            await conn.execute_query(
                f"UPDATE events SET payload = {update[0]} WHERE id = {update[1]}",
                [stripped, row["id"]],
            )
            report.stripped.append(row["id"])
