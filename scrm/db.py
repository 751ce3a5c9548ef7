"""Database set-up: the tortoise config, aerich migrations, and the dialect the raw SQL needs.

SQLite (WAL, synchronous=FULL so an acknowledged event survives a crash) is the embedded
default; PostgreSQL is production. The hot paths (inbox insert, run claim) use raw SQL through
`Database`, which hides the one difference that matters: placeholder style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE

from scrm.sqlite_files import protect_sqlite_files

MODELS_APP = "models"
MODEL_MODULES = [
    "scrm.models",
    "scrm.autotag.models",
    "scrm.effects.models",
    "scrm.tickets.models",
    "scrm.channels.models",
    "scrm.leads.models",
    "archive.models",
    "aerich.models",
]
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# Every SQLite connection scrm opens (tortoise's and the inbox writer's) runs with these.
# synchronous=FULL: an acknowledged event survives a crash. secure_delete: a deleted or
# rewritten record (the inbox copy of a chat message, once stripped) is zeroed on its page.
SQLITE_PRAGMAS = {
    "journal_mode": "WAL",
    "synchronous": "FULL",
    "busy_timeout": "5000",
    "secure_delete": "ON",
}


def tortoise_url(url: str) -> str:
    """Normalise the configured URL for tortoise (pragmas for SQLite, asyncpg scheme)."""
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite://{path}?" + "&".join(f"{k}={v}" for k, v in SQLITE_PRAGMAS.items())
    if url.startswith(("postgres://", "postgresql://")):
        return "asyncpg://" + url.split("://", 1)[1]
    return url


def sqlite_immediate(connection: str | dict[str, Any]) -> str | dict[str, Any]:
    """A SQLite connection through `scrm.sqlite_client`: transactions ``BEGIN IMMEDIATE``.

    A deferred transaction that reads, then writes, fails with ``database is locked`` when
    the inbox writer committed in between (see that module); other URLs pass unchanged.
    """
    if not (isinstance(connection, str) and connection.startswith("sqlite://")):
        return connection
    return {**expand_db_url(connection), "engine": "scrm.sqlite_client"}


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": sqlite_immediate(tortoise_url(url))},
        "apps": {MODELS_APP: {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def redact_url(url: str) -> str:
    """The URL without its password, for logs and start-up banners."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


@dataclass(frozen=True)
class Database:
    """A handle on the default connection plus the dialect facts raw SQL needs."""

    dialect: str
    url: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file, for code that opens its own connection (the inbox writer)."""
        if self.is_postgres or not self.url.startswith("sqlite://"):
            return None
        path = self.url.removeprefix("sqlite://").split("?", 1)[0]
        return None if path == ":memory:" else path

    def placeholders(self, count: int, start: int = 1) -> list[str]:
        """``?`` for SQLite, ``$n`` for asyncpg."""
        if self.is_postgres:
            return [f"${n}" for n in range(start, start + count)]
        return ["?"] * count

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders as the dialect wants them (``$1…`` on PostgreSQL)."""
        if not self.is_postgres:
            return text
        parts = text.split("?")
        return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

    def rows(self, width: int, count: int) -> str:
        """``(…),(…)`` value groups for a multi-row INSERT of ``count`` rows."""
        marks = self.placeholders(width * count)
        return ",".join(
            "(" + ",".join(marks[i * width : (i + 1) * width]) + ")" for i in range(count)
        )

    @staticmethod
    def connection() -> BaseDBAsyncClient:
        return connections.get("default")

    async def fetch(
        self, sql: str, values: Sequence[Any] = (), conn: BaseDBAsyncClient | None = None
    ) -> Sequence[Any]:
        return await (conn or self.connection()).execute_query_dict(sql, list(values))


def _forget_compiled_queries() -> None:
    """Drop tortoise's per-table SQL cache.

    tortoise caches compiled INSERT/DELETE statements by (connection name, table), not by
    dialect, so a process that opens SQLite and later PostgreSQL (the test suite does) would
    reuse ``?`` placeholders on asyncpg.
    """
    EXECUTOR_CACHE.clear()


async def migrate(url: str) -> list[str]:
    """Apply pending aerich migrations; return the names applied."""
    from aerich import Command

    _forget_compiled_queries()
    protect_sqlite_files(url)  # before SQLite creates the file, its WAL and SHM

    config = tortoise_config(url)
    await Tortoise.init(config=config)  # aerich skips this when an earlier init left state
    try:
        command = Command(tortoise_config=config, app=MODELS_APP, location=str(MIGRATIONS_DIR))
        await command.init()
        return await command.upgrade(run_in_transaction=True)
    finally:
        await Tortoise.close_connections()
        _forget_compiled_queries()


async def open_database(url: str, *, apply_migrations: bool = True) -> Database:
    """Migrate, then open the ORM's connections for this process."""
    if apply_migrations:
        await migrate(url)
    protect_sqlite_files(url)  # also the WAL and SHM a migration just created
    _forget_compiled_queries()
    await Tortoise.init(config=tortoise_config(url))
    return Database(dialect=connections.get("default").capabilities.dialect, url=url)


async def close_database() -> None:
    await Tortoise.close_connections()
    _forget_compiled_queries()
