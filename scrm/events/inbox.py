"""The inbox: every event is committed here before anyone answers for it.

Concurrent `store` calls are group-committed: one writer task takes everything queued, writes
it in one transaction and one round trip (events insert-or-ignore on the dedupe key, plus one
run per interested handler for the new ones, see `batch_store`), then wakes the callers and
only then rings the workers' doorbell. Under load
a single commit carries hundreds of events, which is what keeps the ack fast on SQLite's one
writer and on PostgreSQL alike. When a batch fails, its events are written one by one, so an
event the database refuses fails alone and never its neighbours (each intake also refuses
unstorable text itself, `scrm.storable`; this is the net under it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.kv import KVStore
from scrm.db import Database
from scrm.events.batch_store import BatchStore, EventRow, batch_store_for
from scrm.events.content import ContentSeal, carries_content, strip_content
from scrm.events.router import Dispatcher

log = logging.getLogger(__name__)

DOORBELL = "inbox"


@dataclass(frozen=True)
class IncomingEvent:
    """A verified, parsed event on its way into the inbox."""

    dedupe_key: str
    name: str
    source: str
    payload: dict[str, Any]
    occurred_at: int | None = None


class InboxUnavailable(Exception):
    """The event could not be made durable; the caller must not acknowledge it.

    From `store_many`, ``stored`` tells per event what became of it (True new, False
    duplicate, None not stored) when only some of them failed.
    """

    def __init__(self, reason: str, stored: list[bool | None] | None = None) -> None:
        super().__init__(reason)
        self.stored = stored


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
        on_batch: Callable[[int, int, float], None] | None = None,
        seal: ContentSeal | None = None,
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
        self._ringing: asyncio.Task[None] | None = None
        self._ring_again = False
        self._store: BatchStore = batch_store_for(db)
        self._seal = seal

    def use_seal(self, seal: ContentSeal) -> None:
        """Seal message content with `seal` from now on (the app sets it once the keys load)."""
        self._seal = seal

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="inbox-writer")

    async def close(self) -> None:
        """Write what is queued, then stop the writer and its connection."""
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        if self._ringing is not None:
            await self._ringing
        await self._store.close()

    async def store(self, event: IncomingEvent) -> bool:
        """Commit one event; True when it is new, False when it was a duplicate."""
        if self._writer is None:
            raise InboxUnavailable("inbox is not started")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def store_many(self, events: Sequence[IncomingEvent]) -> list[bool]:
        """Commit several events in one transaction (API bulk intake, pulls, imports)."""
        try:
            results, has_runs = await self._write(list(events))
        except Exception as exc:  # the same contract as `store`: not durable, do not ack
            log.exception("inbox write failed for %d events", len(events))
            raise InboxUnavailable(type(exc).__name__) from exc
        if has_runs:
            self._ring_soon()
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            stored = [None if isinstance(r, BaseException) else r for r in results]
            raise InboxUnavailable(type(failed[0]).__name__, stored) from failed[0]
        return [bool(r) for r in results]

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
            results, has_runs = await self._write([event for event, _ in batch])
        except Exception as exc:
            log.exception("inbox write failed for %d events", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(InboxUnavailable(type(exc).__name__))
            return
        for (_, future), is_new in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(is_new, BaseException):
                future.set_exception(InboxUnavailable(type(is_new).__name__))
            else:
                future.set_result(is_new)
        if has_runs:  # after the callers are answered: the ring must not delay an ack
            self._ring_soon()

    async def _write(self, events: list[IncomingEvent]) -> tuple[list[bool | BaseException], bool]:
        """Commit the batch; return per event whether it is new (or the error it failed
        with, alone), and whether runs were added."""
        unique: dict[str, IncomingEvent] = {}
        for event in events:
            unique.setdefault(event.dedupe_key, event)
        rows: list[EventRow] = []
        failed: dict[str, BaseException] = {}
        for key, event in unique.items():
            try:
                rows.append(self._row(event))
            except (TypeError, ValueError) as exc:  # not serialisable: this event alone
                failed[key] = exc
        started = time.perf_counter()
        inserted = await self._write_rows(rows, failed) if rows else {}
        if self._on_batch is not None:
            self._on_batch(len(events), len(inserted), time.perf_counter() - started)
        seen: set[str] = set()
        results: list[bool | BaseException] = []
        for event in events:
            key = event.dedupe_key
            results.append(failed.get(key, key in inserted and key not in seen))
            seen.add(key)
        has_runs = any(row.handlers for row in rows if row.dedupe_key in inserted)
        return results, has_runs

    async def _write_rows(
        self, rows: list[EventRow], failed: dict[str, BaseException]
    ) -> dict[str, int]:
        """One round trip for the batch; if it fails, each row on its own (recording in
        ``failed`` the rows that fail again), so one bad row never fails its neighbours."""
        now = self._clock()
        try:
            return await self._store.write(rows, now)
        except Exception as exc:
            # the type only: a driver's message can quote the statement's values (content)
            if len(rows) == 1:
                log.warning("inbox write failed for 1 event (%s)", type(exc).__name__)
                failed[rows[0].dedupe_key] = exc
                return {}
            log.warning(
                "inbox batch of %d failed (%s); writing one by one", len(rows), type(exc).__name__
            )
        inserted: dict[str, int] = {}
        alone = 0
        for row in rows:
            try:
                inserted.update(await self._store.write([row], now))
            except Exception as exc:
                failed[row.dedupe_key] = exc
                alone += 1
        if alone:
            log.warning("inbox: %d of %d events could not be written", alone, len(rows))
        return inserted

    def _row(self, event: IncomingEvent) -> EventRow:
        handlers = tuple(self._dispatcher.handlers_for(event.name))
        body = event.payload
        if carries_content(event.name):
            body = self._sealed_content(event, handlers)
        return EventRow(
            dedupe_key=event.dedupe_key,
            name=event.name,
            source=event.source,
            payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            occurred_at=event.occurred_at,
            handlers=handlers,
        )

    def _sealed_content(self, event: IncomingEvent, handlers: tuple[str, ...]) -> dict[str, Any]:
        """The seal step: message content is never written in clear, from the first commit."""
        if not handlers:
            return strip_content(event.payload)  # nobody will process it: never store the text
        if self._seal is None:  # fail closed: no key, no content at rest
            raise InboxUnavailable(f"no content seal configured for {event.name}")
        return self._seal.seal(event.payload, bind=event.dedupe_key)

    def wake_workers(self) -> None:
        """Ring the workers' doorbell for runs made due outside the inbox (a replay)."""
        self._ring_soon()

    def _ring_soon(self) -> None:
        """Ring in the background so a Redis round trip never holds up the next commit.

        Rings asked for while one is in flight merge into one more ring after it: a ring
        carries no data, and a worker woken once finds every committed run.
        """
        if self._ringing is not None:
            self._ring_again = True
            return
        self._ringing = asyncio.create_task(self._ring_until_caught_up(), name="inbox-ring")

    async def _ring_until_caught_up(self) -> None:
        try:
            while True:
                self._ring_again = False
                try:
                    await self._kv.ring(DOORBELL)
                except Exception:  # the doorbell is an optimisation; workers also poll
                    log.warning("could not ring the inbox doorbell", exc_info=True)
                if not self._ring_again:
                    return
        finally:
            self._ringing = None
