"""Scratch databases for tests: migrated once per session, copied per test, dropped off the
critical path.

Migrating an empty database runs every aerich migration (about a second per test on a busy
machine), so the suite migrates one SQLite file and one PostgreSQL template database per
session and gives each test its own copy: a file copy, or ``CREATE DATABASE … TEMPLATE``. A
copy is what the migrations would have produced; the service still runs `migrate` on it at
start (a no-op), and a test that needs an empty database asks for one (`postgres_url`).

``DROP DATABASE`` forces a checkpoint (half a second or more while other work writes), so the
databases tests used are dropped in batches by a background thread while later tests run; the
session waits for the last drop before it ends, and a failed drop fails it.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from scrm.db import migrate
from scrm.sqlite_files import FILE_MODE


def scratch_name(kind: str = "t") -> str:
    return f"scrm_{kind}_" + uuid.uuid4().hex[:12]


def database_url(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path="/" + name).geturl()


async def create_postgres(server_url: str, name: str, template: str | None = None) -> None:
    import asyncpg

    clause = f' TEMPLATE "{template}"' if template else ""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await admin.close()


class Dropper:
    """Drops PostgreSQL databases in a thread of its own, many at a time.

    Each ``DROP DATABASE`` forces a checkpoint, which writes out every dirty page on the
    server (the running test's fresh copy too) and slows the next copy several times over.
    Drops that wait together share a checkpoint, so the thread holds names until `HOLD` have
    queued up (or the session ends), then drops them `CONCURRENT` at a time.
    """

    HOLD = 16
    CONCURRENT = 8

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._names: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="scratch-db-dropper", daemon=True)
        self._thread.start()

    def drop(self, name: str) -> None:
        self._names.put(name)

    def close(self) -> None:
        """Drop every database handed in so far, and wait for it."""
        self._names.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._drop_until_closed())
        except BaseException as exc:  # never silently: close() hands it to the session
            self.errors.append(f"the dropper stopped: {type(exc).__name__}: {exc}")

    async def _drop_until_closed(self) -> None:
        held: list[str] = []
        while (name := self._names.get()) is not None:  # blocks only this thread's loop
            held.append(name)
            if len(held) >= self.HOLD:
                await self._drop_held(held)
        await self._drop_held(held)  # None is the last item: nothing comes after it

    async def _drop_held(self, held: list[str]) -> None:
        for start in range(0, len(held), self.CONCURRENT):
            batch = held[start : start + self.CONCURRENT]
            results = await asyncio.gather(*map(self._drop, batch), return_exceptions=True)
            for name, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    self.errors.append(f"DROP DATABASE {name}: {type(result).__name__}: {result}")
        held.clear()

    async def _drop(self, name: str) -> None:
        import asyncpg

        admin = await asyncpg.connect(self._server_url)  # one each: the drops wait together
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class ScratchDatabases:
    """The session's migrated templates and the drops still to do."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite_template: Path | None = None
        self._postgres_templates: dict[str, str] = {}  # server URL → template database
        self._droppers: dict[str, Dropper] = {}

    async def sqlite_copy(self, target: Path) -> str:
        """A migrated SQLite database at ``target`` (owner-only, like one scrm creates)."""
        if self._sqlite_template is None:
            template = self._directory / "template.db"
            await migrate(f"sqlite://{template}")
            for suffix in ("-wal", "-shm"):  # closed cleanly: the WAL is checkpointed
                assert not template.with_name(template.name + suffix).exists(), suffix
            self._sqlite_template = template
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._sqlite_template, target)
        os.chmod(target, FILE_MODE)
        return f"sqlite://{target}"

    async def postgres_empty(self, server_url: str) -> str:
        name = scratch_name()
        await create_postgres(server_url, name)
        return database_url(server_url, name)

    async def postgres_copy(self, server_url: str) -> str:
        """A new database on ``server_url`` with every migration applied."""
        template = self._postgres_templates.get(server_url)
        if template is None:
            template = scratch_name("template")
            await create_postgres(server_url, template)
            self._postgres_templates[server_url] = template
            await migrate(database_url(server_url, template))  # closes its connections
        name = scratch_name()
        await create_postgres(server_url, name, template=template)
        return database_url(server_url, name)

    def drop_later(self, server_url: str, url: str) -> None:
        """Drop ``url``'s database soon, through an admin connection to ``server_url``."""
        if server_url not in self._droppers:
            self._droppers[server_url] = Dropper(server_url)
        self._droppers[server_url].drop(urlsplit(url).path.lstrip("/"))

    def close(self) -> list[str]:
        """Drop the templates, wait for every drop; return the drops that failed."""
        for server_url, template in self._postgres_templates.items():
            self.drop_later(server_url, database_url(server_url, template))
        errors: list[str] = []
        for dropper in self._droppers.values():
            dropper.close()
            errors += dropper.errors
        return errors
