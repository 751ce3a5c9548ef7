"""An archive runtime over the real test database (SQLite file and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.keys.key_file import write_key_file
from archive.runtime import ArchiveRuntime
from config import ArchiveSettings, Settings
from scrm.db import Database
from tests.archive.keys import make_ring

ADMIN_TOKEN = "service-admin-token-0123456789"


class Clock:
    """An injected clock tests move by hand."""

    def __init__(self, now: float = 1_763_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(database: Database, clock: Clock) -> ArchiveRuntime:
    return ArchiveRuntime(
        database, make_ring(), corp_id="wwcorp", admin_token=ADMIN_TOKEN, clock=clock
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    path = tmp_path / "keys.json"
    write_key_file(path, make_ring())
    return Settings(database_url=database_url, archive=ArchiveSettings(key_file=path))
