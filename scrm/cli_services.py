"""The services a command-line run works with: the configured database, KV and WeCom client.

A CLI command (`run.py channels …`, `run.py leads …`) calls the same service functions as the
API, so it needs the same `Services` — opened for one command and closed after it, without the
workers, scheduler or HTTP server of a running service.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp

from adapters.kv import open_kv
from adapters.wecom import WeComClient
from archive.keys.pii import FieldSeal
from archive.runtime import open_archive
from config import Settings
from scrm.db import close_database, open_database
from scrm.metrics import Metrics
from scrm.services import Services


@contextlib.asynccontextmanager
async def cli_services(
    settings: Settings, *, personal_data: bool = False
) -> AsyncIterator[Services]:
    """``personal_data``: also open the archive's key ring, so sealed phones can be read
    (it refuses a ring missing a stored KEK, as the service does)."""
    db = await open_database(settings.database_url)
    kv = open_kv(settings.redis_url, prefix="scrm")
    try:
        async with contextlib.AsyncExitStack() as opened:
            pii = None
            if personal_data:
                runtime = await open_archive(settings, db)
                opened.push_async_callback(runtime.close)
                pii = FieldSeal(runtime)
            session = await opened.enter_async_context(aiohttp.ClientSession())
            client = WeComClient.for_customers(session, kv, settings.wecom)
            services = Services(settings, db, kv, Metrics(), client, clock=time.time)
            if pii is not None:
                services.pii = pii
            yield services
    finally:
        await kv.close()
        await close_database()
