"""Malformed input is a 400/404/422 in the error shape, never a 500 (issue 9 §4).

Each case once crashed a handler: unhashable values where a string was expected, ids that
pass ``str.isdigit()`` but are not ASCII digits, JSON nested deeper than Python recurses,
strings no database can store (a lone surrogate anywhere, NUL on PostgreSQL), ids longer than
their column, numbers past 64 bits, and a signed callback with a 400-digit timestamp.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from archive.review.reviewers import add_reviewer, parse_scope
from scrm.appkeys import SERVICES
from tests.e2e.conftest import Stack

NOW_MS = int(time.time() * 1000)
HUGE = 10**30
RULE: dict[str, Any] = {
    "name": "refund",
    "keywords_any": ["退款"],
    "actions": [{"type": "add_tag", "tag": "退款意向"}],
}
WHY = "complaint #4711 review requested by legal"
DEEP = "[" * 100_000 + "]" * 100_000


def rule(**changes: Any) -> dict[str, Any]:
    return {**RULE, **changes}


def ticket(priority: Any) -> dict[str, Any]:
    return rule(actions=[{"type": "create_ticket", "category": "refund", "priority": priority}])


def cursor(after: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


@dataclass(frozen=True)
class Case:
    """One request; ``body`` is JSON unless it is already text (sent as it is)."""

    method: str
    path: str
    body: Any = None
    status: int = 422
    field: str | None = None
    token: str = "admin"  # admin | reviewer | auditor
    setup: tuple[str, ...] = ()  # "rule": create RULE first (it gets id 1)


CASES: dict[str, Case] = {
    # unhashable values where the validator looked a string up in a set or dict
    "scope-list": Case("POST", "/api/v1/tag-rules", rule(scope=["customer"]), field="scope"),
    "scope-object": Case("POST", "/api/v1/tag-rules", rule(scope={"a": 1}), field="scope"),
    "action-type-list": Case(
        "POST", "/api/v1/tag-rules", rule(actions=[{"type": ["add_tag"]}]), field="actions[0].type"
    ),
    "action-type-object": Case(
        "POST", "/api/v1/tag-rules", rule(actions=[{"type": {}}]), field="actions[0].type"
    ),
    "priority-list": Case("POST", "/api/v1/tag-rules", ticket(["P1"]), field="actions[0].priority"),
    "priority-object": Case(
        "POST", "/api/v1/tag-rules", ticket({"P": 1}), field="actions[0].priority"
    ),
    "patch-scope-list": Case(
        "PATCH", "/api/v1/tag-rules/1", {"scope": []}, field="scope", setup=("rule",)
    ),
    "patch-priority-object": Case(
        "PATCH", "/api/v1/tag-rules/1", ticket({}), field="actions[0].priority", setup=("rule",)
    ),
    "backtest-scope-list": Case(
        "POST",
        "/api/v1/tag-rules/backtest",
        {"rule": rule(scope=[]), "from": 0, "to": 1},
        field="rule.scope",
    ),
    "backtest-type-list": Case(
        "POST",
        "/api/v1/tag-rules/backtest",
        {"rule": rule(actions=[{"type": []}]), "from": 0, "to": 1},
        field="rule.actions[0].type",
    ),
    # ids are ASCII digits only: ² and ① pass isdigit() and fail int(); ١ is int 1
    "rule-id-superscript": Case("GET", "/api/v1/tag-rules/²", status=404),
    "rule-id-circled": Case("PATCH", "/api/v1/tag-rules/①", {}, status=404),
    "rule-id-arabic-indic": Case("GET", "/api/v1/tag-rules/١", status=404, setup=("rule",)),
    "rule-id-fullwidth": Case("DELETE", "/api/v1/tag-rules/１", status=404, setup=("rule",)),
    "rule-id-backtest": Case(
        "POST", "/api/v1/tag-rules/²/backtest", {"from": 0, "to": 1}, status=404
    ),
    "event-id-superscript": Case("POST", "/api/v1/events/²/replay", status=404),
    "event-id-circled": Case("POST", "/api/v1/events/①/replay", status=404),
    "events-cursor-arabic-indic": Case("GET", "/api/v1/events?cursor=١", field="cursor"),
    "events-limit-superscript": Case("GET", "/api/v1/events?limit=²", field="limit"),
    "events-limit-underscore": Case("GET", "/api/v1/events?limit=1_0", field="limit"),
    "hits-cursor-circled": Case("GET", "/api/v1/customers/wmA/tag-hits?cursor=①", status=404),
    "audit-cursor-arabic-indic": Case(
        "GET", "/api/v1/archive/audit?cursor=١", status=400, field="cursor", token="auditor"
    ),
    # JSON nested deeper than the parser can recurse
    "deep-messages": Case("POST", "/api/v1/messages", DEEP, status=400),
    "deep-rule": Case("POST", "/api/v1/tag-rules", '{"name":' + DEEP + "}", status=400),
    "deep-search": Case(
        "POST", "/api/v1/archive/search", '{"keyword":' + DEEP + "}", status=400, token="reviewer"
    ),
    # strings no database stores: a lone surrogate anywhere, NUL on PostgreSQL
    "evaluate-surrogate": Case(
        "POST", "/api/v1/tagging/evaluate", '{"text": "\\ud800 退款"}', status=400, field="text"
    ),
    "rule-name-surrogate": Case(
        "POST", "/api/v1/tag-rules", json.dumps(rule(name="\ud800")), status=400, field="name"
    ),
    "rule-name-nul": Case(
        "POST", "/api/v1/tag-rules", rule(name="re\x00fund"), status=400, field="name"
    ),
    "rule-keyword-nul": Case(
        "POST",
        "/api/v1/tag-rules",
        rule(keywords_any=["退\x00款"]),
        status=400,
        field="keywords_any[0]",
    ),
    "search-customer-nul": Case(
        "POST",
        "/api/v1/archive/search",
        {"justification": WHY, "customer": "wm\x00A"},
        status=400,
        field="customer",
        token="reviewer",
    ),
    "search-keyword-surrogate": Case(
        "POST",
        "/api/v1/archive/search",
        json.dumps({"justification": WHY, "keyword": "\udfff"}),
        status=400,
        field="keyword",
        token="reviewer",
    ),
    "customer-id-nul": Case("GET", "/api/v1/customers/wm%00A", status=404),
    "hits-customer-id-nul": Case("GET", "/api/v1/customers/wm%00A/tag-hits", status=404),
    # ids longer than their column (external_userid is 64 characters)
    "customer-id-65": Case("GET", "/api/v1/customers/" + "w" * 65, status=404),
    "hits-customer-id-65": Case("GET", "/api/v1/customers/" + "w" * 65 + "/tag-hits", status=404),
    # numbers past 64 bits
    "backtest-from-huge": Case(
        "POST",
        "/api/v1/tag-rules/backtest",
        {"rule": RULE, "from": HUGE, "to": HUGE + 1},
        field="from",
    ),
    "saved-backtest-huge": Case(
        "POST",
        "/api/v1/tag-rules/1/backtest",
        {"from": HUGE - 1, "to": HUGE},
        field="from",
        setup=("rule",),
    ),
    "search-from-huge": Case(
        "POST",
        "/api/v1/archive/search",
        {"justification": WHY, "from": HUGE},
        status=400,
        field="from",
        token="reviewer",
    ),
    "search-to-huge": Case(
        "POST",
        "/api/v1/archive/search",
        {"justification": WHY, "to": HUGE},
        status=400,
        field="to",
        token="reviewer",
    ),
    "search-cursor-huge": Case(
        "POST",
        "/api/v1/archive/search",
        {"justification": WHY, "cursor": cursor(HUGE)},
        status=400,
        field="cursor",
        token="reviewer",
    ),
    "export-to-huge": Case(
        "POST",
        "/api/v1/archive/export",
        {"justification": WHY, "to": HUGE},
        status=400,
        field="to",
        token="reviewer",
    ),
    "audit-cursor-huge": Case(
        "GET", f"/api/v1/archive/audit?cursor={HUGE}", status=400, field="cursor", token="auditor"
    ),
    "events-cursor-huge": Case("GET", f"/api/v1/events?cursor={HUGE}", field="cursor"),
    "hits-cursor-huge": Case(
        "GET", f"/api/v1/customers/wmA/tag-hits?cursor={HUGE}", status=404
    ),  # wmA is unknown: 404 before the cursor is read
}


LONG_ID = "wm" + "x" * 63  # 65 characters: the id columns hold 64


@pytest.mark.parametrize("field", ["from", "tolist"])
async def test_a_message_with_a_user_id_over_64_characters_is_refused_per_item(
    stack: Stack, field: str
) -> None:
    """Accepted, it parked the auto-tag run: the hit's external_userid column holds 64."""
    good = {
        "msgid": "OK-1",
        "action": "send",
        "from": "wmA",
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": NOW_MS,
        "msgtype": "text",
        "text": {"content": "退款"},
    }
    bad = {**good, "msgid": "LONG-1", field: LONG_ID if field == "from" else [LONG_ID]}
    status, body = await stack.api("POST", "/api/v1/messages", json=[bad, good])
    assert (status, body["accepted"]) == (200, 1), body
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(0, field)]


@pytest.mark.parametrize("value", ["a\x00b", "\ud800"], ids=["nul", "surrogate"])
async def test_an_unstorable_message_is_refused_and_its_sibling_stored(
    stack: Stack, value: str
) -> None:
    good = {
        "msgid": "OK-2",
        "action": "send",
        "from": "wmA",
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": NOW_MS,
        "msgtype": "text",
        "text": {"content": value},
    }
    bad = {**good, "msgid": "BAD-2"}
    good["text"] = {"content": "ok"}
    status, body = await stack.api("POST", "/api/v1/messages", json=[good, bad])
    assert (status, body["accepted"]) == (200, 1), body
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "text.content")]


async def headers_for(stack: Stack, token: str) -> dict[str, str]:
    if token == "admin":
        return stack.auth
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    secret = await add_reviewer(runtime, f"{token}-1", token, parse_scope("all"))
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_input_is_a_client_error_in_the_error_shape(stack: Stack, case: Case) -> None:
    if "rule" in case.setup:
        status, created = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
        assert (status, created["id"]) == (201, 1)
    headers = await headers_for(stack, case.token)
    kwargs: dict[str, Any] = {}
    if isinstance(case.body, str):
        kwargs["data"] = case.body.encode("utf-8", "surrogatepass")
        headers = {**headers, "Content-Type": "application/json"}
    elif case.body is not None:
        kwargs["json"] = case.body
    status, body = await stack.api(case.method, case.path, headers=headers, **kwargs)
    assert status == case.status, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert set(body["error"]) <= {"code", "message", "field"}
    if case.field is not None:
        assert body["error"].get("field") == case.field, body


@pytest.mark.parametrize(
    "timestamp",
    ["1" * 400, "١٧٠٠٠٠٠٠٠٠", "²", "+1700000000"],
    ids=["400-digits", "arabic-indic", "superscript", "plus-sign"],
)
async def test_signed_callback_with_a_malformed_timestamp_is_400(
    stack: Stack, timestamp: str
) -> None:
    """A timestamp is ASCII digits, at most 12 of them; the signature covers it as text."""
    event = (
        f"<xml><ToUserName><![CDATA[{stack.corp_id}]]></ToUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        "<UserID>zhangsan</UserID><ExternalUserID>wmX</ExternalUserID></xml>"
    )
    encrypt = stack.crypto.encrypt(event.encode())
    params = {
        "msg_signature": stack.crypto.signature(timestamp, "12345", encrypt),
        "timestamp": timestamp,
        "nonce": "12345",
    }
    body = f"<xml><ToUserName>{stack.corp_id}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
    status, answer = await stack.post_callback(params, body)
    assert status == 400, answer
    assert json.loads(answer)["error"]["code"] == "bad_timestamp"
