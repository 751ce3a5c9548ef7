"""One claiming process for test_processes.py: ``python -m tests.effects.claimer URL DIR NAME``.

Opens the database, prints ``ready``, waits for a line on stdin (the go signal), then runs
the same effects as its siblings; every call it actually makes is appended to DIR/calls
(O_APPEND: one line each).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from scrm.db import close_database, open_database
from scrm.effects import EffectBusy, EffectLedger

KEYS = 40


async def main(url: str, folder: Path, name: str) -> None:
    db = await open_database(url, apply_migrations=False)
    ledger = EffectLedger(db, lease=60.0, busy_wait=30.0)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    calls = os.open(folder / "calls", os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def effect(key: str) -> None:
        async def call() -> None:
            os.write(calls, f"{key} {name}\n".encode())

        with contextlib.suppress(EffectBusy):  # still in flight elsewhere: not ours to call
            await ledger.run(key, "mark_tag", call)

    try:
        await asyncio.gather(*(effect(f"race:{n}") for n in range(KEYS)))
    finally:
        os.close(calls)
        await close_database()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
