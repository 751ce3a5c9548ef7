"""A record whose ciphertext no longer verifies is left out of a search, named in `problems`
and in the audit entry; the other results still come back (not a 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from archive.review.audit_log import read_audit
from archive.review.reviewers import Scope, add_reviewer
from archive.runtime import ArchiveRuntime
from archive.store.write import store_messages
from scrm.db import Database
from tests.archive.api_app import archive_app, bearer
from tests.archive.messages import NOV_2025, text_message

WHY = "complaint #4711 review requested by legal"
Client = TestClient  # type: ignore[type-arg]


async def test_an_unreadable_record_is_a_problem_not_a_500(
    runtime: ArchiveRuntime,
    database: Database,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    await store_messages(
        runtime, [text_message(f"m{i}", f"退款 {i}", msgtime=NOV_2025 + i) for i in range(1, 4)]
    )
    rows = await database.fetch("SELECT id, ciphertext FROM archive_records WHERE msgid = 'm2'")
    blob = bytearray(bytes(rows[0]["ciphertext"]))
    blob[20] ^= 1
    marks = database.placeholders(2)
    await database.connection().execute_query(
        f"UPDATE archive_records SET ciphertext = {marks[0]} WHERE id = {marks[1]}",
        [bytes(blob), rows[0]["id"]],
    )
    client = await aiohttp_client(archive_app(runtime))
    token = await add_reviewer(runtime, "rita", "reviewer", Scope("all"))
    for body, action in (({"keyword": "退款"}, "search"), ({}, "export")):
        response = await client.post(
            f"/api/v1/archive/{action}", json={"justification": WHY, **body}, headers=bearer(token)
        )
        assert response.status == 200
        answer = await response.json()
        if action == "search":
            assert [m["msgid"] for m in answer["messages"]] == ["m1", "m3"]
            problems = answer["problems"]
        else:
            assert answer["manifest"]["count"] == 2
            problems = answer["manifest"]["problems"]
        assert [(p["record"], p["msgid"]) for p in problems] == [(rows[0]["id"], "m2")]
        assert "does not decrypt" in problems[0]["problem"]
    entries = await read_audit(runtime)
    assert [(e.fields["action"], e.fields["result_count"]) for e in entries] == [
        ("search", 2), ("export", 2),
    ]  # fmt: skip
    for entry in entries:
        assert [p["msgid"] for p in entry.fields["filters"]["problems"]] == ["m2"]
