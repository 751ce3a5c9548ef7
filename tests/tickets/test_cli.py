"""`run.py tickets …` against a real database: the service layer's rules, the API's answers."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from config import Settings
from run import ROUTERS, main
from scrm.db import close_database, open_database
from scrm.models import Event
from scrm.tickets import cli, service
from scrm.tickets.models import GroupChannel, Ticket, TicketEvent, TicketNotice, TicketRoute


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


async def run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return await cli.run_command(parser.parse_args(list(argv)), settings, ROUTERS)


async def seed(settings: Settings) -> list[Ticket]:
    """Two tickets routed to a person (a `user` group channel): one for lisi, one unassigned."""
    db = await open_database(settings.database_url)
    try:
        now = time.time()
        channel = await GroupChannel.create(
            name="值班", kind="user", target="lisi", created_at=now, updated_at=now
        )
        definition = {"match": {}, "channels": [channel.id], "assignees": []}
        await TicketRoute.create(
            name="all",
            definition=json.dumps(definition),
            is_default=True,
            created_at=now,
            updated_at=now,
        )
        tickets = []
        for title, assignee in (("退款", "lisi"), ("发票", None)):
            new = service.NewTicket(
                title=title, category="billing", priority="P2", source="api", assignee=assignee
            )
            tickets.append(await service.create_ticket(db, new, now, settings.public_url))
        await TicketNotice.all().update(status="sent")  # the creation notices: gone out
        return tickets
    finally:
        await close_database()


async def test_list_filters_and_show_reads_by_number_or_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = await seed(settings)
    assert await run(settings, "tickets", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [second.number, first.number]  # newest first
    assert lines[1].split("\t") == [
        first.number,
        str(first.id),
        "assigned",
        "P2",
        "lisi",
        "billing",
        "退款",
    ]
    assert await run(settings, "tickets", "list", "--assignee", "lisi") == 0
    assert capsys.readouterr().out.split("\t")[0] == first.number
    assert await run(settings, "tickets", "list", "--status", "open") == 0
    assert capsys.readouterr().out.split("\t")[0] == second.number
    assert await run(settings, "tickets", "list", "--status", "closed") == 0
    assert capsys.readouterr().out == ""

    assert await run(settings, "tickets", "show", first.number) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{first.number}  退款") and "timeline:" in shown
    assert "created" in shown and "assignee lisi" in shown
    assert await run(settings, "tickets", "show", str(first.id), "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["number"] == first.number and answer["timeline"][0]["kind"] == "created"


async def test_transition_and_comment_go_through_the_service_and_ring_the_workers(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = await seed(settings)
    move = ("tickets", "transition", first.number, "--to", "in_progress", "--by", "lisi")
    assert await run(settings, *move, "--note", "在查") == 0
    assert capsys.readouterr().out.split("\t")[2] == "in_progress"
    assert (
        await run(settings, "tickets", "comment", str(first.id), "--by", "lisi", "--text", "已退")
        == 0
    )
    capsys.readouterr()

    await open_database(settings.database_url)
    try:
        ticket = await Ticket.get(id=first.id)
        assert (ticket.status, ticket.first_response_by) == ("in_progress", "lisi")
        kinds = (
            await TicketEvent.filter(ticket_id=first.id)
            .order_by("id")
            .values_list("kind", flat=True)
        )
        assert list(kinds) == ["created", "transition", "first_response", "comment"]
        note = await TicketEvent.get(ticket_id=first.id, kind="transition")
        assert json.loads(note.data)["note"] == "在查"
        # Queued with each change and rung into the inbox for the service's workers.
        assert await TicketNotice.filter(status="pending").count() == 2
        assert await Event.filter(name="ticket.notices_queued").count() == 2
    finally:
        await close_database()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("show", "T-20200101-0001"), "ticket T-20200101-0001 does not exist"),
        (("show", "nonsense"), "ticket nonsense does not exist"),
        (("show", "²"), "ticket ² does not exist"),  # isdigit() is true, int() fails
        (("transition", "{id}", "--to", "closed", "--by", "lisi"), "allowed: waiting_customer"),
        (("comment", "{id}", "--by", "lisi", "--text", ""), "(text)"),
        (("comment", "{id}", "--by", "x" * 65, "--text", "好"), "(by)"),
        (("list", "--limit", "0"), "(limit)"),
    ],
)
async def test_bad_input_is_one_line_and_exit_1_and_changes_nothing(
    settings: Settings, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    first, _ = await seed(settings)
    await run(settings, "tickets", "transition", str(first.id), "--to", "in_progress", "--by", "a")
    capsys.readouterr()
    argv = tuple(arg.format(id=first.id) for arg in argv)
    assert await run(settings, "tickets", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    await open_database(settings.database_url)
    try:
        assert await TicketEvent.filter(ticket_id=first.id).count() == 3  # created, moved, first
    finally:
        await close_database()


def test_run_py_knows_the_tickets_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tickets", "--help"])
    assert exited.value.code == 0
    assert "transition" in capsys.readouterr().out
