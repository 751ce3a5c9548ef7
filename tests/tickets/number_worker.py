"""A process opening N tickets at once: `python -m tests.tickets.number_worker URL N`."""

from __future__ import annotations

import asyncio
import sys
import time

from scrm.db import close_database, open_database
from scrm.tickets.service import NewTicket, create_ticket


async def main(url: str, count: int) -> None:
    db = await open_database(url, apply_migrations=False)
    try:
        new = NewTicket(title="t", category="c", priority="P3", source="api")
        tickets = await asyncio.gather(
            *(create_ticket(db, new, time.time(), "http://x") for _ in range(count))
        )
        print("\n".join(ticket.number for ticket in tickets))
    finally:
        await close_database()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
