"""The archive commands end to end against a real database: reviewers, import, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.review.reviewers import hash_token
from config import Settings
from scrm.db import Database, close_database, open_database
from tests.archive.cli_run import run
from tests.archive.messages import NOV_2025, text_message


async def opened(settings: Settings) -> Database:
    return await open_database(settings.database_url)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_reviewers_add_prints_token_once_and_stores_its_hash(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        await run(
            settings, "reviewers", "add", "rita", "--role", "reviewer", "--scope", "staff:a,b"
        )
        == 0
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("sar_")
    db = await opened(settings)
    try:
        rows = await db.fetch("SELECT name, role, scope, token_hash FROM archive_reviewers")
    finally:
        await close_database()
    assert [(r["name"], r["role"], r["token_hash"]) for r in rows] == [
        ("rita", "reviewer", hash_token(token))
    ]
    assert json.loads(rows[0]["scope"]) == {"kind": "staff", "values": ["a", "b"]}
    assert await run(settings, "reviewers", "add", "rita", "--role", "reviewer") == 2
    assert await run(settings, "reviewers", "add", "x", "--role", "reviewer", "--scope", "bad") == 2


async def test_import_reports_bad_lines_and_keeps_good_ones(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [json.dumps(text_message(f"m{i}", f"第{i}条", msgtime=NOV_2025 + i)) for i in range(3)]
    bad_msgtime = json.dumps({**text_message("m9", "x"), "msgtime": "yesterday"})
    path = write_lines(
        tmp_path / "in.jsonl", [good[0], "{not json", good[1], bad_msgtime, "", good[2], good[0]]
    )
    assert await run(settings, "archive", "import", str(path)) == 1
    out, err = capsys.readouterr()
    assert f"{path}:2: not valid JSON" in err
    assert f"{path}:4: msgtime:" in err
    assert "read 6, stored 3, duplicates 1, rejected 2" in out
    assert (
        await run(settings, "archive", "import", str(write_lines(tmp_path / "b.jsonl", good))) == 0
    )
    assert "stored 0, duplicates 3" in capsys.readouterr().out


async def test_import_enqueues_chat_message_events_like_every_source(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(text_message(f"m{i}", f"第{i}条", msgtime=NOV_2025 + i)) for i in range(3)]
    path = write_lines(tmp_path / "in.jsonl", lines)
    assert await run(settings, "archive", "import", str(path)) == 0
    assert "stored 3, duplicates 0, rejected 0, chat.message events queued 3" in (
        capsys.readouterr().out
    )
    db = await opened(settings)
    try:
        events = await db.fetch("SELECT dedupe_key, name, source FROM events ORDER BY dedupe_key")
        runs = await db.fetch("SELECT DISTINCT handler FROM handler_runs ORDER BY handler")
    finally:
        await close_database()
    assert [(e["dedupe_key"], e["name"], e["source"]) for e in events] == [
        (f"chat:m{i}", "chat.message", "archive_import") for i in range(3)
    ]
    assert [r["handler"] for r in runs] == ["archive.store", "autotag.tag_from_keywords"]
    assert await run(settings, "archive", "import", str(path)) == 0  # idempotent
    assert "stored 0, duplicates 3, rejected 0, chat.message events queued 0" in (
        capsys.readouterr().out
    )


async def import_and_tamper(settings: Settings, tmp_path: Path, sql_statement: str) -> None:
    lines = [
        json.dumps(text_message(f"m{i}", f"line {i}", msgtime=NOV_2025 + i)) for i in range(1, 6)
    ]
    assert (
        await run(settings, "archive", "import", str(write_lines(tmp_path / "a.jsonl", lines))) == 0
    )
    assert await run(settings, "archive", "sign-checkpoints") == 0
    db = await opened(settings)
    try:
        await db.connection().execute_script(sql_statement)
    finally:
        await close_database()


async def test_verify_clean_archive_exits_zero(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await import_and_tamper(settings, tmp_path, "SELECT 1")
    assert await run(settings, "archive", "verify") == 0
    assert "archive verify: OK" in capsys.readouterr().out
    assert (
        await run(settings, "archive", "verify", "--from", "2025-11-01", "--to", "2025-11-30") == 0
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE archive_records SET ciphertext = record_hash WHERE msgid = 'm3'",
         ["position 3: altered record", "(msgid m3)", "GCM tag does not verify"]),
        ("DELETE FROM archive_records WHERE msgid = 'm2'", ["position 2: missing"]),
        ("UPDATE archive_records SET position = 7 - position WHERE msgid IN ('m2', 'm5')",
         ["swapped record", "(msgid m2)", "(msgid m5)"]),
        ("DELETE FROM archive_records WHERE msgid = 'm5'",
         ["truncated", "checkpoint"]),
        ("UPDATE archive_checkpoints SET body = replace(body, '[5,', '[4,')",
         ["bad checkpoint", "signature does not match"]),
        ("UPDATE archive_audit_entries SET result_count = 9",
         ["audit log", "altered"]),
    ],
)  # fmt: skip
async def test_verify_names_every_damaged_record(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    expected: list[str],
) -> None:
    await import_and_tamper(settings, tmp_path, statement)
    capsys.readouterr()
    assert await run(settings, "archive", "verify") == 1
    out = capsys.readouterr().out
    for fragment in expected:
        assert fragment in out, out


async def test_import_of_a_missing_file_is_one_line(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(settings, "archive", "import", str(tmp_path / "nope.jsonl")) == 2
    err = capsys.readouterr().err
    assert f"archive import: cannot read {tmp_path / 'nope.jsonl'}" in err


async def test_verify_without_a_checkpoint_says_how_to_get_one(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: keep the `newest checkpoint` line verify prints; before the first one, say why."""
    lines = [json.dumps(text_message("m1", "line 1", msgtime=NOV_2025))]
    assert (
        await run(settings, "archive", "import", str(write_lines(tmp_path / "a.jsonl", lines))) == 0
    )
    capsys.readouterr()
    assert await run(settings, "archive", "verify") == 0
    out = capsys.readouterr().out
    assert "no checkpoint signed yet" in out and "archive sign-checkpoints" in out
    assert await run(settings, "archive", "sign-checkpoints") == 0
    assert await run(settings, "archive", "verify") == 0
    out = capsys.readouterr().out
    assert "newest checkpoint: " in out and "no checkpoint" not in out
