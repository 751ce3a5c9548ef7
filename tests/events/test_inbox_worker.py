"""The spine on real engines: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from adapters.kv import MemoryKV
from archive.keys.inbox_seal import InboxSeal
from archive.runtime import ArchiveRuntime
from config import Settings, WorkerSettings
from scrm.db import Database
from scrm.events.errors import PermanentError, Retry
from scrm.events.inbox import Inbox, IncomingEvent
from scrm.events.router import Dispatcher, EventRecord, Router
from scrm.events.worker import Worker
from scrm.metrics import Metrics
from scrm.models import Event, HandlerAttempt, HandlerRun
from scrm.services import Services
from tests.archive.keys import make_ring


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(key: str, name: str = "test.happened", **payload: object) -> IncomingEvent:
    return IncomingEvent(key, name, "test", {"k": key, **payload}, 1_700_000_000)


@pytest.fixture
def calls() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def router(calls: list[tuple[str, int]]) -> Router:
    router = Router("t")

    @router.on("test.happened")
    async def first(ev: EventRecord, services: Services) -> None:
        calls.append(("first", ev.id))

    @router.on("test.happened")
    async def second(ev: EventRecord, services: Services) -> None:
        calls.append(("second", ev.id))

    @router.on("test.flaky")
    async def flaky(ev: EventRecord, services: Services) -> None:
        calls.append(("flaky", ev.attempt))
        raise Retry("not yet")

    @router.on("chat.message")
    async def reader(ev: EventRecord, services: Services) -> None:
        calls.append(("reader", ev.payload["text"]["content"]))  # type: ignore[arg-type]

    @router.on("test.broken")
    async def broken(ev: EventRecord, services: Services) -> None:
        raise PermanentError("bad data")

    @router.on("test.terminal")
    async def terminal(ev: EventRecord, services: Services) -> None:
        error = RuntimeError("errcode 40003")
        error.retryable = False  # type: ignore[attr-defined]
        raise error

    return router


@pytest.fixture
async def spine(database: Database, router: Router):  # type: ignore[no-untyped-def]
    clock = Clock()
    kv = MemoryKV()
    metrics = Metrics()
    dispatcher = Dispatcher([router])
    seal = InboxSeal(ArchiveRuntime(database, make_ring(), corp_id="wwcorp", clock=clock))
    services = Services(Settings(), database, kv, metrics, wecom=None, clock=clock, seal=seal)  # type: ignore[arg-type]
    inbox = Inbox(database, dispatcher, kv, clock=clock, on_batch=metrics.record_batch, seal=seal)
    await inbox.start()
    settings = WorkerSettings(concurrency=4, max_attempts=3, lease_seconds=30)

    def worker(name: str = "w") -> Worker:
        return Worker(database, dispatcher, services, settings, clock=clock, name=name)

    yield inbox, worker, clock, metrics
    await inbox.close()


async def test_store_is_insert_or_ignore_and_fans_out(spine, calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _, _ = spine
    assert await inbox.store(event("a")) is True
    assert await inbox.store(event("a")) is False
    assert await Event.all().count() == 1
    runs = await HandlerRun.all().order_by("handler").values_list("handler", "status")
    assert runs == [("t.first", "pending"), ("t.second", "pending")]
    assert await worker().drain() == 2
    assert sorted(c[0] for c in calls) == ["first", "second"]
    assert set(await HandlerRun.all().values_list("status", flat=True)) == {"done"}
    assert await HandlerAttempt.filter(outcome="done").count() == 2


async def test_identical_concurrent_deliveries_make_one_event(spine) -> None:  # type: ignore[no-untyped-def]
    inbox, _, _, _ = spine
    results = await asyncio.gather(*(inbox.store(event("same")) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert await Event.all().count() == 1
    assert await HandlerRun.all().count() == 2


async def test_group_commit_batches_concurrent_stores(spine) -> None:  # type: ignore[no-untyped-def]
    inbox, _, _, metrics = spine
    results = await asyncio.gather(*(inbox.store(event(f"e{i}")) for i in range(200)))
    assert all(results)
    assert await Event.all().count() == 200
    sample = metrics.registry.get_sample_value
    assert sample("scrm_inbox_batch_size_sum") == 200
    assert sample("scrm_inbox_batch_size_count") < 200  # several events shared a commit


async def test_unknown_event_is_stored_without_runs(spine) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _, _ = spine
    assert await inbox.store(event("u", name="never.heard.of")) is True
    assert await Event.filter(name="never.heard.of").count() == 1
    assert await HandlerRun.all().count() == 0
    assert await worker().drain() == 0


async def test_retry_backs_off_then_parks_dead(spine, calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, clock, _ = spine
    await inbox.store(event("f", name="test.flaky"))
    w = worker()
    assert await w.drain() == 1
    run = await HandlerRun.get(handler="t.flaky")
    assert (run.status, run.attempts) == ("pending", 1)
    assert run.next_attempt_at > clock.now
    assert await w.drain() == 0  # not due yet
    clock.now = run.next_attempt_at + 0.001
    assert await w.drain() == 1
    clock.now += 10_000
    assert await w.drain() == 1
    run = await HandlerRun.get(handler="t.flaky")
    assert (run.status, run.attempts) == ("dead", 3)
    assert run.last_error == "Retry: not yet"
    assert [c[1] for c in calls] == [1, 2, 3]
    outcomes = (
        await HandlerAttempt.filter(run_id=run.id)
        .order_by("number")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["retry", "retry", "dead"]


@pytest.mark.parametrize("name", ["test.broken", "test.terminal"])
async def test_permanent_failures_are_dead_at_once(spine, name: str) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _, metrics = spine
    await inbox.store(event("p", name=name))
    await worker().drain()
    run = await HandlerRun.get()
    assert (run.status, run.attempts) == ("dead", 1)
    handler = name.replace("test.", "t.")
    labels = {"handler": handler, "outcome": "dead"}
    assert metrics.registry.get_sample_value("scrm_handler_runs_total", labels) == 1


async def test_killed_worker_run_is_redelivered_after_lease(spine, calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, clock, _ = spine
    await inbox.store(event("k"))
    dead_worker, survivor = worker("dead"), worker("survivor")
    claimed = await dead_worker.claim(10)  # claims, then "dies" before executing
    assert len(claimed) == 2
    assert await survivor.drain() == 0  # leases still held
    clock.now += 31
    assert await survivor.drain() == 2
    assert sorted(c[0] for c in calls) == ["first", "second"]
    runs = await HandlerRun.all().values_list("status", "attempts")
    assert sorted(runs) == [("done", 2), ("done", 2)]
    # the dead worker waking up late cannot overwrite the survivor's result
    assert await dead_worker.execute(claimed[0]) == "done"
    assert await HandlerAttempt.all().count() == 2


async def test_two_workers_never_run_the_same_run(spine, calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _, _ = spine
    await asyncio.gather(*(inbox.store(event(f"c{i}")) for i in range(60)))
    done = await asyncio.gather(worker("a").drain(), worker("b").drain())
    assert sum(done) == 120
    assert Counter(calls).most_common(1)[0][1] == 1
    assert len(calls) == 120


async def test_unhandled_message_content_is_never_stored(spine) -> None:  # type: ignore[no-untyped-def]
    inbox, _, _, _ = spine
    text = {"MsgType": "text", "Content": "我对花生过敏", "MsgId": "1", "FromUserName": "lisi"}
    await inbox.store(event("m1", name="message.text", **text))
    stored = await Event.get(dedupe_key="m1")
    assert "Content" not in stored.payload  # no handler wants message.text: never stored


async def test_content_sealed_until_processed_then_stripped(spine, calls) -> None:  # type: ignore[no-untyped-def]
    inbox, worker, _, _ = spine
    await inbox.store(event("m2", name="chat.message", text={"content": "secret words"}))
    sealed = (await Event.get(dedupe_key="m2")).payload
    assert "secret words" not in sealed and "_sealed" in sealed  # encrypted from the commit on
    assert await worker().drain() == 1
    assert calls == [("reader", "secret words")]
    payload = (await Event.get(dedupe_key="m2")).payload
    assert "secret words" not in payload and "_content_stripped" in payload


class SlowBell(MemoryKV):
    """A KV whose ring takes a while, like a Redis round trip; counts the rings."""

    def __init__(self) -> None:
        super().__init__()
        self.rings = 0
        self.release = asyncio.Event()

    async def ring(self, channel: str) -> None:
        self.rings += 1
        await self.release.wait()
        await super().ring(channel)


async def test_rings_never_hold_up_commits_and_coalesce(database: Database, router: Router) -> None:
    kv = SlowBell()
    inbox = Inbox(database, Dispatcher([router]), kv)
    await inbox.start()
    try:
        for key in ("r1", "r2", "r3", "r4"):  # each commits while the first ring still hangs
            assert await asyncio.wait_for(inbox.store(event(key)), timeout=5) is True
        assert kv.rings == 1
        kv.release.set()
    finally:
        await inbox.close()  # waits for the ring in flight, and the one it owes
    assert kv.rings == 2
