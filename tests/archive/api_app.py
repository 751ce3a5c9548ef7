"""A minimal aiohttp app holding the archive routes, for API tests."""

from __future__ import annotations

from aiohttp import web

from archive.review.api import register
from archive.runtime import ArchiveRuntime
from config import Settings
from scrm.api.errors import error_middleware
from scrm.appkeys import SERVICES
from scrm.services import Services


def archive_app(runtime: ArchiveRuntime) -> web.Application:
    app = web.Application(middlewares=[error_middleware(lambda status, code: None)])
    app[SERVICES] = Services(Settings(), runtime.db, None, None, None, archive=runtime)  # type: ignore[arg-type]
    register(app)
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
