"""Rule changes reach every process through the database, with or without Redis.

Two catalogs on one database stand for two separately started processes; each reads the
rule version at most once per `check_every` on its own (injected) clock.
"""

from __future__ import annotations

import asyncio
import json

from scrm.autotag.catalog import CHECK_EVERY, RuleCatalog, rule_version
from scrm.autotag.models import TagRule
from scrm.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def add_rule(name: str, keyword: str) -> None:
    definition = {
        "name": name,
        "keywords_any": [keyword],
        "actions": [{"type": "alert", "channel": "c"}],
    }
    await TagRule.create(
        name=name, definition=json.dumps(definition), enabled=True, created_at=0, updated_at=0
    )


def names(engine: object, text: str) -> list[str]:
    return [m.rule.name for m in engine.evaluate(text, "customer")]  # type: ignore[attr-defined]


async def test_a_change_in_one_process_reaches_the_other_within_a_second(
    database: Database,
) -> None:
    here_clock, there_clock = Clock(), Clock()
    here, there = RuleCatalog(clock=here_clock), RuleCatalog(clock=there_clock)
    await add_rule("a", "退款")
    old = await there.current()
    assert names(old, "我要退款") == ["a"]
    await add_rule("b", "投诉")
    await here.changed()
    assert names(await here.current(), "投诉退款") == ["a", "b"]  # its own change: at once
    assert await there.current() is old  # checked less than a second ago: no DB read
    there_clock.now += CHECK_EVERY
    engine = await there.current()
    assert engine is not old
    assert names(engine, "投诉退款") == ["a", "b"]
    assert names(old, "投诉退款") == ["a"]  # snapshots stay whole


async def test_no_change_means_no_recompile(database: Database) -> None:
    clock = Clock()
    catalog = RuleCatalog(clock=clock)
    await add_rule("a", "退款")
    first = await catalog.current()
    await add_rule("b", "投诉")  # stored without announcing a change
    clock.now += 10 * CHECK_EVERY
    assert await catalog.current() is first


async def test_a_clock_set_back_still_checks(database: Database) -> None:
    clock, other = Clock(), RuleCatalog()
    catalog = RuleCatalog(clock=clock)
    await catalog.current()
    await add_rule("a", "退款")
    await other.changed()
    clock.now -= 3600
    assert names(await catalog.current(), "退款") == ["a"]


async def test_concurrent_changes_all_count(database: Database) -> None:
    catalogs = [RuleCatalog() for _ in range(5)]
    await asyncio.gather(*(c.changed() for c in catalogs))
    assert await rule_version() == 5
