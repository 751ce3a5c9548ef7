"""Rules in the database, compiled once per process and kept current across processes.

A rule change bumps a version counter in the shared KV; every process compares it with the
version it compiled before each message (one KV read) and recompiles off to the side when it
moved, so a change made through any process reaches all of them at their next message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from adapters.kv import KVStore
from scrm.autotag.models import TagRule
from tagging import KeywordRule, RuleBook, RuleEngine, parse_rule, rule_to_dict

_UNLOADED = b"\x00unloaded"


class RuleCatalog:
    """This process's view of the rules: a `RuleBook` plus the version it was built from."""

    def __init__(self, kv: KVStore) -> None:
        self._kv = kv
        self._key = kv.keys("autotag", "rules-version")
        self._book = RuleBook()
        self._compiled_from: bytes | None = _UNLOADED
        self._reload = asyncio.Lock()

    async def current(self) -> RuleEngine:
        """The compiled rules, recompiled first if any process changed them."""
        version = await self._kv.get(self._key)
        if version != self._compiled_from:
            async with self._reload:
                version = await self._kv.get(self._key)
                if version != self._compiled_from:
                    self._book.replace(await load_rules())
                    self._compiled_from = version
        return self._book.engine

    async def changed(self) -> None:
        """Tell every process (this one included) to recompile."""
        await self._kv.incr(self._key)


def definition_of(rule: KeywordRule) -> str:
    data = rule_to_dict(rule)
    data.pop("id", None)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def rule_from_row(row: TagRule) -> KeywordRule:
    return parse_rule(json.loads(row.definition), row.id)


async def load_rules() -> list[KeywordRule]:
    return [rule_from_row(row) for row in await TagRule.all().order_by("id")]


def rule_json(row: TagRule) -> dict[str, Any]:
    return {"id": row.id, **json.loads(row.definition)}
