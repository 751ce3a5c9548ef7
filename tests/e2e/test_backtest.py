"""Backtests run a rule over the encrypted archive: counts, samples, audit, no actions."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from archive.audit import read_audit
from scrm.appkeys import SERVICES
from scrm.autotag.models import RuleHit
from tests.e2e.conftest import Stack

DAY = 86_400_000
NOW = int(time.time() * 1000)
ROOT = Path(__file__).resolve().parents[2]


def chat(msgid: str, sender: str, text: str, ms: int, to: str = "zhangsan") -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": [to],
        "roomid": "",
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": text},
    }


HISTORY = [
    chat("h1", "wmA", "我好像过敏了", NOW - 3 * DAY),
    chat("h2", "wmA", "又过敏了", NOW - 2 * DAY),
    chat("h3", "wmB", "我不过敏", NOW - 2 * DAY),
    chat("h4", "wmC", "起疹子了", NOW - DAY),
    chat("h5", "zhangsan", "过敏的话请就医", NOW - DAY, to="wmC"),  # staff: out of scope
    chat("h6", "wmD", "过敏", NOW - 40 * DAY),  # outside the period
]
RULE = {
    "name": "过敏",
    "keywords_any": ["过敏", "起疹子"],
    "exclude": ["不过敏"],
    "threshold": {"count": 2, "window_days": 7},
    "actions": [{"type": "add_tag", "tag": "过敏风险"}],
}


async def archive_history(stack: Stack) -> None:
    status, body = await stack.api("POST", "/api/v1/messages", json=HISTORY)
    assert (status, body["accepted"]) == (200, len(HISTORY))
    await stack.drain()


async def test_backtest_of_a_saved_rule_over_the_archive(stack: Stack) -> None:
    await archive_history(stack)  # archived before the rule exists: nothing tagged
    _, rule = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    period = {"from": NOW - 10 * DAY, "to": NOW}
    status, report = await stack.api(
        "POST", f"/api/v1/tag-rules/{rule['id']}/backtest", json=period
    )
    assert status == 200
    assert report["messages_scanned"] == 5  # text messages in the period
    assert report["messages_matched"] == 3  # h1, h2, h4
    assert (report["customers_matched"], report["customers_fired"], report["fires"]) == (2, 1, 1)
    assert {s["msgid"] for s in report["samples"]} == {"h1", "h2", "h4"}
    assert report["truncated"] is False
    assert await RuleHit.all().count() == 0 and stack.sandbox_calls("mark_tag") == []
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    [entry] = [e.fields for e in await read_audit(runtime) if e.fields["action"] == "backtest"]
    assert (entry["result_count"], entry["outcome"]) == (3, "done")


async def test_backtest_of_a_draft_and_bad_input(stack: Stack) -> None:
    await archive_history(stack)
    draft = {**RULE, "threshold": None}
    status, report = await stack.api(
        "POST",
        "/api/v1/tag-rules/backtest",
        json={"rule": draft, "from": NOW - 50 * DAY, "to": NOW},
    )
    assert status == 200
    assert (report["messages_matched"], report["customers_fired"]) == (4, 3)
    for body, field in (
        ({"rule": draft, "from": NOW, "to": NOW - 1}, "from"),
        ({"rule": draft, "from": "yesterday", "to": NOW}, "from"),
        ({"rule": draft, "from": 0, "to": 400 * DAY}, "to"),
        ({"rule": {**draft, "keywords_any": []}, "from": 0, "to": DAY}, "rule.keywords_any"),
    ):
        status, answer = await stack.api("POST", "/api/v1/tag-rules/backtest", json=body)
        assert (status, answer["error"]["field"]) == (422, field)
    status, _ = await stack.api("POST", "/api/v1/tag-rules/999/backtest", json={"from": 0, "to": 1})
    assert status == 404


async def test_cli_backtest_prints_the_report(stack: Stack) -> None:
    if stack.settings.is_postgres:
        return  # one engine is enough for the command line; the API test covers both
    await archive_history(stack)
    _, rule = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    env = {
        **os.environ,
        "SCRM_VAR_DIR": str(stack.settings.var_dir),
        "SCRM_DATABASE_URL": stack.settings.database_url,
    }
    day = time.strftime("%Y-%m-%d", time.gmtime(NOW / 1000))
    since = time.strftime("%Y-%m-%d", time.gmtime((NOW - 10 * DAY) / 1000))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        "rules",
        "backtest",
        str(rule["id"]),
        "--from",
        since,
        "--to",
        day,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert (report["messages_matched"], report["customers_fired"]) == (3, 1)
    assert "backtest 过敏" in err.decode()  # the progress bar
