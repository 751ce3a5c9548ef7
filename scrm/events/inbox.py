"""The inbox: every event is committed here before anyone answers for it.

Concurrent `store` calls are group-committed: one writer task takes everything queued, writes
it in one transaction (events insert-or-ignore on the dedupe key, plus one run per interested
handler for the new ones), then wakes the callers and rings the workers' doorbell. Under load
a single commit carries hundreds of events, which is what keeps the ack fast on SQLite's one
writer and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from adapters.kv import KVStore
from scrm.db import Database
from scrm.events.content import carries_content, strip_content
from scrm.events.router import Dispatcher

log = logging.getLogger(__name__)

DOORBELL = "inbox"
_EVENT_COLUMNS = 6
_RUN_COLUMNS = 6


@dataclass(frozen=True)
class IncomingEvent:
    """A verified, parsed event on its way into the inbox."""

    dedupe_key: str
    name: str
    source: str
    payload: dict[str, Any]
    occurred_at: int | None = None


class InboxUnavailable(Exception):
    """The event could not be made durable; the caller must not acknowledge it."""


class Inbox:
    """Durable intake with group commit; `store` returns only after the commit."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        kv: KVStore,
        *,
        max_batch: int = 400,
        clock: Callable[[], float] = time.time,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._kv = kv
        self._max_batch = max_batch
        self._clock = clock
        self._on_batch = on_batch
        self._queue: asyncio.Queue[tuple[IncomingEvent, asyncio.Future[bool]] | None] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="inbox-writer")

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None

    async def store(self, event: IncomingEvent) -> bool:
        """Commit one event; True when it is new, False when it was a duplicate."""
        if self._writer is None:
            raise InboxUnavailable("inbox is not started")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def store_many(self, events: Sequence[IncomingEvent]) -> list[bool]:
        """Commit several events in one transaction (API bulk intake)."""
        return await self._write(list(events))

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            batch = [item]
            stopping = False
            while len(batch) < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            await self._commit_batch(batch)
            if stopping:
                return

    async def _commit_batch(self, batch: list[tuple[IncomingEvent, asyncio.Future[bool]]]) -> None:
        try:
            results = await self._write([event for event, _ in batch])
        except Exception as exc:
            log.exception("inbox write failed for %d events", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(InboxUnavailable(type(exc).__name__))
            return
        for (_, future), is_new in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(is_new)

    async def _write(self, events: list[IncomingEvent]) -> list[bool]:
        unique: dict[str, IncomingEvent] = {}
        for event in events:
            unique.setdefault(event.dedupe_key, event)
        now = self._clock()
        async with in_transaction() as conn:
            inserted = await self._insert_events(conn, list(unique.values()), now)
            runs = [
                (event_id, handler, "pending", 0, now, now)
                for key, event_id in inserted.items()
                for handler in self._dispatcher.handlers_for(unique[key].name)
            ]
            if runs:
                await self._insert_runs(conn, runs)
        if self._on_batch is not None:
            self._on_batch(len(events), len(inserted))
        if runs:
            await self._ring()
        seen: set[str] = set()
        results = []
        for event in events:
            results.append(event.dedupe_key in inserted and event.dedupe_key not in seen)
            seen.add(event.dedupe_key)
        return results

    async def _insert_events(
        self, conn: Any, events: list[IncomingEvent], now: float
    ) -> dict[str, int]:
        values: list[Any] = []
        for event in events:
            body = event.payload
            if carries_content(event.name) and not self._dispatcher.handlers_for(event.name):
                body = strip_content(body)  # nobody will process it: never store the text
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            values += [event.dedupe_key, event.name, event.source, payload, event.occurred_at, now]
        sql = (
            "INSERT INTO events (dedupe_key, name, source, payload, occurred_at, received_at) "
            f"VALUES {self._db.rows(_EVENT_COLUMNS, len(events))} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
        )
        rows = await conn.execute_query_dict(sql, values)  # RETURNING needs fetch
        return {row["dedupe_key"]: row["id"] for row in rows}

    async def _insert_runs(self, conn: Any, runs: list[tuple[Any, ...]]) -> None:
        values = [value for run in runs for value in run]
        sql = (
            "INSERT INTO handler_runs "
            "(event_id, handler, status, attempts, next_attempt_at, updated_at) "
            f"VALUES {self._db.rows(_RUN_COLUMNS, len(runs))}"
        )
        await conn.execute_query(sql, values)

    async def _ring(self) -> None:
        try:
            await self._kv.ring(DOORBELL)
        except Exception:  # the doorbell is an optimisation; workers also poll
            log.warning("could not ring the inbox doorbell", exc_info=True)
