"""An add and a delete of the same second: the deletion wins, whatever order handlers run in.

WeCom's CreateTime has one-second resolution, so `simulate`'s scan-then-delete pair carries one
value. A customer who deletes a staff member may still be listed with that member by
``externalcontact/get`` (a one-sided relation), so the re-read cannot settle it either. Each
test runs on SQLite and on PostgreSQL (the `stack` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.wecom import ExternalContactDetail, WeComClient
from scrm.appkeys import DISPATCHER, SERVICES
from scrm.events.worker import Worker
from scrm.models import FollowRelation
from scrm.sandbox import add_contact, remove_contact
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack

ADD = "contacts.sync_added_contact"
DELETE = "contacts.end_relation"
ORDERS = ("add_first", "delete_first", "add_reads_then_delete_commits")


class ReadThenWait:
    """The service's WeCom client, except that a read of customer ``stalled`` returns only
    when `go` is set: lets a test commit a deletion between an add's read and its write."""

    def __init__(self, client: WeComClient, stalled: str) -> None:
        self._client = client
        self._stalled = stalled
        self.read_done = asyncio.Event()
        self.go = asyncio.Event()

    async def get_external_contact(self, external_userid: str) -> ExternalContactDetail:
        try:
            return await self._client.get_external_contact(external_userid)
        finally:  # also when WeCom answers an errcode (the member deleted the customer)
            if external_userid == self._stalled:
                self.read_done.set()
                await self.go.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def run_in_order(stack: Stack, order: str, *, stalled: str) -> None:
    """Execute every due run, the adds and the deletes in ``order``. In the interleaved order
    the adds run at once, the read of customer ``stalled`` is held until every delete has
    committed, and then the adds write."""
    app = stack.server.app
    services = app[SERVICES]
    worker = Worker(services.db, app[DISPATCHER], services, stack.settings.worker)
    runs = await worker.claim(100)
    adds = [run for run in runs if run.handler == ADD]
    deletes = [run for run in runs if run.handler == DELETE]
    others = [run for run in runs if run.handler not in (ADD, DELETE)]  # channels.on_add
    assert adds and deletes and {run.handler for run in others} <= {"channels.on_add"}
    if order == "add_first":
        outcomes = [await worker.execute(run) for run in adds + deletes]
    elif order == "delete_first":
        outcomes = [await worker.execute(run) for run in deletes + adds]
    else:
        real = services.wecom
        gate = ReadThenWait(real, stalled)
        services.wecom = gate  # type: ignore[assignment]
        try:
            pending = asyncio.gather(*(worker.execute(run) for run in adds))
            await gate.read_done.wait()
            outcomes = [await worker.execute(run) for run in deletes]
            gate.go.set()
            outcomes += await pending
        finally:
            services.wecom = real
    outcomes += [await worker.execute(run) for run in others]  # the channel's welcome lane
    assert set(outcomes) == {"done"}
    assert await worker.drain() == 0


async def relation_of(external_userid: str, userid: str = "zhangsan") -> FollowRelation:
    return await FollowRelation.get(userid=userid, customer__external_userid=external_userid)


async def follow_statuses(stack: Stack, external_userid: str) -> dict[str, str]:
    status, customer = await stack.api("GET", f"/api/v1/customers/{external_userid}")
    assert status == 200
    return {f["userid"]: f["status"] for f in customer["follow_users"]}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("deleted_by", "reason"),
    [
        ("customer", "del_follow_user"),  # the read still lists the member (one-sided)
        ("staff", "del_external_contact"),  # the read no longer lists the member
    ],
)
async def test_a_deletion_of_the_same_second_wins(
    stack: Stack, order: str, deleted_by: str, reason: str
) -> None:
    state = stack.sandbox.state
    second = state.now()
    customer = "wmSAMESECOND0001"
    await add_contact(state, stack.sender, "zhangsan", external_userid=customer, create_time=second)
    await remove_contact(
        state,
        stack.sender,
        "zhangsan",
        customer,
        by_customer=deleted_by == "customer",
        create_time=second,
    )
    await run_in_order(stack, order, stalled=customer)
    relation = await relation_of(customer)
    assert (relation.status, relation.ended_reason, relation.ended_at) == (
        "ended",
        reason,
        second,
    )
    assert await follow_statuses(stack, customer) == {"zhangsan": "ended"}


@pytest.mark.parametrize(
    "change", ["add_external_contact", "edit_external_contact", "add_half_external_contact"]
)
async def test_no_add_of_the_same_second_revives_an_ended_relation(
    stack: Stack, change: str
) -> None:
    state = stack.sandbox.state
    second = state.now()
    customer = "wmSAMESECOND0002"
    state.add_relation("zhangsan", customer, createtime=second)
    await remove_contact(
        state, stack.sender, "zhangsan", customer, by_customer=True, create_time=second
    )
    await stack.drain()
    late = getattr(wecom_events, change)(stack.corp_id, "zhangsan", customer, create_time=second)
    assert (await stack.sender.send(late)).status == 200
    await stack.drain()
    assert (await relation_of(customer)).status == "ended"


@pytest.mark.parametrize("by_customer", [True, False])
async def test_a_real_re_add_one_second_later_reactivates(stack: Stack, by_customer: bool) -> None:
    state = stack.sandbox.state
    second = state.now()
    customer = "wmREADDED0000001"
    await add_contact(state, stack.sender, "zhangsan", external_userid=customer, create_time=second)
    await remove_contact(
        state, stack.sender, "zhangsan", customer, by_customer=by_customer, create_time=second
    )
    await stack.drain()
    assert (await relation_of(customer)).status == "ended"
    await add_contact(
        state, stack.sender, "zhangsan", external_userid=customer, create_time=second + 1
    )
    await stack.drain()
    relation = await relation_of(customer)
    assert (relation.status, relation.ended_reason, relation.last_event_at) == (
        "active",
        None,
        second + 1,
    )


async def test_a_read_that_no_longer_lists_the_member_ends_the_relation(stack: Stack) -> None:
    """The staff member deleted the customer, and its event is still on the way."""
    state = stack.sandbox.state
    second = state.now()
    customer = "wmUNLISTED000001"
    await add_contact(state, stack.sender, "zhangsan", external_userid=customer, create_time=second)
    state.add_relation("lisi", customer, createtime=second)
    await stack.drain()
    assert await follow_statuses(stack, customer) == {"zhangsan": "active", "lisi": "active"}
    state.relations[("zhangsan", customer)].deleted_by_staff = True  # no callback yet
    edited = wecom_events.edit_external_contact(
        stack.corp_id, "zhangsan", customer, create_time=second + 1
    )
    assert (await stack.sender.send(edited)).status == 200
    await stack.drain()
    relation = await relation_of(customer)
    assert (relation.status, relation.ended_reason) == ("ended", "not_listed")
    assert await follow_statuses(stack, customer) == {"zhangsan": "ended", "lisi": "active"}
    deleted = wecom_events.del_external_contact(
        stack.corp_id, "zhangsan", customer, create_time=second + 1
    )
    assert (await stack.sender.send(deleted)).status == 200  # the delete event, same second
    await stack.drain()
    assert (await relation_of(customer)).ended_reason == "del_external_contact"


@pytest.mark.parametrize("errcode", [84061, 40096])
async def test_a_read_answering_not_a_customer_ends_the_relation(
    stack: Stack, errcode: int
) -> None:
    state = stack.sandbox.state
    second = state.now()
    customer = "wmGONE0000000001"
    await add_contact(state, stack.sender, "zhangsan", external_userid=customer, create_time=second)
    await stack.drain()
    state.faults.inject("externalcontact/get", errcode=errcode)
    edited = wecom_events.edit_external_contact(
        stack.corp_id, "zhangsan", customer, create_time=second + 1
    )
    assert (await stack.sender.send(edited)).status == 200
    await stack.drain()
    relation = await relation_of(customer)
    assert (relation.status, relation.ended_reason) == ("ended", "not_listed")


async def test_an_older_read_of_a_gone_customer_changes_nothing(stack: Stack) -> None:
    state = stack.sandbox.state
    second = state.now()
    customer = "wmGONE0000000002"
    await add_contact(state, stack.sender, "zhangsan", external_userid=customer, create_time=second)
    await stack.drain()
    state.faults.inject("externalcontact/get", errcode=84061)
    late = wecom_events.edit_external_contact(
        stack.corp_id, "zhangsan", customer, create_time=second - 5
    )
    assert (await stack.sender.send(late)).status == 200
    await stack.drain()
    assert (await relation_of(customer)).status == "active"


@pytest.mark.parametrize("order", ORDERS)
async def test_simulate_deleted_customer_ends_deleted(stack: Stack, order: str) -> None:
    """`run.py simulate`'s fair: five scans of one contact way, then the last customer deletes
    the staff member — all in one second. The deleted one ends `ended` in every order."""
    state = stack.sandbox.state
    state.add_staff("zhangsan")
    wecom = stack.server.app[SERVICES].wecom
    way = await wecom.add_contact_way(user=["zhangsan"], state="fair_2026", remark="展会")
    second = state.now()
    added = []
    for n in range(5):
        result = await add_contact(
            state, stack.sender, config_id=way.config_id, name=f"客户{n + 1}", create_time=second
        )
        added.append(result.relation.external_userid)
    gone = added[-1]
    await remove_contact(
        state, stack.sender, "zhangsan", gone, by_customer=True, create_time=second
    )
    await run_in_order(stack, order, stalled=gone)
    for customer in added[:-1]:
        assert await follow_statuses(stack, customer) == {"zhangsan": "active"}
    assert await follow_statuses(stack, gone) == {"zhangsan": "ended"}
    _, body = await stack.api("GET", f"/api/v1/customers/{gone}")
    assert body["follow_users"][0]["state"] == "fair_2026"  # the channel stays attributed
