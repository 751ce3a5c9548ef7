import logging
from collections.abc import Sequence

import pytest

from scrm.events.router import FAST_LANE, Dispatcher, EventRecord, Lane, Router


async def noop(event: EventRecord, services: object) -> None:
    return None


def test_fan_out_across_routers_in_registration_order() -> None:
    archive, tagging = Router("archive"), Router("tagging")

    @archive.on("message.text")
    async def store(event: EventRecord, services: object) -> None: ...

    tagging.register("message.text", noop, name="match")
    dispatcher = Dispatcher([archive, tagging])
    assert dispatcher.handlers_for("message.text") == ["archive.store", "tagging.match"]
    assert dispatcher.handler("tagging.match") is noop


def test_decorator_registers_several_events() -> None:
    router = Router("contacts")

    @router.on("a.add", "a.edit")
    async def sync(event: EventRecord, services: object) -> None: ...

    dispatcher = Dispatcher([router])
    assert dispatcher.handlers_for("a.add") == ["contacts.sync"]
    assert dispatcher.handlers_for("a.edit") == ["contacts.sync"]


def test_duplicate_registration_is_refused() -> None:
    router = Router("x")
    router.register("e", noop)
    with pytest.raises(ValueError, match=r"x\.noop is already registered"):
        router.register("e", noop)


def test_unknown_event_logged_once_ignored_never(caplog: pytest.LogCaptureFixture) -> None:
    router = Router("contacts")
    router.ignore("change_external_chat.create", "groups are synced by the groups feature")
    dispatcher = Dispatcher([router])
    with caplog.at_level(logging.INFO):
        assert dispatcher.handlers_for("something.new") == []
        assert dispatcher.handlers_for("something.new") == []
        assert dispatcher.handlers_for("change_external_chat.create") == []
    assert [r.message for r in caplog.records].count(
        "no handler for event something.new; stored without processing"
    ) == 1
    assert "change_external_chat" not in caplog.text


def test_lanes_collect_their_handlers_across_routers() -> None:
    contacts, tickets = Router("contacts"), Router("tickets")
    contacts.register("a.add", noop, name="welcome", fast=True)
    contacts.register("a.add", noop, name="sync_added", lane=Lane("adds", per_slot=True))
    contacts.register("a.edit", noop, name="sync")
    tickets.register("t.requested", noop, name="open", lane=FAST_LANE)
    tickets.register("chat.message", noop, name="match", lane=Lane("tagging"))
    dispatcher = Dispatcher([contacts, tickets])
    assert dispatcher.lanes == {
        "fast": {"contacts.welcome", "tickets.open"},
        "adds": {"contacts.sync_added"},
        "tagging": {"tickets.match"},
    }
    assert dispatcher.lane_specs["adds"].per_slot and not dispatcher.lane_specs["tagging"].per_slot
    assert dispatcher.fast_handlers == {"contacts.welcome", "tickets.open"}


def test_a_handler_is_in_one_lane_only() -> None:
    router = Router("x")
    router.register("a", noop, lane=Lane("one"))
    with pytest.raises(ValueError, match=r"x\.noop is already in the one lane"):
        router.register("b", noop, lane=Lane("two"))
    with pytest.raises(ValueError, match="two different lanes are named one"):
        router.register("c", noop, name="other", lane=Lane("one", per_slot=True))
    other = Router("x")
    other.register("c", noop, lane=Lane("two"))
    with pytest.raises(ValueError, match="a handler is in two lanes"):
        Dispatcher([router, other])


async def test_a_batch_handler_is_one_handler_for_all_its_events() -> None:
    router = Router("archive")
    seen: list[list[int]] = []

    @router.on_batch("chat.message", "message.text", name="store")
    async def store(events: Sequence[EventRecord], services: object) -> None:
        seen.append([event.id for event in events])

    dispatcher = Dispatcher([router])
    assert dispatcher.batch_handler("archive.store") is store
    single = dispatcher.handler("archive.store")
    assert single is not None
    assert dispatcher.handlers_for("message.text") == ["archive.store"]
    await single(EventRecord(7, "chat.message", "api", {}, None), object())  # type: ignore[arg-type]
    assert seen == [[7]]  # a lone run: a batch of one
