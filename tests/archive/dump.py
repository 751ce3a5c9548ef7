"""Everything a database holds at rest, as bytes, to grep for plaintext."""

from __future__ import annotations

from pathlib import Path

from scrm.db import Database

TEXT_COLUMNS_SQL = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'bytea')
"""


async def dump_database(database: Database, database_url: str) -> bytes:
    """PostgreSQL: every text/bytea value; SQLite: the database files themselves."""
    if database.is_postgres:
        dumped = b""
        for column in await database.fetch(TEXT_COLUMNS_SQL):
            table, name = column["table_name"], column["column_name"]
            for row in await database.fetch(f'SELECT "{name}" AS v FROM "{table}"'):
                value = row["v"]
                dumped += value if isinstance(value, bytes) else str(value).encode()
        return dumped
    await database.fetch("PRAGMA wal_checkpoint(TRUNCATE)")  # what rests, not what is in flight
    path = Path(database_url.removeprefix("sqlite://"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
