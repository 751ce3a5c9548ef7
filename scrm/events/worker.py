"""Workers claim handler runs, execute them, and record what happened.

Delivery is at-least-once: a run is claimed with a lease (``locked_until``); a worker killed
mid-run leaves the lease to expire and another worker takes the run again. Handlers are
idempotent, so a second delivery changes nothing. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` so many workers on many hosts never take the same run; SQLite has
one writer, so its plain UPDATE … RETURNING is already exclusive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from adapters.backoff import backoff_delay
from config import WorkerSettings
from scrm.db import Database
from scrm.events.content import SealError, carries_content, is_sealed, strip_content
from scrm.events.errors import PermanentError, Retry
from scrm.events.inbox import DOORBELL
from scrm.events.router import Dispatcher, EventRecord
from scrm.logsafe import loggable
from scrm.sqlite_files import checkpoint_wal

if TYPE_CHECKING:
    from scrm.services import Services

log = logging.getLogger(__name__)

# Stripped content leaves old page images in SQLite's WAL until a checkpoint: truncate it when
# the worker goes idle, and at most this often (seconds) while it stays busy — a TRUNCATE
# checkpoint holds the write lock briefly, so never once per message on the hot path.
CHECKPOINT_EVERY = 60.0
_DUE = (
    "(status = 'pending' AND next_attempt_at <= {now}) "
    "OR (status = 'running' AND locked_until < {now})"
)


_EVENT_SELECT = "SELECT id, dedupe_key, name, source, payload, occurred_at FROM events"
_ATTEMPT_COLUMNS = "run_id, number, started_at, finished_at, outcome, error"
# One statement records a whole batch; ``claim_token`` keeps a run another worker took over
# (its lease lapsed) from being overwritten by the late one.
_PG_RECORD = (
    "WITH o AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::float8[], $5::text[], "
    "$6::text[], $7::int[], $8::float8[], $9::text[]) "
    "AS o(id, status, next_at, error, token, number, started, outcome)), "
    "held AS (UPDATE handler_runs AS r SET status = o.status, next_attempt_at = o.next_at, "
    "last_error = o.error, updated_at = $1, locked_until = NULL, claim_token = NULL FROM o "
    "WHERE r.id = o.id AND r.claim_token = o.token RETURNING r.id), "
    f"logged AS (INSERT INTO handler_attempts ({_ATTEMPT_COLUMNS}) "
    "SELECT o.id, o.number, o.started, $1, o.outcome, o.error FROM o JOIN held ON held.id = o.id) "
    "SELECT id FROM held"
)
_SQLITE_RECORD = (
    "UPDATE handler_runs SET status = o.column2, next_attempt_at = o.column3, "
    "last_error = o.column4, updated_at = ?, locked_until = NULL, claim_token = NULL "
    "FROM (VALUES {values}) AS o "
    "WHERE handler_runs.id = o.column1 AND handler_runs.claim_token = o.column5 "
    "RETURNING handler_runs.id"
)
BATCH = 64  # runs a (batch) lane claims at once: the bookkeeping is per batch, not per run
PIPELINE = 4  # batches a worker has in flight at most: one that waits holds up no claim
YIELDING_SLOTS = 4  # a per-slot lane's runs in flight while a lane it yields to is busy


@dataclass(frozen=True)
class ClaimedRun:
    id: int
    event_id: int
    handler: str
    attempt: int
    token: str
    event: Any = field(default=None, compare=False, repr=False)  # its event row, if claimed with it


@dataclass(frozen=True)
class RunResult:
    """What one execution of a run came to, before it is recorded."""

    run: ClaimedRun
    outcome: str  # done | retry | dead
    error: str | None
    started: float
    delay: float  # until the retry
    record: EventRecord | None  # the event, for a done run (its content may be stripped)


class Worker:
    """Claims due runs and executes them; `drain` is the run-until-idle mode tests use."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        services: Services,
        settings: WorkerSettings,
        *,
        clock: Callable[[], float] = time.time,
        name: str = "worker",
        handlers: Sequence[str] = (),
        skip: Sequence[str] = (),
        per_slot: bool = False,
    ) -> None:
        """``handlers``: claim only these handlers' runs — a lane, a worker of its own for
        runs that must not wait behind a backlog, claimed through the (handler, status,
        next_attempt_at) index so the backlog costs it nothing. Empty: claim every run but
        those of the handlers in ``skip`` (the main lane, which leaves the lanes' runs to
        them, so none of them waits in a batch of the backlog).

        A worker claims a batch, executes it and records it at once (see `execute_many`);
        ``per_slot`` (a per-slot `Lane`) claims whenever one of its ``concurrency`` slots is free
        and executes each run alone, so a run that waits on WeCom holds up nothing behind it.
        `yield_to` names workers that go first: while one has runs in flight, a batch lane
        keeps one batch in flight, not `PIPELINE`, and a per-slot lane `YIELDING_SLOTS` runs
        (the main lane yields so to the per-slot lanes, and they to the welcome's: the
        backlog, or the notices, must not take the welcome's share of the process).
        """
        self._db = db
        self._dispatcher = dispatcher
        self._services = services
        self._settings = settings
        self._clock = clock
        self.name = name
        self._stripped = 0  # content rows stripped since the last WAL checkpoint
        self._checkpointed_at = clock()
        self._lane = tuple(sorted(handlers))
        self._skip = () if self._lane else tuple(sorted(skip))
        self.per_slot = per_slot
        self._yield_to: tuple[Worker, ...] = ()
        self.in_flight = 0  # runs claimed and not yet recorded
        self._batch = max(settings.concurrency, 1 if per_slot else BATCH)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set: claim whenever there is room, execute, and wait for the
        doorbell or a poll when nothing is due.

        Claims do not wait for the work in flight to finish: a batch (or, per slot, a run)
        that waits on WeCom or a lock holds up nothing behind it, up to the worker's room
        (``concurrency`` runs per slot; `PIPELINE` batches).
        """
        running: dict[asyncio.Task[Any], int] = {}  # the work in flight → its number of runs
        try:
            while not stop.is_set():
                # The room shrinks while a lane this one yields to is busy: never below zero.
                want = max(0, min(self.room() - self.in_flight, self._batch))
                claimed: list[ClaimedRun] = []
                if want:
                    try:
                        claimed = await self.claim(want)
                    except Exception:
                        log.exception("%s: claim failed; retrying after the poll", self.name)
                self._start(claimed, running)
                await self._checkpoint(idle=not (claimed or running))
                if want and len(claimed) == want:
                    continue  # more may be due
                if not want and running:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                elif not stop.is_set():  # nothing due, or no room while a lane that goes
                    await self._wait_for_work()  # first works: look again soon
        except asyncio.CancelledError:
            for task in running:  # cut off: each run is redelivered when its lease ends
                task.cancel()
            raise
        if running:  # a graceful stop: the runs in flight record their outcome
            await asyncio.wait(running)

    def yield_to(self, workers: Sequence[Worker]) -> None:
        """Let ``workers`` go first (see `__init__`)."""
        self._yield_to = tuple(workers)

    def room(self) -> int:
        """How many runs this worker may have in flight now: less while a worker it yields
        to has runs in flight (one process, one event loop, one database)."""
        if not any(first.in_flight for first in self._yield_to):
            return self._batch if self.per_slot else self._batch * PIPELINE
        if self.per_slot and not self._db.is_postgres:
            # SQLite has one writer: the add chain's writes would queue the welcome's claims
            # behind them, so a per-slot lane waits until the welcomes in flight are done.
            return 0
        return min(self._batch, YIELDING_SLOTS) if self.per_slot else self._batch

    def _start(self, claimed: list[ClaimedRun], running: dict[asyncio.Task[Any], int]) -> None:
        batches = [[run] for run in claimed] if self.per_slot else [claimed] if claimed else []
        for batch in batches:
            task = asyncio.create_task(self.execute_many(batch), name=f"{self.name} runs")
            running[task] = len(batch)
            self.in_flight += len(batch)
            task.add_done_callback(self._settled(running))

    def _settled(
        self, running: dict[asyncio.Task[Any], int]
    ) -> Callable[[asyncio.Task[Any]], None]:
        def forget(task: asyncio.Task[Any]) -> None:
            self.in_flight -= running.pop(task, 0)
            if not task.cancelled() and task.exception() is not None:
                log.error("%s: runs failed to record", self.name, exc_info=task.exception())

        return forget

    async def _checkpoint(self, *, idle: bool) -> None:
        try:
            await self.flush_stripped(idle=idle)
        except Exception:
            log.exception("%s: WAL checkpoint failed", self.name)

    async def _wait_for_work(self) -> None:
        try:
            await self._services.kv.wait_for_ring(DOORBELL, self._settings.poll_interval)
        except Exception:
            await asyncio.sleep(self._settings.poll_interval)

    async def drain(self, max_rounds: int = 1000) -> int:
        """Execute every due run until none is left; return how many were executed."""
        total = 0
        for _ in range(max_rounds):
            done = await self.work_once()
            if done == 0:
                break
            total += done
        await self.flush_stripped(idle=True)
        return total

    async def flush_stripped(self, *, idle: bool) -> None:
        """Checkpoint SQLite's WAL (TRUNCATE) after stripping, debounced: see CHECKPOINT_EVERY."""
        if not self._stripped:
            return
        now = self._clock()
        if not idle and now - self._checkpointed_at < CHECKPOINT_EVERY:
            return
        self._stripped, self._checkpointed_at = 0, now
        await checkpoint_wal(self._db)

    async def work_once(self) -> int:
        """Claim one batch of due runs (the lane's claim size) and execute it."""
        runs = await self.claim(self._batch)
        if runs:
            await self.execute_many(runs)
        return len(runs)

    async def claim(self, limit: int) -> list[ClaimedRun]:
        now = self._clock()
        token = secrets.token_hex(8)
        lease = now + self._settings.lease_seconds
        db = self._db
        names = list(self._lane or self._skip)
        if db.is_postgres:
            which = self._which("= ANY($5::text[])", "<> ALL($5::text[])")
            sql = (  # the claimed runs' events come back with them: one round trip
                "WITH claimed AS (UPDATE handler_runs AS r SET status = 'running', "
                "attempts = r.attempts + 1, locked_until = $1, claim_token = $2, updated_at = $3 "
                f"FROM (SELECT id FROM handler_runs WHERE {which}({_DUE.format(now='$3')}) "
                "ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) AS due "
                "WHERE r.id = due.id RETURNING r.id, r.event_id, r.handler, r.attempts) "
                "SELECT c.id, c.event_id, c.handler, c.attempts, e.id AS event_row, "
                "e.dedupe_key, e.name, e.source, e.payload, e.occurred_at "
                "FROM claimed AS c LEFT JOIN events AS e ON e.id = c.event_id"
            )
            values: list[Any] = [lease, token, now, limit, *([names] if names else [])]
        else:
            marks = ", ".join("?" * len(names))
            which = self._which(f"IN ({marks})", f"NOT IN ({marks})")
            sql = (
                "UPDATE handler_runs SET status = 'running', attempts = attempts + 1, "
                "locked_until = ?, claim_token = ?, updated_at = ? "
                f"WHERE id IN (SELECT id FROM handler_runs WHERE {which}({_DUE.format(now='?')}) "
                "ORDER BY next_attempt_at, id LIMIT ?) "
                "RETURNING id, event_id, handler, attempts"
            )
            values = [lease, token, now, *names, now, now, limit]
        rows = await db.fetch(sql, values)  # one atomic statement: no transaction around it
        return [
            ClaimedRun(
                row["id"],
                row["event_id"],
                row["handler"],
                row["attempts"],
                token,
                row if row.get("event_row") is not None else None,
            )
            for row in rows
        ]

    def _which(self, only: str, but: str) -> str:
        """The claim's handler filter: this lane's handlers, or all but the lanes'."""
        if self._lane:
            return f"handler {only} AND "
        return f"handler {but} AND " if self._skip else ""

    async def execute(self, run: ClaimedRun) -> str:
        """Run one handler and record the outcome: done, retry (pending) or dead."""
        return (await self.execute_many([run]))[0]

    async def execute_many(self, runs: Sequence[ClaimedRun]) -> list[str]:
        """Execute claimed runs and record their outcomes; the outcomes, in order.

        The bookkeeping is per batch, not per run: the events are read (and unsealed) in one
        query, a batch handler gets all of its runs in one call, the outcomes are recorded
        in one transaction and processed content is stripped in one statement. Other
        handlers run ``concurrency`` at a time. Each run finishes inside its lease, counted
        from the claim: one that would outlive it is cut off and retried.
        """
        deadline = asyncio.get_running_loop().time() + self._settings.lease_seconds * 0.9
        records = await self._load_events(runs)
        slots = asyncio.Semaphore(max(1, self._settings.concurrency))
        results: dict[int, RunResult] = {}

        async def alone(run: ClaimedRun) -> None:
            async with slots:
                results[run.id] = await self._call(run, records, deadline)

        async def together(name: str, group: list[ClaimedRun]) -> None:
            async with slots:
                for result in await self._call_batch(name, group, records, deadline):
                    results[result.run.id] = result

        batched: dict[str, list[ClaimedRun]] = {}
        for run in runs:
            if self._dispatcher.batch_handler(run.handler) is not None:
                batched.setdefault(run.handler, []).append(run)
        jobs = [together(name, group) for name, group in batched.items() if len(group) > 1]
        jobs += [alone(run) for run in runs if len(batched.get(run.handler, ())) <= 1]
        await asyncio.gather(*jobs)
        ordered = [results[run.id] for run in runs]
        finished = await self._record(ordered)
        await self._strip_processed([r for r in ordered if r.run.id in finished])
        for result in ordered:
            labels = {"handler": result.run.handler, "outcome": result.outcome}
            self._services.metrics.handler_runs.labels(**labels).inc()
        return [result.outcome for result in ordered]

    async def _call(
        self, run: ClaimedRun, records: dict[int, EventRecord | Exception], deadline: float
    ) -> RunResult:
        started = self._clock()
        record = records[run.event_id]
        try:
            if isinstance(record, Exception):
                raise record
            handler = self._dispatcher.handler(run.handler)
            if handler is None:
                raise PermanentError(f"handler {run.handler} is not registered")
            async with asyncio.timeout_at(deadline):
                await handler(dataclasses.replace(record, attempt=run.attempt), self._services)
        except Exception as exc:
            return self._failed(run, exc, started)
        return RunResult(run, "done", None, started, 0.0, record)

    async def _call_batch(
        self,
        name: str,
        runs: list[ClaimedRun],
        records: dict[int, EventRecord | Exception],
        deadline: float,
    ) -> list[RunResult]:
        """All of one batch handler's runs in one call; when it fails, each run alone."""
        handler = self._dispatcher.batch_handler(name)
        assert handler is not None
        started = self._clock()
        ready: list[tuple[ClaimedRun, EventRecord]] = []
        for run in runs:
            record = records[run.event_id]
            if not isinstance(record, Exception):
                ready.append((run, record))
        try:
            async with asyncio.timeout_at(deadline):
                events = [dataclasses.replace(record, attempt=run.attempt) for run, record in ready]
                await handler(events, self._services)
        except Exception:  # one bad event must not fail its neighbours: each on its own
            return [await self._call(run, records, deadline) for run in runs]
        done = [RunResult(run, "done", None, started, 0.0, record) for run, record in ready]
        held = {run.id for run, _ in ready}
        return done + [
            await self._call(run, records, deadline) for run in runs if run.id not in held
        ]

    def _failed(self, run: ClaimedRun, exc: Exception, started: float) -> RunResult:
        """What an exception means for the run: retry later, or dead."""
        delay = 0.0
        if isinstance(exc, Retry):
            outcome, error = "retry", f"Retry: {exc}"
            delay = exc.defer if exc.defer is not None else self._delay(run.attempt)
        elif isinstance(exc, PermanentError):
            outcome, error = "dead", f"PermanentError: {exc}"
        else:
            error = f"{type(exc).__name__}: {exc}"
            outcome = "retry" if getattr(exc, "retryable", True) else "dead"
            delay = self._delay(run.attempt)
            log.warning(
                "%s: %s failed on attempt %d: %s",
                self.name,
                run.handler,
                run.attempt,
                loggable(error, 500),  # an exception's text may quote request data
            )
        if outcome == "retry" and run.attempt >= self._settings.max_attempts:
            outcome = "dead"
        return RunResult(run, outcome, error, started, delay, None)

    def _delay(self, attempt: int) -> float:
        # Jitter of up to half the delay keeps a burst of failures from retrying in lockstep.
        settings = self._settings
        return backoff_delay(
            attempt,
            base=settings.backoff_base,
            cap=settings.backoff_cap,
            jitter=0.5,
            rand=random.random(),
        )

    async def _load_events(self, runs: Sequence[ClaimedRun]) -> dict[int, EventRecord | Exception]:
        """Each run's event, read in one query and unsealed once (two handlers of one message
        in a batch share it); an event that cannot be had maps to the error its runs end with."""
        ids = sorted({run.event_id for run in runs})
        records: dict[int, EventRecord | Exception] = {
            event_id: PermanentError(f"event {event_id} no longer exists") for event_id in ids
        }
        rows = {run.event_id: run.event for run in runs if run.event is not None}
        missing = [event_id for event_id in ids if event_id not in rows]
        if missing:  # claimed without its event (SQLite), or the event was deleted
            db = self._db
            values: list[Any]
            if db.is_postgres:
                sql, values = f"{_EVENT_SELECT} WHERE id = ANY($1::bigint[])", [missing]
            else:
                sql = f"{_EVENT_SELECT} WHERE id IN ({', '.join('?' * len(missing))})"
                values = list(missing)
            rows.update((row["id"], row) for row in await db.fetch(sql, values))
        for row in rows.values():
            event_id = row.get("event_row", row["id"])
            try:
                records[event_id] = self._opened(event_id, row)
            except (Retry, PermanentError) as exc:
                records[event_id] = exc
        return records

    def _opened(self, event_id: int, row: Any) -> EventRecord:
        payload = json.loads(row["payload"])
        if is_sealed(payload):  # only now, for the handlers that need it, is content opened
            seal = self._services.seal
            if seal is None:
                raise Retry("the content seal is not open yet", defer=30.0)
            try:
                payload = seal.unseal(payload, bind=row["dedupe_key"])
            except SealError as exc:
                raise PermanentError(str(exc)) from None
        return EventRecord(
            id=event_id,
            name=row["name"],
            source=row["source"],
            payload=payload,
            occurred_at=row["occurred_at"],
        )

    async def _record(self, results: Sequence[RunResult]) -> set[int]:
        """Store the outcomes in one transaction; the ids of the runs this worker still held
        (a run whose lease another worker took over keeps that worker's outcome)."""
        now = self._clock()
        rows = [
            (
                r.run.id,
                "pending" if r.outcome == "retry" else r.outcome,
                now + r.delay,
                r.error[:2000] if r.error else None,
                r.run.token,
            )
            for r in results
        ]
        if self._db.is_postgres:  # one statement: the outcomes and their attempts at once
            columns = [*zip(*rows, strict=True)]
            extra = [(r.run.attempt, r.started, r.outcome) for r in results]
            updated = await self._db.fetch(
                _PG_RECORD, [now, *map(list, columns), *map(list, zip(*extra, strict=True))]
            )
            held = {row["id"] for row in updated}
        else:
            held = await self._record_sqlite(results, rows, now)
        for r in results:
            if r.run.id not in held:
                log.warning("%s: lost the lease on run %d before finishing", self.name, r.run.id)
        return held

    async def _record_sqlite(
        self, results: Sequence[RunResult], rows: list[tuple[Any, ...]], now: float
    ) -> set[int]:
        async with in_transaction() as conn:
            updated = await self._db.fetch(
                _SQLITE_RECORD.format(values=self._db.rows(5, len(rows))),
                [now, *(v for row in rows for v in row)],
                conn,
            )
            held = {row["id"] for row in updated}
            attempts = [
                (
                    r.run.id,
                    r.run.attempt,
                    r.started,
                    now,
                    r.outcome,
                    r.error[:2000] if r.error else None,
                )
                for r in results
                if r.run.id in held
            ]
            if attempts:
                await conn.execute_query(
                    f"INSERT INTO handler_attempts ({_ATTEMPT_COLUMNS}) VALUES "
                    + self._db.rows(6, len(attempts)),
                    [v for attempt in attempts for v in attempt],
                )
        return held

    async def _strip_processed(self, results: Sequence[RunResult]) -> None:
        """Once every handler is done with a message, drop its content from the inbox."""
        done = {
            r.record.id: r.record
            for r in results
            if r.outcome == "done" and r.record is not None and carries_content(r.record.name)
        }
        if not done:
            return
        db = self._db
        stripped = [
            (event_id, json.dumps(strip_content(record.payload), ensure_ascii=False))
            for event_id, record in sorted(done.items())
        ]
        # Only an event no handler still has to process (an expired run's content is gone
        # already). Each worker looks after committing its outcomes, so of two workers
        # finishing an event's last runs at once, the later look sees both done.
        unfinished = (
            "NOT EXISTS (SELECT 1 FROM handler_runs AS r WHERE r.event_id = {id} "
            "AND r.status NOT IN ('done', 'expired'))"
        )
        if db.is_postgres:
            sql = (
                "UPDATE events AS e SET payload = s.payload FROM unnest($1::bigint[], $2::text[]) "
                f"AS s(id, payload) WHERE e.id = s.id AND {unfinished.format(id='e.id')} "
                "RETURNING e.id"
            )
            await db.fetch(sql, [[i for i, _ in stripped], [p for _, p in stripped]])
        else:
            sql = (
                f"UPDATE events SET payload = s.column2 FROM (VALUES {db.rows(2, len(stripped))}) "
                f"AS s WHERE events.id = s.column1 AND {unfinished.format(id='events.id')} "
                "RETURNING events.id"
            )
            changed = await db.fetch(sql, [v for pair in stripped for v in pair])
            self._stripped += len(changed)
