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


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    import asyncpg

    parts = urlsplit(postgres_server_url)
    name = "scrm_t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield parts._replace(path="/" + name).geturl()
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A unique Redis key prefix so parallel test runs never see each other's keys."""
    yield "scrmtest-" + uuid.uuid4().hex[:10]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each DB-backed test runs on a fresh SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/scrm.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated database for one test; closed afterwards."""
    db = await open_database(database_url)
    try:
        yield db
    finally:
        await close_database()
