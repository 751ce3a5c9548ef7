"""`run.py archive init-keys`: production's way to create the key ring, once."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from archive.keys.key_file import load_key_file
from config import ArchiveSettings, Settings
from tests.archive.cli_run import run
from tests.archive.messages import NOV_2025, text_message


async def test_writes_an_owner_only_ring_and_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secrets" / "archive-keys.json"
    assert await run(Settings(), "archive", "init-keys", "--file", str(path)) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    ring = load_key_file(path)
    assert (ring.kek_ids, ring.active_kek_id) == (("kek1",), "kek1")
    out = capsys.readouterr().out
    assert f"wrote a new archive key ring to {path}" in out
    assert f"SCRM_ARCHIVE_KEY_FILE={path}" in out
    assert ring.index_key.hex() not in out


async def test_defaults_to_the_configured_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "configured.json"
    settings = Settings(archive=ArchiveSettings(key_file=path))
    assert await run(settings, "archive", "init-keys") == 0
    assert load_key_file(path).kek_ids == ("kek1",)


async def test_refuses_to_overwrite_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "archive-keys.json"
    assert await run(Settings(), "archive", "init-keys", "--file", str(path)) == 0
    before = path.read_bytes()
    capsys.readouterr()
    assert await run(Settings(), "archive", "init-keys", "--file", str(path)) == 2
    assert path.read_bytes() == before
    out, err = capsys.readouterr()
    assert "already exists; refusing to overwrite it" in err and out == ""


async def test_production_starts_with_the_ring_it_made(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PostgreSQL outside sandbox mode never generates keys: without the file it refuses.
    path = tmp_path / "keys" / "archive-keys.json"
    settings = Settings(database_url=postgres_url, archive=ArchiveSettings(key_file=path))
    source = tmp_path / "m.jsonl"
    lines = [json.dumps(text_message(f"k{i}", f"第{i}条", msgtime=NOV_2025 + i)) for i in range(3)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert await run(settings, "archive", "import", str(source)) == 2
    assert "production does not generate keys" in capsys.readouterr().err

    assert await run(settings, "archive", "init-keys") == 0
    assert await run(settings, "archive", "import", str(source)) == 0
    assert await run(settings, "archive", "verify") == 0  # every record opens under the ring
