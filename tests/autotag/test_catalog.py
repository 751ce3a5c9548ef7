"""Rule changes reach every process: two catalogs (two processes) share one KV."""

from __future__ import annotations

import json

import pytest

from adapters.kv import KeyBuilder, MemoryKV, RedisKV
from adapters.kv.base import KVStore
from scrm.autotag.catalog import RuleCatalog
from scrm.autotag.models import TagRule
from scrm.db import Database


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, key_prefix: str):  # type: ignore[no-untyped-def]
    store: KVStore
    if request.param == "memory":
        store = MemoryKV(KeyBuilder(key_prefix))
    else:
        store = RedisKV.from_url(request.getfixturevalue("redis_url"), keys=KeyBuilder(key_prefix))
    yield store
    await store.close()


async def add_rule(name: str, keyword: str) -> None:
    definition = {
        "name": name,
        "keywords_any": [keyword],
        "actions": [{"type": "alert", "channel": "c"}],
    }
    await TagRule.create(
        name=name, definition=json.dumps(definition), enabled=True, created_at=0, updated_at=0
    )


async def test_a_change_in_one_process_reaches_the_other(database: Database, kv: KVStore) -> None:
    here, there = RuleCatalog(kv), RuleCatalog(kv)
    await add_rule("a", "退款")
    assert [m.rule.name for m in (await there.current()).evaluate("我要退款", "customer")] == ["a"]
    old = await there.current()
    await add_rule("b", "投诉")
    assert await there.current() is old  # nobody announced a change: no recompile, no DB read
    await here.changed()
    engine = await there.current()
    assert engine is not old
    assert [m.rule.name for m in engine.evaluate("投诉退款", "customer")] == ["a", "b"]
    assert [m.rule.name for m in old.evaluate("投诉退款", "customer")] == [
        "a"
    ]  # snapshots stay whole
