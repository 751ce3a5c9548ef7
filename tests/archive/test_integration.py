"""Import → search by keyword, customer and time → audit entries → nothing in clear on disk."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from archive.review.reviewers import Scope, add_reviewer
from archive.runtime import open_archive
from config import Settings
from scrm.db import close_database, open_database
from tests.archive.api_app import archive_app, bearer
from tests.archive.cli_run import run
from tests.archive.dump import dump_database
from tests.archive.messages import NOV_2025, text_message

HOUR = 3_600_000
PHRASE = "合同编号ZX-2231的退货"
WHY = "regulator request 2025-114, complaint escalation"


async def test_import_search_audit(
    settings: Settings,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],  # type: ignore[type-arg]
) -> None:
    lines = [
        json.dumps(text_message("a1", f"关于{PHRASE}请尽快处理", to="wmZhao", msgtime=NOV_2025)),
        "this line is broken",
        json.dumps(text_message("a2", "好的，明天回复", to="wmZhao", msgtime=NOV_2025 + 2 * HOUR)),
        json.dumps(text_message("a3", f"{PHRASE}已完成", to="wmQian", msgtime=NOV_2025 + 4 * HOUR)),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert await run(settings, "archive", "import", str(path), routers=()) == 1  # line 2 bad

    db = await open_database(settings.database_url)
    try:
        runtime = await open_archive(settings, db)
        reviewer = await add_reviewer(runtime, "rita", "reviewer", Scope("all"))
        auditor = await add_reviewer(runtime, "ada", "auditor", Scope("all"))
        client = await aiohttp_client(archive_app(runtime))

        async def search(**body: object) -> list[str]:
            response = await client.post(
                "/api/v1/archive/search", json={"justification": WHY, **body},
                headers=bearer(reviewer),
            )  # fmt: skip
            assert response.status == 200
            return [m["msgid"] for m in (await response.json())["messages"]]

        assert await search(keyword="ZX-2231的退货") == ["a1", "a3"]
        assert await search(customer="wmZhao") == ["a1", "a2"]
        assert await search(**{"from": NOV_2025 + HOUR, "to": NOV_2025 + 3 * HOUR}) == ["a2"]
        response = await client.get("/api/v1/archive/audit", headers=bearer(auditor))
        entries = (await response.json())["entries"]
        assert [(e["action"], e["actor"], e["result_count"]) for e in entries] == [
            ("import", "cli", 3), ("search", "rita", 2), ("search", "rita", 2),
            ("search", "rita", 1),
        ]  # fmt: skip
        # Imported with no handlers wired, so the inbox kept routing metadata only (who, when);
        # tests/e2e/test_archive_import.py covers the full wiring, drained, then grepped.
        dumped = await dump_database(db, settings.database_url)
        for needle in (PHRASE, "ZX-2231", "明天回复", WHY):
            assert needle.encode() not in dumped, needle
        assert reviewer.encode() not in dumped  # tokens are stored hashed
    finally:
        await close_database()
