"""Shared test fixtures: real PostgreSQL and Redis when reachable, loud skips when not.

``SCRM_REQUIRE_SERVICES=1`` (set by .ci/run) turns every such skip into a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scrm.db import Database, close_database, open_database
from tests.scratch_databases import ScratchDatabases

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> None:
    """Skip loudly when a server is down; fail instead when the run requires services."""
    if _reachable(url):
        return
    message = f"{name} at {url} is unreachable: integration test NOT RUN"
    if os.environ.get("SCRM_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (SCRM_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip("!!! " + message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("SCRM_TEST_DATABASE_URL", DEFAULT_PG)
    require_service("PostgreSQL", url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("SCRM_TEST_REDIS_URL", DEFAULT_REDIS)
    require_service("Redis", url)
    return url


@pytest.fixture(scope="session")
def scratch_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    """The session's migrated templates; every scratch PostgreSQL database dropped at the end."""
    scratch = ScratchDatabases(tmp_path_factory.mktemp("migrated"))
    yield scratch
    failed = scratch.close()
    assert not failed, "scratch databases left behind:\n" + "\n".join(failed)


@pytest.fixture
async def postgres_url(
    postgres_server_url: str, scratch_databases: ScratchDatabases
) -> AsyncIterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    url = await scratch_databases.postgres_empty(postgres_server_url)
    yield url
    scratch_databases.drop_later(postgres_server_url, url)


@pytest.fixture
async def migrated_postgres_url(
    postgres_server_url: str, scratch_databases: ScratchDatabases
) -> AsyncIterator[str]:
    """A fresh database on the test server with every migration applied, dropped afterwards."""
    url = await scratch_databases.postgres_copy(postgres_server_url)
    yield url
    scratch_databases.drop_later(postgres_server_url, url)


@pytest.fixture
async def migrated_sqlite_url(tmp_path: Path, scratch_databases: ScratchDatabases) -> str:
    """A fresh SQLite file, ``scrm.db`` in the test's ``tmp_path``, with every migration applied."""
    return await scratch_databases.sqlite_copy(tmp_path / "scrm.db")


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A unique Redis key prefix so parallel test runs never see each other's keys."""
    yield "scrmtest-" + uuid.uuid4().hex[:10]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each DB-backed test runs on a fresh SQLite file and on a fresh PostgreSQL database, both
    already migrated (copies of a template migrated once per session: see scratch_databases)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("migrated_sqlite_url"))
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated database for one test; closed afterwards."""
    db = await open_database(database_url, apply_migrations=False)  # a migrated copy
    try:
        yield db
    finally:
        await close_database()
