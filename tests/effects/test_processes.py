"""Claims are atomic across processes: four processes race for the same effects, on both engines."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest

from scrm.db import Database
from scrm.effects.models import Effect
from tests.effects.claimer import KEYS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def test_four_processes_racing_call_each_effect_once(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.effects.claimer", database_url, str(tmp_path), name),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for name in ("p0", "p1", "p2", "p3")
    ]
    for process in processes:  # every one has its database open
        assert process.stdout is not None and process.stdin is not None
        assert await asyncio.wait_for(process.stdout.readline(), timeout=60) == b"ready\n"
    for process in processes:  # go
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), timeout=60)
    assert codes == [0, 0, 0, 0]

    calls = Counter(line.split()[0] for line in (tmp_path / "calls").read_text().splitlines())
    assert calls == {f"race:{n}": 1 for n in range(KEYS)}
    rows = await Effect.all().values_list("status", "attempts")
    assert Counter(rows) == {("done", 1): KEYS}
