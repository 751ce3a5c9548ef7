"""Chat text through the API: sealed at rest from the commit, seen by handlers, and a dead
run's content shredded after the TTL with the run closed `expired` (no sleeping)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from scrm.appkeys import SERVICES
from scrm.autotag.models import RuleHit
from scrm.events.expiry import DAY
from scrm.jobs import inbox_content_expiry
from scrm.models import Event
from tests.archive.dump import dump_database
from tests.e2e.conftest import Stack
from tests.e2e.test_backtest import chat

MARKER = "住址SEALED-0921"
RULE = {"name": "退货", "keywords_any": ["退货"], "actions": [{"type": "add_tag", "tag": "售后"}]}
AUTOTAG = "autotag.tag_from_keywords"


async def at_rest(stack: Stack) -> bytes:
    """What an admin with file or database access reads: SQLite's files as they lie (no
    checkpoint first, so the WAL counts), or every text value in PostgreSQL."""
    services = stack.server.app[SERVICES]
    if services.db.is_postgres:
        return await dump_database(services.db, stack.settings.database_url)
    path = Path(stack.settings.database_url.removeprefix("sqlite://"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def send(stack: Stack, msgid: str) -> None:
    message = chat(msgid, "wmSEAL", f"{MARKER}，我要退货", int(time.time() * 1000))
    status, body = await stack.api("POST", "/api/v1/messages", json=[message])
    assert (status, body["accepted"]) == (200, 1)


async def park_autotag_run(stack: Stack, msgid: str) -> None:
    """Park the tagging run of one message dead, as a terminal WeCom error would."""
    db = stack.server.app[SERVICES].db
    marks = db.placeholders(2)
    await db.fetch(
        "UPDATE handler_runs SET status = 'dead', last_error = 'WeComAPIError: errcode 60011' "
        f"WHERE handler = {marks[0]} AND event_id = "
        f"(SELECT id FROM events WHERE dedupe_key = {marks[1]})",
        [AUTOTAG, f"chat:{msgid}"],
    )


async def test_api_message_rests_sealed_and_handlers_still_see_it(stack: Stack) -> None:
    assert (await stack.api("POST", "/api/v1/tag-rules", json=RULE))[0] == 201
    await send(stack, "s1")
    rows = await stack.server.app[SERVICES].db.fetch("SELECT payload FROM events")
    assert rows and not any(MARKER in row["payload"] for row in rows)
    assert MARKER.encode() not in await at_rest(stack)

    await stack.drain()
    assert await RuleHit.filter(msgid="s1").count() == 1  # tagging matched the opened text
    assert "_content_stripped" in (await Event.get(dedupe_key="chat:s1")).payload
    assert MARKER.encode() not in await at_rest(stack)


async def test_dead_run_replays_within_the_ttl_then_expires_and_is_listed(stack: Stack) -> None:
    assert (await stack.api("POST", "/api/v1/tag-rules", json=RULE))[0] == 201
    await send(stack, "r1")
    await park_autotag_run(stack, "r1")
    await stack.drain()
    replayed = await Event.get(dedupe_key="chat:r1")
    status, body = await stack.api("POST", f"/api/v1/events/{replayed.id}/replay")
    assert (status, body["replayed"]) == (200, [AUTOTAG])
    await stack.drain()
    assert await RuleHit.filter(msgid="r1").count() == 1  # replayed from the sealed content

    await send(stack, "x1")
    await park_autotag_run(stack, "x1")
    await stack.drain()
    services = stack.server.app[SERVICES]
    await inbox_content_expiry(services)  # within the TTL: nothing happens
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    assert (stats["runs"]["dead"], stats["runs"]["expired"]) == (1, 0)

    later = dataclasses.replace(services, clock=lambda: time.time() + 8 * DAY)
    await inbox_content_expiry(later)
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    assert (stats["runs"]["dead"], stats["runs"]["expired"]) == (0, 1)
    status, page = await stack.api("GET", "/api/v1/events?status=expired")
    assert status == 200
    [event] = page["events"]
    runs = {run["handler"]: run for run in event["runs"]}
    assert (runs["archive.store"]["status"], runs[AUTOTAG]["status"]) == ("done", "expired")
    assert runs[AUTOTAG]["last_error"].startswith("expired: content shredded after 7 days")
    assert "errcode 60011" in runs[AUTOTAG]["last_error"]
    stored = await Event.get(id=event["id"])
    assert "_sealed" not in stored.payload and "_content_stripped" in stored.payload
    status, body = await stack.api("POST", f"/api/v1/events/{event['id']}/replay")
    assert status == 409 and "expired" in body["error"]["message"]
    labels = {"handler": AUTOTAG, "outcome": "expired"}
    assert stack.metric("scrm_handler_runs_total", labels) == 1
