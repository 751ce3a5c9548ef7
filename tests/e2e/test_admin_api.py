"""The admin API: auth, error shape, inbox stats, dead letters and replay, customers."""

from __future__ import annotations

import pytest

from scrm.models import HandlerRun
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_missing_or_wrong_token_is_401(stack: Stack, headers: dict[str, str]) -> None:
    status, body = await stack.api("GET", "/api/v1/events/stats", headers=headers)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert set(body["error"]) == {"code", "message"}


async def test_openapi_is_public_and_lists_every_route(stack: Stack) -> None:
    status, spec = await stack.api("GET", "/api/v1/openapi.json", headers={})
    assert status == 200
    documented = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {
        (route.resource.canonical, route.method)
        for route in stack.server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(("/api/v1/", "/mp/"))
        and route.method != "HEAD"
        and route.resource.canonical != "/api/v1/openapi.json"
    }
    assert documented == served


async def test_unknown_route_and_method_use_the_error_shape(stack: Stack) -> None:
    status, body = await stack.api("GET", "/api/v1/nothing-here")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await stack.api("DELETE", "/api/v1/events/stats")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=-1", "cursor"),
    ],
)
async def test_bad_list_parameters_are_422_naming_the_field(
    stack: Stack, query: str, field: str
) -> None:
    status, body = await stack.api("GET", f"/api/v1/events?{query}")
    assert status == 422
    assert body["error"]["field"] == field


async def test_dead_letter_listing_and_replay(stack: Stack) -> None:
    stack.sandbox.state.add_relation("zhangsan", "wmDEAD000001")
    # externalcontact/get keeps failing with a terminal errcode: the run is parked as dead
    stack.sandbox.state.faults.inject("externalcontact/get", kind="errcode", errcode=40003, count=1)
    await stack.sender.send(
        wecom_events.add_external_contact(stack.corp_id, "zhangsan", "wmDEAD000001")
    )
    await stack.drain()
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    # channels.on_add is done; contacts.sync_added_contact (both on the fast lane) is dead
    assert stats == {
        "events": {"received": 1},
        "runs": {"pending": 0, "running": 0, "done": 1, "dead": 1, "expired": 0},
    }
    status, page = await stack.api("GET", "/api/v1/events?status=dead")
    assert status == 200
    [event] = page["events"]
    assert event["name"] == "change_external_contact.add_external_contact"
    [run] = [r for r in event["runs"] if r["handler"] == "contacts.sync_added_contact"]
    assert run["status"] == "dead"
    assert "40003" in run["last_error"]
    assert page["next_cursor"] is None

    status, body = await stack.api("POST", f"/api/v1/events/{event['id']}/replay")
    assert (status, body) == (
        200,
        {"event_id": event["id"], "replayed": ["contacts.sync_added_contact"]},
    )
    await stack.drain()
    assert (await HandlerRun.get(handler="contacts.sync_added_contact")).status == "done"
    status, customer = await stack.api("GET", "/api/v1/customers/wmDEAD000001")
    assert status == 200 and customer["follow_users"][0]["userid"] == "zhangsan"

    status, body = await stack.api("POST", f"/api/v1/events/{event['id']}/replay")
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, body = await stack.api("POST", "/api/v1/events/999999/replay")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_stats_count_events_and_their_handler_runs_apart(stack: Stack) -> None:
    # One chat message is one event fanned out to two runs (archive and auto-tagging).
    message = {
        "msgid": "STATS-1", "action": "send", "from": "wmSTATS0001", "tolist": ["zhangsan"],
        "roomid": "", "msgtime": 1_796_000_000_000, "msgtype": "text", "text": {"content": "hi"},
    }  # fmt: skip
    assert (await stack.api("POST", "/api/v1/messages", json=[message]))[1]["accepted"] == 1
    await stack.drain()
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    assert stats == {
        "events": {"received": 1},
        "runs": {"pending": 0, "running": 0, "done": 2, "dead": 0, "expired": 0},
    }


async def test_transient_wecom_errors_are_retried_inside_the_run(stack: Stack) -> None:
    stack.sandbox.state.add_relation("zhangsan", "wmBUSY00001")
    stack.sandbox.state.faults.inject("externalcontact/get", kind="errcode", errcode=-1, count=1)
    stack.sandbox.state.faults.inject("externalcontact/get", kind="errcode", errcode=42001, count=1)
    await stack.sender.send(
        wecom_events.add_external_contact(stack.corp_id, "zhangsan", "wmBUSY00001")
    )
    await stack.drain()
    _, stats = await stack.api("GET", "/api/v1/events/stats")
    assert stats["runs"]["done"] == 2  # contacts.sync_added_contact and channels.on_add
    # the token refreshed once after 42001; customer calls and the new-customer notice
    # (message/send) both use the self-built app by default, so they share that token
    assert len(stack.sandbox_calls("gettoken")) == 2
    assert len(stack.sandbox_calls("message/send")) == 1


async def test_events_are_paged_newest_first(stack: Stack) -> None:
    for n in range(3):
        stack.sandbox.state.add_relation("zhangsan", f"wmPAGE{n:06d}")
        await stack.sender.send(
            wecom_events.add_external_contact(stack.corp_id, "zhangsan", f"wmPAGE{n:06d}")
        )
    _, first = await stack.api("GET", "/api/v1/events?limit=2")
    assert len(first["events"]) == 2 and first["next_cursor"] is not None
    _, second = await stack.api("GET", f"/api/v1/events?limit=2&cursor={first['next_cursor']}")
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert second["next_cursor"] is None


async def test_unknown_customer_is_404(stack: Stack) -> None:
    status, body = await stack.api("GET", "/api/v1/customers/wmNOBODY")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_health_and_readiness_and_metrics(stack: Stack) -> None:
    assert await stack.api("GET", "/healthz", headers={}) == (200, {"status": "ok"})
    status, ready = await stack.api("GET", "/readyz", headers={})
    assert (status, ready["status"]) == (200, "ready")
    assert ready["checks"] == {"database": "ok", "kv": "ok", "wecom_customer_api": "ok"}
    status, text = await stack.api("GET", "/metrics", headers={})
    assert status == 200 and b"scrm_callbacks_total" in text
