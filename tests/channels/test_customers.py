"""GET /api/v1/customers: the list people ask for first — filters, stable cursor pages."""

from __future__ import annotations

from scrm.sandbox import events as wecom_events
from tests.channels.test_add_flow import make_channel, scan
from tests.e2e.conftest import Stack


async def ids(stack: Stack, query: str) -> list[str]:
    status, page = await stack.api("GET", f"/api/v1/customers?{query}")
    assert status == 200, page
    return [c["external_userid"] for c in page["customers"]]


async def test_filters_and_pages(stack: Stack) -> None:
    channel = await make_channel(stack)
    await scan(stack, channel, "wmLIST0000001", times=1)
    await scan(stack, channel, "wmLIST0000002", times=1)
    state = stack.sandbox.state
    state.add_relation("lisi", "wmLIST0000003", state=None)
    state.customers["wmLIST0000003"].name = "韩梅梅"
    xml = wecom_events.add_external_contact(stack.corp_id, "lisi", "wmLIST0000003")
    assert (await stack.sender.send(xml)).status == 200
    await stack.drain()
    assert await ids(stack, "") == ["wmLIST0000003", "wmLIST0000002", "wmLIST0000001"]
    assert await ids(stack, f"channel={channel['id']}") == ["wmLIST0000002", "wmLIST0000001"]
    assert await ids(stack, "staff=lisi") == ["wmLIST0000003"]
    assert await ids(stack, "q=梅梅") == ["wmLIST0000003"]
    assert await ids(stack, "q=wmLIST0000001") == ["wmLIST0000001"]
    assert await ids(stack, "tag=展会") == ["wmLIST0000002", "wmLIST0000001"]
    tag_id = channel["tags"][0]["tag_id"]
    assert await ids(stack, f"tag={tag_id}&staff=zhangsan") == ["wmLIST0000002", "wmLIST0000001"]
    assert await ids(stack, "status=lost") == []
    first = await stack.api("GET", "/api/v1/customers?limit=2")
    assert [c["external_userid"] for c in first[1]["customers"]] == [
        "wmLIST0000003",
        "wmLIST0000002",
    ]
    cursor = first[1]["next_cursor"]
    assert await ids(stack, f"limit=2&cursor={cursor}") == ["wmLIST0000001"]
    _, page = await stack.api("GET", "/api/v1/customers?q=韩")
    [summary] = page["customers"]
    assert summary["status"] == "active" and summary["staff"] == ["lisi"]
    assert summary["source"]["state"] == "unattributed"


async def test_bad_parameters_are_422_naming_them(stack: Stack) -> None:
    for query, field in (
        ("status=sleeping", "status"),
        ("limit=0", "limit"),
        ("channel=x", "channel"),
        ("cursor=-5", "cursor"),
        ("q=" + "x" * 65, "q"),
        ("q=a%00b", "q"),
        ("staff=" + "x" * 65, "staff"),
    ):
        status, body = await stack.api("GET", f"/api/v1/customers?{query}")
        assert (status, body["error"]["field"]) == (422, field), query
