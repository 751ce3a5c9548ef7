"""Workers claim handler runs, execute them, and record what happened.

Delivery is at-least-once: a run is claimed with a lease (``locked_until``); a worker killed
mid-run leaves the lease to expire and another worker takes the run again. Handlers are
idempotent, so a second delivery changes nothing. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` so many workers on many hosts never take the same run; SQLite has
one writer, so its plain UPDATE … RETURNING is already exclusive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from adapters.backoff import backoff_delay
from config import WorkerSettings
from scrm.db import Database
from scrm.events.content import carries_content, strip_content
from scrm.events.errors import PermanentError, Retry
from scrm.events.inbox import DOORBELL
from scrm.events.router import Dispatcher, EventRecord

if TYPE_CHECKING:
    from scrm.services import Services

log = logging.getLogger(__name__)

_DUE = (
    "(status = 'pending' AND next_attempt_at <= {now}) "
    "OR (status = 'running' AND locked_until < {now})"
)


@dataclass(frozen=True)
class ClaimedRun:
    id: int
    event_id: int
    handler: str
    attempt: int
    token: str


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
    ) -> None:
        """``handlers``: claim only these handlers' runs — the fast lane, a worker of its own
        for runs with a deadline, claimed through the (handler, status, next_attempt_at) index
        so a backlog of other runs costs it nothing. Empty: claim every run (the main lane,
        which also takes fast runs when it gets to them first)."""
        self._db = db
        self._dispatcher = dispatcher
        self._services = services
        self._settings = settings
        self._clock = clock
        self.name = name
        self._lane = tuple(sorted(handlers))

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set: claim, execute, then wait for the doorbell or a poll."""
        if self._lane:
            await self._run_slots(stop)
            return
        kv = self._services.kv
        while not stop.is_set():
            try:
                done = await self.work_once()
            except Exception:
                log.exception("%s: claim failed; retrying after the poll interval", self.name)
                done = 0
            if done == 0 and not stop.is_set():
                try:
                    await kv.wait_for_ring(DOORBELL, self._settings.poll_interval)
                except Exception:
                    await asyncio.sleep(self._settings.poll_interval)

    async def _run_slots(self, stop: asyncio.Event) -> None:
        """The fast lane's loop: claim whenever a slot is free, not once a whole batch is done,
        so a run that waits on WeCom never holds up the runs that arrive behind it."""
        slots = max(1, self._settings.concurrency)
        running: set[asyncio.Task[str]] = set()
        try:
            while not stop.is_set():
                free = slots - len(running)
                claimed: list[ClaimedRun] = []
                if free:
                    try:
                        claimed = await self.claim(free)
                    except Exception:
                        log.exception("%s: claim failed; retrying after the poll", self.name)
                for run in claimed:
                    task = asyncio.create_task(self.execute(run), name=f"{self.name} run")
                    running.add(task)
                    task.add_done_callback(self._settled(running))
                if free and len(claimed) == free:
                    continue  # more may be due
                if not free:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                elif not stop.is_set():
                    await self._wait_for_work()
        except asyncio.CancelledError:
            for task in running:  # cut off: each run is redelivered when its lease ends
                task.cancel()
            raise
        if running:  # a graceful stop: the runs in flight record their outcome
            await asyncio.wait(running)

    def _settled(self, running: set[asyncio.Task[str]]) -> Callable[[asyncio.Task[str]], None]:
        def forget(task: asyncio.Task[str]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("%s: a run failed to record", self.name, exc_info=task.exception())

        return forget

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
        return total

    async def work_once(self) -> int:
        runs = await self.claim(max(1, self._settings.concurrency))
        if runs:
            await asyncio.gather(*(self.execute(run) for run in runs))
        return len(runs)

    async def claim(self, limit: int) -> list[ClaimedRun]:
        now = self._clock()
        token = secrets.token_hex(8)
        lease = now + self._settings.lease_seconds
        db = self._db
        lane = self._lane
        if db.is_postgres:
            only = f"handler = ANY($5::text[]) AND ({_DUE.format(now='$3')})"
            sql = (
                "UPDATE handler_runs AS r SET status = 'running', attempts = r.attempts + 1, "
                "locked_until = $1, claim_token = $2, updated_at = $3 "
                "FROM (SELECT id FROM handler_runs WHERE "
                + (only if lane else _DUE.format(now="$3"))
                + " ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) AS due "
                "WHERE r.id = due.id RETURNING r.id, r.event_id, r.handler, r.attempts"
            )
            values: list[Any] = [lease, token, now, limit, *([list(lane)] if lane else [])]
        else:
            marks = ", ".join("?" * len(lane))
            only = f"handler IN ({marks}) AND ({_DUE.format(now='?')})"
            sql = (
                "UPDATE handler_runs SET status = 'running', attempts = attempts + 1, "
                "locked_until = ?, claim_token = ?, updated_at = ? "
                "WHERE id IN (SELECT id FROM handler_runs WHERE "
                + (only if lane else _DUE.format(now="?"))
                + " ORDER BY next_attempt_at, id LIMIT ?) "
                "RETURNING id, event_id, handler, attempts"
            )
            values = [lease, token, now, *lane, now, now, limit]
        rows = await db.fetch(sql, values)  # one atomic statement: no transaction around it
        return [
            ClaimedRun(row["id"], row["event_id"], row["handler"], row["attempts"], token)
            for row in rows
        ]

    async def execute(self, run: ClaimedRun) -> str:
        """Run one handler and record the outcome: done, retry (pending) or dead."""
        started = self._clock()
        handler = self._dispatcher.handler(run.handler)
        outcome, error, delay = "done", None, 0.0
        record: EventRecord | None = None
        try:
            if handler is None:
                raise PermanentError(f"handler {run.handler} is not registered")
            record = await self._load_event(run)
            async with asyncio.timeout(self._settings.lease_seconds * 0.9):
                await handler(record, self._services)
        except Retry as exc:
            outcome, error = "retry", f"Retry: {exc}"
            delay = exc.defer if exc.defer is not None else self._delay(run.attempt)
        except PermanentError as exc:
            outcome, error = "dead", f"PermanentError: {exc}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            retryable = getattr(exc, "retryable", True)
            outcome = "retry" if retryable else "dead"
            delay = self._delay(run.attempt)
            log.warning(
                "%s: %s failed on attempt %d: %s", self.name, run.handler, run.attempt, error
            )
        if outcome == "retry" and run.attempt >= self._settings.max_attempts:
            outcome = "dead"
        finished = await self._record(run, outcome, error, started, delay)
        if finished and outcome == "done" and record is not None and carries_content(record.name):
            await self._strip_if_processed(record)
        self._services.metrics.handler_runs.labels(handler=run.handler, outcome=outcome).inc()
        return outcome

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

    async def _load_event(self, run: ClaimedRun) -> EventRecord:
        marks = self._db.placeholders(1)
        rows = await self._db.fetch(
            f"SELECT id, name, source, payload, occurred_at FROM events WHERE id = {marks[0]}",
            [run.event_id],
        )
        if not rows:
            raise PermanentError(f"event {run.event_id} no longer exists")
        row = rows[0]
        return EventRecord(
            id=row["id"],
            name=row["name"],
            source=row["source"],
            payload=json.loads(row["payload"]),
            occurred_at=row["occurred_at"],
            attempt=run.attempt,
        )

    async def _record(
        self, run: ClaimedRun, outcome: str, error: str | None, started: float, delay: float
    ) -> bool:
        """Store the outcome; False when another worker took the run over (lease lost)."""
        now = self._clock()
        status = "pending" if outcome == "retry" else outcome
        error = error[:2000] if error else None
        marks = self._db.placeholders(6)
        update = (
            f"UPDATE handler_runs SET status = {marks[0]}, next_attempt_at = {marks[1]}, "
            f"last_error = {marks[2]}, updated_at = {marks[3]}, locked_until = NULL, "
            f"claim_token = NULL WHERE id = {marks[4]} AND claim_token = {marks[5]}"
        )
        imarks = self._db.placeholders(6)
        insert = (
            "INSERT INTO handler_attempts (run_id, number, started_at, finished_at, outcome, "
            f"error) VALUES ({', '.join(imarks)})"
        )
        async with in_transaction() as conn:
            changed, _ = await conn.execute_query(
                update, [status, now + delay, error, now, run.id, run.token]
            )
            if not changed:
                log.warning("%s: lost the lease on run %d before finishing", self.name, run.id)
                return False
            await conn.execute_query(insert, [run.id, run.attempt, started, now, outcome, error])
        return True

    async def _strip_if_processed(self, record: EventRecord) -> None:
        """Once every handler is done with a message, drop its content from the inbox."""
        marks = self._db.placeholders(2)
        unfinished = await self._db.fetch(
            f"SELECT COUNT(*) AS n FROM handler_runs WHERE event_id = {marks[0]} "
            f"AND status <> {marks[1]}",
            [record.id, "done"],
        )
        if unfinished[0]["n"]:
            return
        payload = json.dumps(strip_content(record.payload), ensure_ascii=False)
        await self._db.fetch(
            f"UPDATE events SET payload = {marks[0]} WHERE id = {marks[1]} RETURNING id",
            [payload, record.id],
        )
