"""Attribution across the mini-program and WeCom: the same unionid is the same person.

When a WeCom customer appears whose ``unionid`` matches a lead's (a mini-program submission)
or a mini-program scan's, the lead is linked to the customer and counts as converted (it
leaves the public pool for good), and the scans carry the customer's id. A scheduler job does
this from the database, so the order in which the two worlds learn of the person is free.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from scrm.leads.models import OPEN_STATUSES, Lead, LeadEvent, MiniProgramScan
from scrm.models import Customer
from scrm.services import Services

BATCH = 500


async def link_customers(services: Services) -> int:
    """Link leads and scans to customers with the same unionid; the number of leads linked."""
    unionids = set(
        await Lead.filter(unionid__isnull=False, external_userid__isnull=True)
        .limit(BATCH)
        .values_list("unionid", flat=True)
    ) | set(
        await MiniProgramScan.filter(unionid__isnull=False, external_userid__isnull=True)
        .limit(BATCH)
        .values_list("unionid", flat=True)
    )
    if not unionids:
        return 0
    customers = await Customer.filter(unionid__in=unionids).values_list(
        "unionid", "external_userid"
    )
    linked = 0
    now = services.clock()
    for unionid, external_userid in customers:
        await MiniProgramScan.filter(unionid=unionid, external_userid__isnull=True).update(
            external_userid=external_userid
        )
        for lead in await Lead.filter(unionid=unionid, external_userid__isnull=True):
            async with in_transaction():
                closed = lead.status if lead.status not in OPEN_STATUSES else "converted"
                done = await Lead.filter(id=lead.id, external_userid__isnull=True).update(
                    external_userid=external_userid, status=closed, pooled=False, updated_at=now
                )
                if done:
                    await LeadEvent.create(
                        lead_id=lead.id,
                        kind="linked",
                        actor="system",
                        reason="unionid",
                        data={"external_userid": external_userid, "status": closed},
                        at=now,
                    )
                    linked += done
    return linked
