"""`run.py archive import` is a source like any other: archived, then tagged, then no trace."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from scrm.appkeys import SERVICES
from scrm.autotag.models import RuleHit
from scrm.models import Event
from tests.archive.dump import dump_database
from tests.e2e.conftest import Stack
from tests.e2e.test_backtest import RULE, chat

ROOT = Path(__file__).resolve().parents[2]
NOW = int(time.time() * 1000)
PHRASE = "合同编号QX-7781"


async def run_import(stack: Stack, path: Path) -> str:
    env = {
        **os.environ,
        "SCRM_VAR_DIR": str(stack.settings.var_dir),
        "SCRM_DATABASE_URL": stack.settings.database_url,
    }
    if stack.settings.redis_url:
        env["SCRM_REDIS_URL"] = stack.settings.redis_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", "archive", "import", str(path),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_imported_messages_are_tagged_and_leave_no_plaintext(
    stack: Stack, tmp_path: Path
) -> None:
    status, _ = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    assert status == 201
    lines = [
        chat("i1", "wmA", f"{PHRASE}，我过敏了", NOW - 2000),
        chat("i2", "wmA", "又过敏了", NOW - 1000),
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in lines), "utf-8")

    assert "stored 2, duplicates 0, rejected 0, chat.message events queued 2" in (
        await run_import(stack, path)
    )
    assert await Event.filter(name="chat.message", source="archive_import").count() == 2
    waiting = await stack.server.app[SERVICES].db.fetch("SELECT payload FROM events")
    assert not any(PHRASE in row["payload"] for row in waiting)  # sealed from the commit on
    await stack.drain()

    hits = await RuleHit.all().order_by("msgid")
    assert [(hit.msgid, hit.fired) for hit in hits] == [("i1", False), ("i2", True)]
    dumped = await dump_database(stack.server.app[SERVICES].db, stack.settings.database_url)
    assert PHRASE.encode() not in dumped  # archived encrypted; the inbox copy was stripped
