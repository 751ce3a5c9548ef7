"""Migration 9 strips positions from stored rule hits and alert/ticket payloads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from scrm.autotag.models import RuleHit
from scrm.db import MIGRATIONS_DIR, Database
from scrm.models import Event

OLD_KEYWORDS = [
    {"keyword": "敏", "start": 3, "end": 4},
    {"keyword": "a", "start": 0, "end": 1},
    {"keyword": "过", "start": 2, "end": 3},
    {"keyword": "a", "start": 5, "end": 6},
]


def _migration() -> Any:
    (path,) = (Path(MIGRATIONS_DIR) / "models").glob("9_*_rule_hit_keyword_sets.py")
    spec = importlib.util.spec_from_file_location("keyword_set_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_upgrade_keeps_sorted_unique_keywords_only(database: Database) -> None:
    old = json.dumps(OLD_KEYWORDS, ensure_ascii=False)
    await RuleHit.create(
        rule_id=1, rule_name="r", msgid="m1", external_userid="wmA", sender_kind="customer",
        msgtime=1, keywords=old, fired=True, actions="[]", created_at=0.0,
    )  # fmt: skip
    await RuleHit.create(
        rule_id=1, rule_name="r", msgid="m2", external_userid="wmA", sender_kind="customer",
        msgtime=2, keywords='["x"]', fired=True, actions="[]", created_at=0.0,
    )  # fmt: skip
    payload = {"rule_id": 1, "keywords": OLD_KEYWORDS, "channel": "c"}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for name in ("alert.raised", "ticket.requested", "chat.message"):
        await Event.create(
            dedupe_key=name, name=name, source="autotag", payload=text, received_at=0.0
        )
    dialect = "postgres" if database.is_postgres else "sqlite"
    await database.connection().execute_script(_migration().UPGRADE[dialect])

    hits = {hit.msgid: json.loads(hit.keywords) for hit in await RuleHit.all()}
    assert hits == {"m1": ["a", "敏", "过"], "m2": ["x"]}
    for name in ("alert.raised", "ticket.requested"):
        event = await Event.get(name=name)
        assert json.loads(event.payload) == {**payload, "keywords": ["a", "敏", "过"]}
        assert "start" not in event.payload
    untouched = await Event.get(name="chat.message")
    assert untouched.payload == text
