"""A lead whose phone a staff member noted on a WeCom customer (备注手机号) is converted.

End to end: the sandbox plays WeCom (``follow_user[].remark_mobiles`` on
``externalcontact/get``, add_external_contact and edit_external_contact callbacks), the service
stores only keyed hashes of the noted numbers, and the linking job converts the lead.
"""

from __future__ import annotations

from scrm.appkeys import SERVICES
from scrm.leads.linking import link_customers
from scrm.leads.models import Lead, LeadEvent
from scrm.models import RemarkMobile
from scrm.sandbox import add_contact, edit_contact
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel

PHONE = "13812345678"


async def submitted_lead(stack: Stack, phone: str = PHONE) -> tuple[dict[str, object], Lead]:
    channel = await form_channel(stack)
    visitor = Visitor(stack, str(channel["state"]))
    await visitor.open()
    status, _, _ = await visitor.submit(name="韩梅梅", phone=phone)
    assert status == 303
    await stack.drain()
    return channel, await Lead.get()


async def link(stack: Stack) -> int:
    return await link_customers(stack.server.app[SERVICES])


async def test_a_customer_added_with_a_matching_remark_mobile_converts_the_lead(
    stack: Stack,
) -> None:
    channel, lead = await submitted_lead(stack)
    assert lead.owner == "zhangsan"
    assert await link(stack) == 0
    # Full-width digits and blanks, as a member might type them on a phone.
    await add_contact(
        stack.sandbox.state,
        stack.sender,
        "lisi",
        external_userid="wmPHONE01",
        remark_mobiles=["０２１-５５５５６６６６", "１３８ １２３４ ５６７８"],
    )
    await stack.drain()
    [noted] = await RemarkMobile.all()  # the landline is no mobile: not kept
    assert noted.phone_hash == lead.phone_hash
    assert await link(stack) == 1
    assert await link(stack) == 0  # once
    after = await Lead.get(id=lead.id)
    assert (after.status, after.external_userid, after.pooled, after.owner) == (
        "converted",
        "wmPHONE01",
        False,
        "zhangsan",
    )
    [event] = await LeadEvent.filter(lead_id=lead.id, kind="linked")
    assert (event.actor, event.reason) == ("system", "phone")
    assert event.data == {
        "external_userid": "wmPHONE01",
        "channel_id": channel["id"],
        "status": "converted",
    }
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "m"})
    assert status == 409  # converted: out of the pool for good
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/claim", json={"by": "m"})
    assert status == 409
    status, customer = await stack.api("GET", "/api/v1/customers/wmPHONE01")
    assert status == 200
    assert customer["leads"] == [
        {
            "id": lead.id,
            "channel_id": channel["id"],
            "channel": "展会表单",
            "status": "converted",
            "owner": "zhangsan",
            "linked_by": "phone",
        }
    ]
    _, timeline = await stack.api("GET", "/api/v1/customers/wmPHONE01/timeline")
    [linked] = [i for i in timeline["items"] if i["type"] == "lead" and i["kind"] == "linked"]
    assert (linked["lead_id"], linked["channel_id"], linked["channel"]) == (
        lead.id,
        channel["id"],
        "展会表单",
    )


async def test_a_remark_mobile_noted_later_converts_a_pooled_lead(stack: Stack) -> None:
    """edit_external_contact: the member notes the number on an existing customer."""
    _, lead = await submitted_lead(stack)
    await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "zhangsan"})
    state = stack.sandbox.state
    await add_contact(state, stack.sender, "lisi", external_userid="wmPHONE02")
    await stack.drain()
    assert await link(stack) == 0
    await edit_contact(
        state, stack.sender, "lisi", "wmPHONE02", remark_mobiles=["+86 138-1234-5678"]
    )
    await stack.drain()
    assert await link(stack) == 1
    after = await Lead.get(id=lead.id)
    assert (after.status, after.external_userid, after.pooled) == ("converted", "wmPHONE02", False)
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/claim", json={"by": "lisi"})
    assert status == 409
    # Clearing the numbers clears their hashes; the conversion stays. (A second edit in the
    # same second would be the same callback, deduped: this one comes a second later.)
    later = state.now() + 1
    await edit_contact(
        state, stack.sender, "lisi", "wmPHONE02", remark_mobiles=[], create_time=later
    )
    await stack.drain()
    assert await RemarkMobile.all().count() == 0
    assert (await Lead.get(id=lead.id)).status == "converted"


async def test_a_lead_submitted_after_the_customer_is_converted_too(stack: Stack) -> None:
    await add_contact(
        stack.sandbox.state,
        stack.sender,
        "lisi",
        external_userid="wmPHONE03",
        remark_mobiles=[PHONE],
    )
    await stack.drain()
    _, lead = await submitted_lead(stack, phone="138 1234 5678")
    assert await link(stack) == 1
    assert (await Lead.get(id=lead.id)).external_userid == "wmPHONE03"


async def test_another_number_or_a_lost_lead_is_not_converted(stack: Stack) -> None:
    _, lead = await submitted_lead(stack)
    await stack.api("PATCH", f"/api/v1/leads/{lead.id}", json={"status": "lost", "by": "zhangsan"})
    await add_contact(
        stack.sandbox.state,
        stack.sender,
        "lisi",
        external_userid="wmOTHER",
        remark_mobiles=["13900000000"],
    )
    await stack.drain()
    assert await link(stack) == 0
    await edit_contact(stack.sandbox.state, stack.sender, "lisi", "wmOTHER", remark_mobiles=[PHONE])
    await stack.drain()
    assert await link(stack) == 1  # linked to the customer, but a lost lead stays lost
    after = await Lead.get(id=lead.id)
    assert (after.status, after.external_userid) == ("lost", "wmOTHER")


async def test_no_noted_number_rests_in_clear(stack: Stack) -> None:
    await add_contact(
        stack.sandbox.state,
        stack.sender,
        "lisi",
        external_userid="wmPHONE04",
        remark_mobiles=[PHONE],
    )
    await stack.drain()
    rows = await RemarkMobile.all().values_list("phone_hash", flat=True)
    assert len(rows) == 1 and PHONE not in rows[0] and len(rows[0]) == 64
