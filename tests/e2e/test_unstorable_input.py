"""One malformed but validly signed item never fails its neighbours (issue 9 §4).

A lone surrogate or a NUL used to reach the database inside a group commit and fail every
event sharing it: 200 valid + 20 such callbacks at 64 senders left 164–177 of the valid ones
answered 503. Each intake now refuses the item (400 / a per-line error), and a failing
batch falls back to one write per item.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from archive.store.importer import import_jsonl
from scrm.appkeys import INBOX, SERVICES
from scrm.models import Event
from tests.e2e.conftest import Stack
from tests.e2e.test_backtest import chat
from tests.e2e.test_hostile_requests import send_json_callback

NOW = int(time.time() * 1000)


def add_contact(stack: Stack, external_userid: str, **extra: str) -> bytes:
    event = {
        "ToUserName": stack.corp_id,
        "FromUserName": "sys",
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "zhangsan",
        "ExternalUserID": external_userid,
        **extra,
    }
    return json.dumps(event).encode()  # ensure_ascii: "\ud800" travels as a JSON escape


async def test_concurrent_valid_and_unstorable_callbacks(stack: Stack) -> None:
    valid = [add_contact(stack, f"wmValid{i:03d}") for i in range(40)]
    invalid = [add_contact(stack, f"wmBad{i}", State="qr\ud800") for i in range(3)]
    invalid += [add_contact(stack, f"wmBadU{i}\udfff") for i in range(2)]
    invalid += [add_contact(stack, "wmNul1", ChangeType="add_external_contact\x00")]
    invalid += [add_contact(stack, "wmNul2", Event="change_external_contact\x00")]
    invalid += [add_contact(stack, "wmNulKey", **{"Stat\x00e": "x"})]
    bodies: list[tuple[bool, bytes]] = [(True, body) for body in valid]
    for index, body in enumerate(invalid):  # spread the bad ones among the good
        bodies.insert(index * 5 + 2, (False, body))
    gate = asyncio.Semaphore(16)

    async def send(body: bytes) -> int:
        async with gate:
            return await send_json_callback(stack, body)

    statuses = await asyncio.gather(*(send(body) for _, body in bodies))
    assert [s for (ok, _), s in zip(bodies, statuses, strict=True) if ok] == [200] * 40
    assert [s for (ok, _), s in zip(bodies, statuses, strict=True) if not ok] == [400] * 8
    stored = await Event.filter(name="change_external_contact.add_external_contact").count()
    assert stored == 40
    assert stack.metric("scrm_callback_rejected_total", {"reason": "bad_text"}) == 8
    assert stack.metric("scrm_callbacks_total", {"outcome": "unavailable"}) == 0


async def test_messages_api_refuses_the_item_and_keeps_its_sibling(stack: Stack) -> None:
    items: list[Any] = [
        chat("ok1", "wmA", "你好", NOW),
        chat("bad1", "wmA", "坏\ud800", NOW),
        chat("bad\x002", "wmA", "NUL in msgid", NOW),
        chat("ok2", "wmA", "再见", NOW),
    ]
    body = json.dumps(items)  # escapes, as a client would send them
    status, answer = await stack.api(
        "POST",
        "/api/v1/messages",
        data=body,
        headers={**stack.auth, "Content-Type": "application/json"},
    )
    assert status == 200
    assert answer["accepted"] == 2
    assert [(r["index"], r["field"]) for r in answer["rejected"]] == [
        (1, "text.content"),
        (2, "msgid"),
    ]
    keys = set(await Event.filter(name="chat.message").values_list("dedupe_key", flat=True))
    assert keys == {"chat:ok1", "chat:ok2"}


async def test_archive_import_reports_the_line_and_keeps_the_batch(
    stack: Stack, tmp_path: Path
) -> None:
    lines = [
        json.dumps(chat("i1", "wmA", "第一", NOW - 3000)),
        json.dumps(chat("i2", "wmA", "坏\ud800", NOW - 2000)),
        json.dumps(chat("i\x003", "wmA", "NUL", NOW - 1500)),
        json.dumps(chat("i4", "wmA", "第四", NOW - 1000)),
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    report = await import_jsonl(runtime, path, stack.server.app[INBOX].store_many)
    assert (report.read, report.stored, report.queued) == (4, 2, 2)
    assert [(line, reason.split(":")[0]) for line, reason in report.errors] == [
        (2, "text.content"),
        (3, "msgid"),
    ]
    keys = set(await Event.filter(name="chat.message").values_list("dedupe_key", flat=True))
    assert keys == {"chat:i1", "chat:i4"}
