"""Every staff page route, and the state they share (`STAFF_AUTH`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from config import Settings
from scrm.staff import customers, home, leads, oauth, tickets
from scrm.staff.session import STAFF_AUTH, StaffAuth


def setup(app: web.Application, settings: Settings, clock: Callable[[], float] = time.time) -> None:
    """Register the pages; the signing key is read (or made) on the first request."""
    app[STAFF_AUTH] = StaffAuth(settings, clock)
    for area in (oauth, home, customers, leads, tickets):
        area.register(app)
