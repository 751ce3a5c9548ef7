"""One inbox batch → one round trip: the engine-specific half of the group commit.

PostgreSQL: a single statement (data-modifying CTEs) inserts the events, ignores duplicates
and inserts the runs of the new ones — atomic on its own, one round trip.
SQLite: a dedicated connection on one thread runs BEGIN … COMMIT for the whole batch in a
single hop, instead of a thread hop per statement through the ORM's driver. Its writes
serialise with the ORM's connection through SQLite's own lock (WAL, busy_timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from scrm.db import SQLITE_PRAGMAS, Database

_EVENT_COLUMNS = "dedupe_key, name, source, payload, occurred_at, received_at"
_RUN_COLUMNS = "event_id, handler, status, attempts, next_attempt_at, updated_at"


@dataclass(frozen=True)
class EventRow:
    dedupe_key: str
    name: str
    source: str
    payload: str  # JSON text
    occurred_at: int | None
    handlers: tuple[str, ...]


class BatchStore(Protocol):
    async def write(self, rows: Sequence[EventRow], now: float) -> dict[str, int]:
        """Insert the new events and their runs; return dedupe key → id for the new ones."""
        ...

    async def close(self) -> None: ...


class PostgresBatchStore:
    # One constant statement (arrays, not a VALUES list per batch size), so asyncpg prepares
    # it once and every batch after that is a single execute.
    SQL = (
        f"WITH new AS (INSERT INTO events ({_EVENT_COLUMNS}) "
        "SELECT k, n, s, p, o, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::bigint[]) AS batch(k, n, s, p, o) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key, name), "
        f"runs AS (INSERT INTO handler_runs ({_RUN_COLUMNS}) "
        "SELECT new.id, route.handler, 'pending', 0, $6, $6 FROM new "
        "JOIN unnest($7::text[], $8::text[]) AS route(name, handler) ON route.name = new.name) "
        "SELECT id, dedupe_key FROM new"
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, rows: Sequence[EventRow], now: float) -> dict[str, int]:
        pairs = sorted({(row.name, handler) for row in rows for handler in row.handlers})
        values = [
            [row.dedupe_key for row in rows],
            [row.name for row in rows],
            [row.source for row in rows],
            [row.payload for row in rows],
            [row.occurred_at for row in rows],
            now,
            [name for name, _ in pairs],
            [handler for _, handler in pairs],
        ]
        result = await self._db.fetch(self.SQL, values)
        return {row["dedupe_key"]: row["id"] for row in result}

    async def close(self) -> None:
        return None


class SqliteBatchStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="inbox-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def write(self, rows: Sequence[EventRow], now: float) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write, list(rows), now)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma, value in SQLITE_PRAGMAS.items():
                conn.execute(f"PRAGMA {pragma}={value}")
            self._conn = conn
        return self._conn

    def _write(self, rows: list[EventRow], now: float) -> dict[str, int]:
        conn = self._connect()
        marks = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))
        values = [
            v for r in rows for v in (r.dedupe_key, r.name, r.source, r.payload, r.occurred_at, now)
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.execute(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {marks} "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
                values,
            ).fetchall()
            ids = {key: event_id for event_id, key in inserted}
            handlers = {r.dedupe_key: r.handlers for r in rows}
            runs = [
                (event_id, handler, "pending", 0, now, now)
                for key, event_id in ids.items()
                for handler in handlers[key]
            ]
            if runs:
                conn.executemany(
                    f"INSERT INTO handler_runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", runs
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)


def batch_store_for(db: Database) -> BatchStore:
    if db.is_postgres:
        return PostgresBatchStore(db)
    if db.sqlite_path is None:
        raise ValueError("the SQLite inbox needs a database file")
    return SqliteBatchStore(db.sqlite_path)
