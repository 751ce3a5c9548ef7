"""Routers map WeCom event names to handlers; a `Dispatcher` composes them and fans out.

Every interested handler gets its own run (archive, tagging and tickets all see a chat
message), so this is not first-match-wins. Names stay WeCom's own
(``change_external_contact.add_external_contact``) so code and docs grep to each other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrm.logsafe import loggable

if TYPE_CHECKING:
    from scrm.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventRecord:
    """A stored event as a handler sees it."""

    id: int
    name: str
    source: str
    payload: dict[str, Any]
    occurred_at: int | None
    attempt: int = 1


Handler = Callable[[EventRecord, "Services"], Awaitable[None]]


@dataclass
class Router:
    """One router per feature: ``@router.on("name")`` or ``router.register("name", fn)``."""

    name: str
    routes: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    fast: set[str] = field(default_factory=set)

    def register(
        self, event_name: str, handler: Handler, *, name: str | None = None, fast: bool = False
    ) -> None:
        """``fast``: the handler's runs also have their own worker lane (see `Worker`), for
        work with a deadline (a welcome message) that must not wait behind a backlog."""
        handler_name = f"{self.name}.{name or handler.__name__}"
        entries = self.routes.setdefault(event_name, [])
        if any(existing == handler_name for existing, _ in entries):
            raise ValueError(f"{handler_name} is already registered for {event_name}")
        entries.append((handler_name, handler))
        if fast:
            self.fast.add(handler_name)

    def on(
        self, *event_names: str, name: str | None = None, fast: bool = False
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            for event_name in event_names:
                self.register(event_name, handler, name=name, fast=fast)
            return handler

        return decorate

    def ignore(self, event_name: str, reason: str) -> None:
        """Declare an event this feature deliberately does not handle, with the reason."""
        self.ignored[event_name] = reason


class Dispatcher:
    """The composition of all routers: which handlers run for an event, and by name."""

    def __init__(self, routers: Iterable[Router] = ()) -> None:
        self._by_event: dict[str, list[str]] = {}
        self._handlers: dict[str, Handler] = {}
        self._ignored: dict[str, str] = {}
        self._unknown_seen: set[str] = set()
        self.fast_handlers: set[str] = set()
        for router in routers:
            self.include(router)

    def include(self, router: Router) -> None:
        for event_name, entries in router.routes.items():
            for handler_name, handler in entries:
                if handler_name in self._handlers and self._handlers[handler_name] is not handler:
                    raise ValueError(f"two different handlers are named {handler_name}")
                self._handlers[handler_name] = handler
                self._by_event.setdefault(event_name, []).append(handler_name)
        self._ignored.update(router.ignored)
        self.fast_handlers |= router.fast

    def handlers_for(self, event_name: str) -> list[str]:
        """Names of the handlers an event fans out to; logs unknown events once."""
        names = self._by_event.get(event_name)
        if names:
            return names
        if event_name not in self._ignored and event_name not in self._unknown_seen:
            self._unknown_seen.add(event_name)
            log.info("no handler for event %s; stored without processing", loggable(event_name))
        return []

    def handler(self, handler_name: str) -> Handler | None:
        return self._handlers.get(handler_name)
