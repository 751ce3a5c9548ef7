"""The event workers: how many run at once, how often they poll, how long a claim holds."""

from __future__ import annotations

from dataclasses import dataclass

from config.converters import float_in, int_in
from config.source import Source

WORKER_KEYS = (
    "worker_concurrency worker_max_attempts worker_poll_interval worker_lease_seconds"
).split()


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 4
    max_attempts: int = 8
    poll_interval: float = 1.0
    lease_seconds: float = 60.0
    backoff_base: float = 1.0
    backoff_cap: float = 600.0


def load_worker(src: Source) -> WorkerSettings:
    return WorkerSettings(
        concurrency=src.get("worker_concurrency", int_in(0, 256), 4),
        max_attempts=src.get("worker_max_attempts", int_in(1, 100), 8),
        poll_interval=src.get("worker_poll_interval", float_in(0.01, 60), 1.0),
        lease_seconds=src.get("worker_lease_seconds", float_in(1, 3600), 60.0),
    )
