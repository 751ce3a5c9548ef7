"""Typed keys for what the app holds, so views and the factory agree without import cycles."""

from __future__ import annotations

from aiohttp import web

from scrm.events.inbox import Inbox
from scrm.events.router import Dispatcher
from scrm.services import Services

SERVICES = web.AppKey("services", Services)
INBOX = web.AppKey("inbox", Inbox)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
