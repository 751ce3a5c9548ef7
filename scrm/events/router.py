"""Routers map WeCom event names to handlers; a `Dispatcher` composes them and fans out.

Every interested handler gets its own run (archive, tagging and tickets all see a chat
message), so this is not first-match-wins. Names stay WeCom's own
(``change_external_contact.add_external_contact``) so code and docs grep to each other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
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


@dataclass(frozen=True)
class Lane:
    """A worker of its own for some handlers' runs, so they never wait behind a backlog of
    others. ``per_slot``: claimed whenever one of its slots is free and run alone — for work
    that waits on WeCom; otherwise claimed and recorded in batches (see `Worker`)."""

    name: str
    per_slot: bool = False


# The welcome's lane: WeCom takes a welcome only within 20 s of the add, and only once.
FAST_LANE = Lane("fast", per_slot=True)

Handler = Callable[[EventRecord, "Services"], Awaitable[None]]
# A handler that takes many events of its kind at once (one transaction for a whole claim,
# e.g. the archive's store). It must be all-or-nothing: when it raises, the worker runs each
# event alone through it, so one bad event fails alone.
BatchHandler = Callable[[Sequence[EventRecord], "Services"], Awaitable[None]]


def one_at_a_time(handler: BatchHandler) -> Handler:
    """A batch handler as a plain handler of one event (the fast lane, a single run)."""

    async def single(event: EventRecord, services: Services) -> None:
        await handler([event], services)

    single.__name__ = getattr(handler, "__name__", "batch")
    return single


@dataclass
class Router:
    """One router per feature: ``@router.on("name")`` or ``router.register("name", fn)``."""

    name: str
    routes: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    lanes: dict[str, set[str]] = field(default_factory=dict)  # lane name → handler names
    lane_specs: dict[str, Lane] = field(default_factory=dict)
    batches: dict[str, BatchHandler] = field(default_factory=dict)

    def register(
        self,
        event_name: str,
        handler: Handler,
        *,
        name: str | None = None,
        fast: bool = False,
        lane: Lane | None = None,
    ) -> None:
        """``lane``: the handler's runs also have a worker of their own (see `Lane`), so
        they never wait behind a backlog of other runs; ``fast`` is the `FAST_LANE`."""
        handler_name = f"{self.name}.{name or handler.__name__}"
        entries = self.routes.setdefault(event_name, [])
        if any(existing == handler_name for existing, _ in entries):
            raise ValueError(f"{handler_name} is already registered for {event_name}")
        lane = FAST_LANE if fast else lane
        if lane is not None:
            elsewhere = [
                n for n, names in self.lanes.items() if handler_name in names and n != lane.name
            ]
            if elsewhere:
                raise ValueError(f"{handler_name} is already in the {elsewhere[0]} lane")
            if self.lane_specs.setdefault(lane.name, lane) != lane:
                raise ValueError(f"two different lanes are named {lane.name}")
            self.lanes.setdefault(lane.name, set()).add(handler_name)
        entries.append((handler_name, handler))

    def on(
        self,
        *event_names: str,
        name: str | None = None,
        fast: bool = False,
        lane: Lane | None = None,
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            for event_name in event_names:
                self.register(event_name, handler, name=name, fast=fast, lane=lane)
            return handler

        return decorate

    def register_batch(self, event_name: str, handler: BatchHandler, *, name: str) -> None:
        """A handler of many events at once: the main lane hands it all the runs of a claim
        that are its own, in one call (the fast lane and a lone run: a list of one)."""
        handler_name = f"{self.name}.{name}"
        if self.batches.setdefault(handler_name, handler) is not handler:
            raise ValueError(f"two different handlers are named {handler_name}")
        single = next(
            (fn for entries in self.routes.values() for n, fn in entries if n == handler_name),
            None,
        )  # one wrapper for every event name, so the dispatcher sees one handler
        self.register(event_name, single or one_at_a_time(handler), name=name)

    def on_batch(self, *event_names: str, name: str) -> Callable[[BatchHandler], BatchHandler]:
        def decorate(handler: BatchHandler) -> BatchHandler:
            for event_name in event_names:
                self.register_batch(event_name, handler, name=name)
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
        self.lanes: dict[str, set[str]] = {}  # lane name → handler names (the main lane: all)
        self.lane_specs: dict[str, Lane] = {}
        self._batches: dict[str, BatchHandler] = {}
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
        for lane, names in router.lanes.items():
            if self.lane_specs.setdefault(lane, router.lane_specs[lane]) != router.lane_specs[lane]:
                raise ValueError(f"two different lanes are named {lane}")
            self.lanes.setdefault(lane, set()).update(names)
        claimed = [names for names in self.lanes.values()]
        if sum(map(len, claimed)) != len(set().union(*claimed)):
            raise ValueError("a handler is in two lanes")
        self._batches.update(router.batches)

    @property
    def fast_handlers(self) -> set[str]:
        """The handlers of the `FAST_LANE`."""
        return self.lanes.get(FAST_LANE.name, set())

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

    def batch_handler(self, handler_name: str) -> BatchHandler | None:
        """The handler's many-at-once form, when it has one."""
        return self._batches.get(handler_name)
