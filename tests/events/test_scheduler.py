"""Periodic jobs run on one process at a time, and a failing job does not stop the next."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.kv import MemoryKV
from config import Settings
from scrm.metrics import Metrics
from scrm.scheduler import PeriodicJob, Scheduler, run_once_across_processes
from scrm.services import Services


def services(kv: MemoryKV) -> Services:
    return Services(Settings(), None, kv, Metrics(), None)  # type: ignore[arg-type]


async def test_two_processes_firing_together_run_the_job_once() -> None:
    kv = MemoryKV()
    runs: list[str] = []
    release = asyncio.Event()

    async def job(services: Services) -> None:
        runs.append("ran")
        await release.wait()

    periodic = PeriodicJob("retention", job, every_seconds=60)
    first = asyncio.create_task(run_once_across_processes(services(kv), periodic))
    await asyncio.sleep(0)
    assert await run_once_across_processes(services(kv), periodic) is False
    release.set()
    assert await first is True
    assert runs == ["ran"]
    assert await run_once_across_processes(services(kv), periodic) is True  # lease released


async def test_a_failing_job_releases_its_lease() -> None:
    kv = MemoryKV()

    async def boom(services: Services) -> None:
        raise RuntimeError("disk full")

    periodic = PeriodicJob("checkpoint", boom, every_seconds=60)
    assert await run_once_across_processes(services(kv), periodic) is False
    assert await kv.get(kv.keys("lock", "job:checkpoint")) is None


async def test_a_job_cancelled_by_the_shutdown_logs_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the service mid-job (bench/channels.py between phases, Ctrl-C on `make run`)
    logs no APScheduler traceback, and the job's lease is released."""
    kv = MemoryKV()
    started = asyncio.Event()

    async def slow(services: Services) -> None:
        started.set()
        await asyncio.Event().wait()

    scheduler = Scheduler(services(kv), [PeriodicJob("ticket-notices", slow, every_seconds=0.01)])
    before = asyncio.all_tasks()
    scheduler.start()
    await started.wait()
    scheduler.stop()
    running = asyncio.all_tasks() - before
    assert running  # the firing APScheduler started, still in the job
    for task in running:
        task.cancel()
    with caplog.at_level(logging.INFO):
        await asyncio.gather(*running, return_exceptions=True)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert await kv.get(kv.keys("lock", "job:ticket-notices")) is None
