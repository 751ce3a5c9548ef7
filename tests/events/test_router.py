import logging

import pytest

from scrm.events.router import Dispatcher, EventRecord, Router


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
