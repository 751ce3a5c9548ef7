"""`run.py rules import` in another process reaches a running service — without Redis too.

The rule version lives in the database: the service reads it at most once a second and
recompiles when it moved. The service's catalog runs on a test clock, so "a second later"
is a step of that clock, not a sleep.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from scrm.appkeys import SERVICES
from scrm.autotag.catalog import CHECK_EVERY, RuleCatalog
from tests.e2e.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
RULES = {
    "rules": [
        {
            "name": "投诉",
            "keywords_any": ["投诉", "差评"],
            "actions": [{"type": "alert", "channel": "qa"}],
        }
    ]
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def matches(stack: Stack, text: str) -> list[str]:
    status, body = await stack.api("POST", "/api/v1/tagging/evaluate", json={"text": text})
    assert status == 200, body
    return [match["rule"] for match in body["matches"]]


async def rules_import(stack: Stack, path: Path) -> str:
    """The real CLI in its own process, on the service's database; no Redis configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env |= {
        "SCRM_DATABASE_URL": stack.settings.database_url,
        "SCRM_VAR_DIR": str(stack.settings.var_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        "rules",
        "import",
        str(path),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_cli_import_reaches_the_running_service(stack: Stack, tmp_path: Path) -> None:
    clock = Clock()
    autotag = stack.server.app[SERVICES].autotag
    assert autotag is not None
    autotag.rules = RuleCatalog(clock=clock)
    assert await matches(stack, "我要投诉") == []  # compiled: no rules yet
    source = tmp_path / "rules.yaml"
    source.write_text(yaml.safe_dump(RULES, allow_unicode=True), encoding="utf-8")
    assert "1 created" in await rules_import(stack, source)
    clock.now += CHECK_EVERY
    assert await matches(stack, "我要投诉") == ["投诉"]
