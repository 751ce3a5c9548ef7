"""Lanes and batches on real engines: every test runs on SQLite and on PostgreSQL.

A lane's worker claims its handlers' runs before a backlog of others; the main lane leaves
them to it; a batch handler gets a claim's runs in one call; each run still executes and is
recorded once, and a batch whose worker died is redelivered after its lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Sequence

import pytest

from adapters.kv import MemoryKV
from archive.keys.inbox_seal import InboxSeal
from archive.runtime import ArchiveRuntime
from config import Settings, WorkerSettings
from scrm.db import Database
from scrm.events.errors import PermanentError
from scrm.events.inbox import Inbox, IncomingEvent
from scrm.events.router import FAST_LANE, Dispatcher, EventRecord, Lane, Router
from scrm.events.worker import BATCH, PIPELINE, YIELDING_SLOTS, Worker
from scrm.metrics import Metrics
from scrm.models import Event, HandlerAttempt, HandlerRun
from scrm.services import Services
from tests.archive.keys import make_ring
from tests.events.test_inbox_worker import Clock

PRIORITY = "t.alert"
BACKLOG = 150


class Calls:
    def __init__(self) -> None:
        self.single: list[tuple[str, str]] = []  # (handler, event key)
        self.batches: list[list[str]] = []  # event keys per batch call
        self.hold = asyncio.Event()  # t.hang waits for it
        self.hanging = asyncio.Event()
        self.hold.set()


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def router(calls: Calls) -> Router:
    router = Router("t")

    @router.on("test.backlog")
    async def backlog(ev: EventRecord, services: Services) -> None:
        calls.single.append(("backlog", ev.payload["k"]))

    @router.on("test.alert", lane=Lane("alerts"))
    async def alert(ev: EventRecord, services: Services) -> None:
        calls.single.append(("alert", ev.payload["k"]))

    @router.on("test.hang", fast=True)
    async def hang(ev: EventRecord, services: Services) -> None:
        if ev.payload.get("hang"):
            calls.hanging.set()
            await calls.hold.wait()
        calls.single.append(("hang", ev.payload["k"]))

    @router.on_batch("chat.message", name="store")
    async def store(events: Sequence[EventRecord], services: Services) -> None:
        keys = [str(ev.payload.get("k")) for ev in events]  # a late run sees it stripped
        if any(ev.payload.get("bad") for ev in events):
            raise PermanentError("a bad message")
        calls.batches.append(keys)

    return router


@pytest.fixture
async def lanes(database: Database, router: Router):  # type: ignore[no-untyped-def]
    clock = Clock()
    kv = MemoryKV()
    dispatcher = Dispatcher([router])
    seal = InboxSeal(ArchiveRuntime(database, make_ring(), corp_id="wwcorp", clock=clock))
    services = Services(Settings(), database, kv, Metrics(), wecom=None, clock=clock, seal=seal)  # type: ignore[arg-type]
    inbox = Inbox(database, dispatcher, kv, clock=clock, seal=seal)
    await inbox.start()
    settings = WorkerSettings(concurrency=4, max_attempts=3, lease_seconds=30, poll_interval=0.05)

    def worker(lane: str | None = None, slots: int = 4, **kwargs: object) -> Worker:
        if lane is None:  # the main lane, as the app starts it: the lanes' runs left to them
            skip = sorted(name for names in dispatcher.lanes.values() for name in names)
            kwargs.setdefault("skip", skip)
        else:
            kwargs.setdefault("handlers", sorted(dispatcher.lanes[lane]))
            kwargs.setdefault("per_slot", dispatcher.lane_specs[lane].per_slot)
        wide = dataclasses.replace(settings, concurrency=slots)
        return Worker(database, dispatcher, services, wide, clock=clock, **kwargs)  # type: ignore[arg-type]

    yield inbox, worker, clock
    await inbox.close()


def event(key: str, name: str, **payload: object) -> IncomingEvent:
    return IncomingEvent(key, name, "test", {"k": key, **payload}, 1_700_000_000)


async def queue_backlog(inbox: Inbox, count: int = BACKLOG) -> None:
    await inbox.store_many([event(f"b{n}", "test.backlog") for n in range(count)])


async def test_a_lanes_run_is_claimed_before_a_backlog(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    await queue_backlog(inbox)
    await inbox.store(event("a1", "test.alert"))  # due after every run of the backlog
    assert await worker("alerts").work_once() == 1
    assert calls.single == [("alert", "a1")]
    assert await HandlerRun.filter(status="pending").count() == BACKLOG  # untouched
    assert (await HandlerRun.get(handler=PRIORITY)).status == "done"


async def test_the_main_lane_leaves_a_lanes_runs_to_it(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    await inbox.store(event("a1", "test.alert"))
    await queue_backlog(inbox, 10)
    assert await worker().drain() == 10
    assert ("alert", "a1") not in calls.single
    assert (await HandlerRun.get(handler=PRIORITY)).status == "pending"
    assert await worker("alerts").drain() == 1
    assert (await HandlerRun.get(handler=PRIORITY)).status == "done"


async def test_a_lane_and_the_main_lane_together_run_each_run_once(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    await queue_backlog(inbox, 40)
    await inbox.store_many([event(f"a{n}", "test.alert") for n in range(40)])
    everything = worker(skip=())  # a main lane that also takes the lane's runs (tests' drain)
    done = await asyncio.gather(everything.drain(), worker("alerts").drain(), worker().drain())
    assert sum(done) == 80
    assert Counter(calls.single).most_common(1)[0][1] == 1
    assert len(calls.single) == 80
    assert await HandlerAttempt.all().count() == 80


async def test_a_batch_handler_gets_the_claims_runs_in_one_call(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    await inbox.store_many([event(f"m{n}", "chat.message", text="hi") for n in range(20)])
    assert await worker().drain() == 20
    assert len(calls.batches) == 1 and sorted(calls.batches[0]) == sorted(
        f"m{n}" for n in range(20)
    )
    assert set(await HandlerRun.all().values_list("status", flat=True)) == {"done"}
    assert await HandlerAttempt.filter(outcome="done").count() == 20
    for stored in await Event.all():  # every handler done: the content is stripped
        assert "_content_stripped" in stored.payload and '"hi"' not in stored.payload


async def test_a_failing_batch_is_run_one_event_at_a_time(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    events = [event(f"m{n}", "chat.message", text="hi", bad=n == 3) for n in range(6)]
    await inbox.store_many(events)
    assert await worker().drain() == 6
    assert sorted(key for batch in calls.batches for key in batch) == [
        f"m{n}" for n in range(6) if n != 3
    ]
    assert all(len(batch) == 1 for batch in calls.batches)  # after the batch failed: alone
    runs = dict(await HandlerRun.all().values_list("event__dedupe_key", "status"))
    assert runs.pop("m3") == "dead"
    assert set(runs.values()) == {"done"}


async def test_a_dead_workers_batch_is_redelivered_after_its_lease(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, clock = lanes
    await inbox.store_many([event(f"m{n}", "chat.message", text="hi") for n in range(5)])
    await queue_backlog(inbox, 5)
    dead, survivor = worker(), worker()
    claimed = await dead.claim(64)  # claims the whole batch, then "dies" before executing
    assert len(claimed) == 10
    assert await survivor.drain() == 0  # the leases still hold
    clock.now += 31
    assert await survivor.drain() == 10
    assert sorted(await HandlerRun.all().values_list("status", "attempts")) == [("done", 2)] * 10
    # the dead worker waking up late runs its batch but cannot record over the survivor's
    assert set(await dead.execute_many(claimed)) == {"done"}
    assert await HandlerAttempt.all().count() == 10
    assert sorted(await HandlerAttempt.all().values_list("number", flat=True)) == [2] * 10


async def test_the_run_loop_claims_past_a_hung_run(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    calls.hold.clear()
    await inbox.store(event("h0", "test.hang", hang=True))
    fast = worker(FAST_LANE.name)
    stop = asyncio.Event()
    task = asyncio.create_task(fast.run(stop))
    try:
        await asyncio.wait_for(calls.hanging.wait(), timeout=60)  # a guard, not a timing
        await inbox.store_many([event(f"h{n}", "test.hang") for n in range(1, 6)])

        async def ran(count: int) -> None:
            while len(calls.single) < count:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.01)

        await asyncio.wait_for(ran(5), timeout=60)
        assert ("hang", "h0") not in calls.single  # still hung while the others ran
        calls.hold.set()
        await asyncio.wait_for(ran(6), timeout=60)
    finally:
        calls.hold.set()
        stop.set()
        await task
    assert set(await HandlerRun.all().values_list("status", flat=True)) == {"done"}
    assert await HandlerAttempt.all().count() == 6


async def test_lanes_yield_to_the_ones_that_go_first(lanes) -> None:  # type: ignore[no-untyped-def]
    _, worker, _ = lanes
    fast, main = worker(FAST_LANE.name), worker()
    alerts = worker("alerts", slots=16, per_slot=True)  # as the app sizes a per-slot lane
    alerts.yield_to([fast])
    main.yield_to([fast, alerts])
    assert (fast.room(), alerts.room(), main.room()) == (4, 16, BATCH * PIPELINE)
    fast.in_flight = 1  # the welcome's lane at work: the others keep a small share
    # (none on SQLite: one writer, and their writes would hold up the welcome's claims)
    share = YIELDING_SLOTS if alerts._db.is_postgres else 0
    assert (fast.room(), alerts.room(), main.room()) == (4, share, BATCH)
    fast.in_flight, alerts.in_flight = 0, 3
    assert (alerts.room(), main.room()) == (16, BATCH)
    alerts.in_flight = 0
    assert main.room() == BATCH * PIPELINE


async def test_a_lane_with_no_room_waits_and_then_runs(lanes, calls: Calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _ = lanes
    fast = worker(FAST_LANE.name)
    alerts = worker("alerts", slots=16, per_slot=True)
    alerts.yield_to([fast])
    fast.in_flight = 1  # a welcome in flight, as the fast lane would have it
    await inbox.store(event("a1", "test.alert"))
    stop = asyncio.Event()
    task = asyncio.create_task(alerts.run(stop))
    try:
        await asyncio.sleep(0.3)  # several looks at its room (poll 0.05 s), not a timing
        assert not task.done()  # no room and nothing in flight is a wait, not a crash
        if not alerts._db.is_postgres:
            assert calls.single == []  # SQLite: the alert waits for the welcome
        fast.in_flight = 0

        async def ran() -> None:
            while ("alert", "a1") not in calls.single:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.01)

        await asyncio.wait_for(ran(), timeout=60)  # a guard, not a timing
    finally:
        stop.set()
        await task
