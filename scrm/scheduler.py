"""Periodic jobs on exactly one process: an APScheduler facade with a leader lease.

Every process runs the scheduler, but each firing first takes a KV lock named after the job
(Redis in production), so with many processes on many hosts a job runs once per period. Jobs
are plain async functions of `Services`, unit-tested by calling them; the database, not the
scheduler, holds what is due, so a missed or doubled firing is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters.kv import LockNotAcquired
from scrm.services import Services

log = logging.getLogger(__name__)

Job = Callable[[Services], Awaitable[object]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    run: Job
    every_seconds: float
    lease_seconds: float = 300.0


async def run_once_across_processes(services: Services, job: PeriodicJob) -> bool:
    """Run ``job`` unless another process holds its lease; True when this process ran it."""
    try:
        async with services.kv.lock(f"job:{job.name}", ttl=job.lease_seconds):
            await job.run(services)
    except LockNotAcquired:
        log.debug("job %s is running elsewhere", job.name)
        return False
    except Exception:
        log.exception("job %s failed; it runs again next period", job.name)
        return False
    return True


async def fire(services: Services, job: PeriodicJob) -> None:
    """APScheduler's entry point: a firing the shutdown cancels is not an error to log.

    Stopping the service cancels a job still running (its lease is released on the way out;
    the database says what is still due, so the next start picks it up). Without this,
    APScheduler logs the cancellation as a job failure with a traceback.
    """
    try:
        await run_once_across_processes(services, job)
    except asyncio.CancelledError:
        log.info("job %s was stopped by the shutdown; it runs again after the next start", job.name)


class Scheduler:
    """Owns the `AsyncIOScheduler`; `start` after the services exist, `stop` before they close."""

    def __init__(self, services: Services, jobs: list[PeriodicJob]) -> None:
        self._services = services
        self._jobs = jobs
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        for job in self._jobs:
            self._scheduler.add_job(
                fire,
                "interval",
                seconds=job.every_seconds,
                args=(self._services, job),
                id=job.name,
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
