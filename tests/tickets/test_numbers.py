"""Ticket numbers: unique and gap-free per day, across processes, even when an insert fails."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError

from scrm.db import Database
from scrm.tickets.models import Ticket
from scrm.tickets.service import NewTicket, create_ticket, ticket_day

ROOT = Path(__file__).resolve().parents[2]


def new(**kw: object) -> NewTicket:
    return NewTicket(title="t", category="c", priority="P3", source="api", **kw)  # type: ignore[arg-type]


async def test_a_failed_insert_gives_its_number_back(database: Database) -> None:
    now = time.time()
    first = await create_ticket(database, new(source_key="event:1"), now, "")
    with pytest.raises(IntegrityError):
        await create_ticket(database, new(source_key="event:1"), now, "")
    second = await create_ticket(database, new(), now, "")
    day = ticket_day(now)
    assert (first.number, second.number) == (f"T-{day}-0001", f"T-{day}-0002")


async def test_each_day_starts_at_one(database: Database) -> None:
    today = 1_796_000_000.0
    tomorrow = today + 86400
    numbers = [(await create_ticket(database, new(), at, "")).number for at in (today, tomorrow)]
    assert numbers == [f"T-{ticket_day(today)}-0001", f"T-{ticket_day(tomorrow)}-0001"]


async def test_concurrent_processes_on_postgres(postgres_url: str) -> None:
    """Three processes opening 20 tickets each at once: 0001..0060, none twice, none missing."""
    from scrm.db import close_database, open_database

    await open_database(postgres_url)  # migrated once, before the processes start
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.tickets.number_worker", postgres_url, "20",
                cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]  # fmt: skip
        outputs = [await process.communicate() for process in processes]
        assert all(process.returncode == 0 for process in processes)
        numbers = [line for out, _ in outputs for line in out.decode().split()]
        stored = sorted(await Ticket.all().values_list("number", flat=True))
    finally:
        await close_database()
    assert len(numbers) == 60 and sorted(numbers) == stored
    day = stored[0][2:10]
    assert stored == [f"T-{day}-{n:04d}" for n in range(1, 61)]
