"""Rules in the database, compiled once per process and kept current across processes.

A rule change bumps a version row in the database (`RuleVersion`). Every process reads that
row at most once per `CHECK_EVERY` seconds — on the first message after the interval — and
recompiles off to the side when it moved, so a change made through any process or the CLI
reaches all of them within about a second; a change made through this process is seen at
its next message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from tortoise import connections

from scrm.autotag.models import RuleVersion, TagRule
from tagging import KeywordRule, RuleBook, RuleEngine, parse_rule, rule_to_dict

CHECK_EVERY = 1.0  # seconds between two reads of the version row, per process
RULE_VERSION_ID = 1
# Insert-or-increment in one statement (SQLite ≥ 3.24 and PostgreSQL): two processes changing
# rules at once both count.
_BUMP = (
    f"INSERT INTO tag_rule_version (id, version) VALUES ({RULE_VERSION_ID}, 1) "
    "ON CONFLICT (id) DO UPDATE SET version = tag_rule_version.version + 1"
)


class RuleCatalog:
    """This process's view of the rules: a `RuleBook` plus the version it was built from."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, check_every: float = CHECK_EVERY
    ) -> None:
        self._clock = clock
        self._check_every = check_every
        self._book = RuleBook()
        self._compiled_from: int | None = None  # None: nothing compiled yet
        self._checked_at: float | None = None
        self._reload = asyncio.Lock()

    async def current(self) -> RuleEngine:
        """The compiled rules, recompiled first if any process changed them."""
        if self._fresh():
            return self._book.engine
        async with self._reload:
            if not self._fresh():  # another message may have checked while this one waited
                checked_at = self._clock()
                version = await rule_version()
                if version != self._compiled_from:
                    self._book.replace(await load_rules())
                    self._compiled_from = version
                self._checked_at = checked_at
        return self._book.engine

    async def changed(self) -> None:
        """Tell every process to recompile; this one checks again at its next message."""
        await connections.get("default").execute_query(_BUMP)
        self._checked_at = None

    def _fresh(self) -> bool:
        if self._checked_at is None:
            return False
        elapsed = self._clock() - self._checked_at
        return 0 <= elapsed < self._check_every  # a clock set back counts as due


async def rule_version() -> int:
    row = await RuleVersion.get_or_none(id=RULE_VERSION_ID)
    return row.version if row is not None else 0


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
