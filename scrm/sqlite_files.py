"""SQLite's files at rest: owner-only permissions, and a WAL that does not keep old pages.

The database, its WAL and its shared-memory index are created ``0600`` and tightened to
``0600`` at every open (a file created by an older version, or copied in, may be wider).
SQLite creates the ``-wal`` and ``-shm`` files with the database file's own permissions, so
creating the database file owner-only first covers them too — without changing the
process-wide umask under other threads.

A row rewritten in place (a stripped inbox payload) is zeroed on its page (secure_delete),
but the WAL keeps the old page images until a checkpoint copies them back and the file is
reset; `checkpoint_wal` runs a TRUNCATE checkpoint, which also empties the WAL file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrm.db import Database

log = logging.getLogger(__name__)

FILE_MODE = 0o600
SUFFIXES = ("", "-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite://`` URL; None for PostgreSQL or ``:memory:``."""
    if not url.startswith("sqlite://"):
        return None
    path = url.removeprefix("sqlite://").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def protect_sqlite_files(url: str) -> None:
    """Create the database file owner-only if it is missing; make every existing file 0600."""
    path = sqlite_file(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an empty file is a valid empty database
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for suffix in SUFFIXES:
        member = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if member.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(member, FILE_MODE)


async def checkpoint_wal(db: Database, *, busy_timeout: float = 0.1) -> None:
    """Copy the WAL into the database and truncate it to zero bytes (SQLite only; best effort).

    A TRUNCATE checkpoint holds the write lock while it waits for readers, so it runs on a
    connection of its own with a short busy timeout: the inbox writer is held up briefly at
    most, and a checkpoint that meets a long reader stops short (the next one finishes).
    """
    path = db.sqlite_path
    if db.is_postgres or path is None:
        return
    try:
        busy = await asyncio.to_thread(_checkpoint, path, busy_timeout)
    except sqlite3.Error:
        log.warning("WAL checkpoint failed; the next one retries", exc_info=True)
        return
    if busy:
        log.info("WAL checkpoint was partial (readers busy); the next one retries")


def _checkpoint(path: str, busy_timeout: float) -> bool:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    return bool(row and row[0])
