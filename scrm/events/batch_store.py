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
from typing import Any, Protocol

from scrm.db import Database

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
    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, rows: Sequence[EventRow], now: float) -> dict[str, int]:
        values: list[Any] = [now]
        groups = []
        for row in rows:
            base = len(values) + 1
            values += [row.dedupe_key, row.name, row.source, row.payload, row.occurred_at]
            groups.append(
                f"(${base}, ${base + 1}, ${base + 2}, ${base + 3}, ${base + 4}::bigint, $1)"
            )
        pairs = {(row.name, handler) for row in rows for handler in row.handlers}
        sql = (
            f"WITH new AS (INSERT INTO events ({_EVENT_COLUMNS}) VALUES {', '.join(groups)} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key, name)"
        )
        if pairs:
            routes = []
            for name, handler in sorted(pairs):
                values += [name, handler]
                routes.append(f"(${len(values) - 1}::text, ${len(values)}::text)")
            sql += (
                f", runs AS (INSERT INTO handler_runs ({_RUN_COLUMNS}) "
                "SELECT new.id, route.handler, 'pending', 0, $1, $1 FROM new "
                f"JOIN (VALUES {', '.join(routes)}) AS route(name, handler) "
                "ON route.name = new.name)"
            )
        sql += " SELECT id, dedupe_key FROM new"
        result = await self._db.fetch(sql, values)
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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a crash
            conn.execute("PRAGMA busy_timeout=5000")
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
