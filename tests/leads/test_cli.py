"""`run.py leads list|show|claim|release` in a real process, against the stack's database."""

from __future__ import annotations

import json

from scrm.leads.models import Lead
from tests.channels.test_qrcode import run_cli
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel


async def two_leads(stack: Stack) -> list[Lead]:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone="13800000000")
    await visitor.submit(name="李雷", phone="13900000001")
    await stack.drain()
    return list(await Lead.all().order_by("id"))


async def test_list_show_release_and_claim(stack: Stack) -> None:
    first, second = await two_leads(stack)
    code, out, err = await run_cli(stack, "leads", "list")
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(x[0], x[1], x[2], x[4]) for x in lines] == [
        (str(second.id), "139****0001", "李雷", str(second.owner)),
        (str(first.id), "138****0000", "韩梅梅", str(first.owner)),
    ]
    assert "13800000000" not in out  # lists mask the phone
    code, out, err = await run_cli(stack, "leads", "list", "--q", "138 0000 0000", "--json")
    assert code == 0, err
    assert [x["id"] for x in json.loads(out)["leads"]] == [first.id]

    code, out, err = await run_cli(
        stack, "leads", "release", str(first.id), "--by", "zhangsan", "--reason", "暂无需求"
    )
    assert code == 0, err
    released = json.loads(out)
    assert (released["pooled"], released["owner"], released["phone"]) == (
        True,
        None,
        "13800000000",
    )
    assert released["history"][-1]["reason"] == "暂无需求"
    code, out, err = await run_cli(stack, "leads", "list", "--pooled")
    assert [line.split("\t")[4] for line in out.splitlines()] == ["(pool)"]

    code, out, err = await run_cli(stack, "leads", "claim", str(first.id), "--by", "wangwu")
    assert code == 0, err
    assert json.loads(out)["owner"] == "wangwu"
    code, out, err = await run_cli(stack, "leads", "claim", str(first.id), "--by", "zhaoliu")
    assert code == 1 and "not in the pool" in err
    assert (await Lead.get(id=first.id)).owner == "wangwu"

    code, out, err = await run_cli(stack, "leads", "show", str(second.id))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["phone"] == "13900000001"
    assert [h["kind"] for h in shown["history"]] == ["submitted", "assigned"]
    code, out, err = await run_cli(stack, "leads", "show", "999999")
    assert code == 1 and "lead 999999 does not exist" in err
