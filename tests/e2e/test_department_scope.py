"""A reviewer scoped to departments sees the conversations of the staff in them, per WeCom."""

from __future__ import annotations

import time

from archive.review.audit_log import read_audit
from archive.review.reviewers import add_reviewer, parse_scope
from scrm.appkeys import SERVICES
from tests.e2e.conftest import Stack

WHY = "complaint review for the sales team"


def chat(msgid: str, staff: str, customer: str) -> dict[str, object]:
    return {
        "msgid": msgid, "action": "send", "from": customer, "tolist": [staff], "roomid": "",
        "msgtime": int(time.time() * 1000), "msgtype": "text", "text": {"content": "你好"},
    }  # fmt: skip


async def test_department_scope_follows_the_wecom_directory(stack: Stack) -> None:
    state = stack.sandbox.state
    state.add_staff("zhangsan", departments=(2,))
    state.add_staff("lisi", departments=(2, 3))
    state.add_staff("wangwu", departments=(3,))
    messages = [
        chat("d1", "zhangsan", "wmA"),
        chat("d2", "lisi", "wmB"),
        chat("d3", "wangwu", "wmC"),
    ]
    assert (await stack.api("POST", "/api/v1/messages", json=messages))[0] == 200
    await stack.drain()
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    token = await add_reviewer(runtime, "sales", "reviewer", parse_scope("departments:2"))
    auth = {"Authorization": f"Bearer {token}"}

    async def search(**body: object) -> tuple[int, object]:
        return await stack.api(
            "POST", "/api/v1/archive/search", json={"justification": WHY, **body}, headers=auth
        )

    status, found = await search()
    assert status == 200
    assert [m["msgid"] for m in found["messages"]] == ["d1", "d2"]  # type: ignore[index]
    status, _ = await search(staff="wangwu")  # department 3 only: outside the scope
    assert status == 403
    assert (await search(staff="lisi"))[0] == 200
    assert len(stack.sandbox_calls("user/simplelist")) == 1  # cached across queries
    entries = await read_audit(runtime)
    outcomes = [
        (e.fields["actor"], e.fields["outcome"]) for e in entries if e.fields["actor"] == "sales"
    ]
    assert outcomes == [("sales", "allowed"), ("sales", "denied"), ("sales", "allowed")]


async def test_a_parent_department_scope_covers_its_sub_departments(stack: Stack) -> None:
    """Sub-departments come from department/simplelist, not user/simplelist's fetch_child
    (which WeCom no longer documents and the sandbox ignores)."""
    state = stack.sandbox.state
    state.add_department(2, "销售部")
    state.add_department(21, "华东", parentid=2)
    state.add_department(211, "上海", parentid=21)
    state.add_department(3, "客服部")
    state.add_staff("zhangsan", departments=(211,))  # two levels below the scope
    state.add_staff("wangwu", departments=(3,))
    messages = [chat("p1", "zhangsan", "wmA"), chat("p2", "wangwu", "wmB")]
    assert (await stack.api("POST", "/api/v1/messages", json=messages))[0] == 200
    await stack.drain()
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    token = await add_reviewer(runtime, "east", "reviewer", parse_scope("departments:2"))
    status, found = await stack.api(
        "POST", "/api/v1/archive/search", json={"justification": WHY},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert status == 200
    assert [m["msgid"] for m in found["messages"]] == ["p1"]
    listed = {c.query["department_id"] for c in stack.sandbox_calls("user/simplelist")}
    assert listed == {"2", "21", "211"}


async def test_unknown_department_is_refused_and_audited(stack: Stack) -> None:
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    token = await add_reviewer(runtime, "ghost", "reviewer", parse_scope("departments:99"))
    status, body = await stack.api(
        "POST", "/api/v1/archive/search", json={"justification": WHY},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert status == 503 and body["error"]["code"] == "unavailable"
    [entry] = [e for e in await read_audit(runtime) if e.fields["actor"] == "ghost"]
    assert entry.fields["outcome"] == "denied"
