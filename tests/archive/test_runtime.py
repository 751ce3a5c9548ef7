"""Opening the archive: where keys come from, and refusing to start without a stored KEK."""

from __future__ import annotations

import dataclasses
import logging
import stat
from pathlib import Path

import pytest

from archive.keys.key_file import write_key_file
from archive.keys.loading import ArchiveStartError, load_ring
from archive.keys.ring import format_key_string
from archive.keys.rotation import retire_kek, rotate_kek
from archive.runtime import ArchiveRuntime, open_archive
from archive.store.write import store_messages
from config import ArchiveSettings, Secret, Settings
from scrm.db import Database
from tests.archive.keys import make_ring
from tests.archive.messages import NOV_2025, content, text_message


def settings_with(url: str, **archive: object) -> Settings:
    return Settings(database_url=url, archive=ArchiveSettings(**archive))  # type: ignore[arg-type]


def test_dev_generates_a_key_file_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys" / "archive.json"
    with caplog.at_level(logging.WARNING):
        ring, source = load_ring(settings_with(f"sqlite://{tmp_path}/x.db", key_file=path))
    assert source == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "GENERATED A NEW ARCHIVE KEY FILE" in caplog.text
    assert load_ring(settings_with(f"sqlite://{tmp_path}/x.db", key_file=path))[0].kek_ids == (
        ring.kek_ids
    )


def test_production_without_keys_refuses(tmp_path: Path) -> None:
    settings = settings_with("postgres://db/scrm", key_file=tmp_path / "none.json")
    with pytest.raises(ArchiveStartError, match="SCRM_ARCHIVE_KEYS"):
        load_ring(settings)
    assert not (tmp_path / "none.json").exists()


def test_key_string_wins_over_file(tmp_path: Path) -> None:
    keys = Secret(format_key_string(make_ring("kek2")))
    ring, source = load_ring(settings_with("postgres://db/x", keys=keys, key_file=tmp_path / "k"))
    assert source is None and ring.active_kek_id == "kek2"


async def test_missing_kek_refuses_to_start(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    writer = ArchiveRuntime(database, make_ring("kek2"), corp_id="wwcorp")
    await store_messages(writer, [text_message("m1", "hi")])
    settings = settings_with(database_url, keys=Secret(format_key_string(make_ring("kek1"))))
    with pytest.raises(ArchiveStartError, match="'kek2'"):
        await open_archive(settings, database)
    ok = settings_with(database_url, keys=Secret(format_key_string(make_ring("kek2"))))
    assert (await open_archive(ok, database)).ring.active_kek_id == "kek2"


async def test_rotation_while_another_process_serves(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, make_ring())
    settings = dataclasses.replace(
        settings_with(database_url, key_file=path), wecom=Settings().wecom
    )
    serving = await open_archive(settings, database)
    await store_messages(serving, [text_message("m1", "before rotation")])
    operator = await open_archive(settings, database)
    report = await rotate_kek(operator)
    assert (report.kek_id, report.data_keys) == ("kek2", 1)
    rows = await database.fetch("SELECT DISTINCT kek_id FROM archive_partitions")
    assert [row["kek_id"] for row in rows] == ["kek2"]
    serving.deks.clear()  # as after a restart of the cache: must re-read the key file
    assert await content(serving, "m1") == "before rotation"
    await store_messages(serving, [text_message("m2", "after", msgtime=NOV_2025 + 1)])
    await retire_kek(operator, "kek1")
    fresh = await open_archive(settings, database)
    assert fresh.ring.kek_ids == ("kek2",)
    assert await content(fresh, "m2") == "after"
