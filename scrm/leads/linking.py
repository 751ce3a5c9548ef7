"""A lead who became a WeCom customer: the same unionid, or the same phone number.

When a WeCom customer appears whose ``unionid`` matches a lead's (a mini-program submission)
or a mini-program scan's, or on whom a staff member noted a mobile number (``remark_mobiles``,
备注手机号) that is a lead's phone, the lead is linked to the customer and counts as converted
(it leaves the public pool for good; a lead already closed keeps its status), and the scans
carry the customer's id. Phones are compared only as keyed hashes (`archive.keys.pii`): the
contacts sync stores the hash of each noted number, normalised like a form's phone, never the
number. A scheduler job does this from the database, so the order in which the two worlds
learn of the person is free.
"""

from __future__ import annotations

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from adapters.wecom import ExternalContactDetail
from scrm.leads.models import OPEN_STATUSES, Lead, LeadEvent, MiniProgramScan
from scrm.leads.phone import parse_phone
from scrm.leads.service import phone_hash
from scrm.models import Customer, RemarkMobile
from scrm.services import Services

BATCH = 500
# A half-added contact (好友申请 not yet accepted) is not a customer yet.
_NOT_YET = "pending"


def remark_mobile_hashes(
    services: Services, detail: ExternalContactDetail
) -> dict[str, list[str]] | None:
    """Per listed member, the keyed hashes of the mainland mobiles they noted on the customer
    (full-width digits, blanks, dashes and +86 normalised); None without the key ring."""
    if services.pii is None:
        return None
    found: dict[str, list[str]] = {}
    for follow in detail.follow_user:
        phones = {phone for raw in follow.remark_mobiles if (phone := parse_phone(raw))}
        found[follow.userid] = sorted(phone_hash(services, phone) for phone in phones)
    return found


async def link_customers(services: Services) -> int:
    """Link leads (and scans) to customers by unionid, then by phone; the leads linked."""
    return await _link_by_unionid(services) + await _link_by_phone(services)


async def _link_by_unionid(services: Services) -> int:
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
    for unionid, external_userid in customers:
        await MiniProgramScan.filter(unionid=unionid, external_userid__isnull=True).update(
            external_userid=external_userid
        )
        for lead in await Lead.filter(unionid=unionid, external_userid__isnull=True):
            linked += await _link(services, lead, external_userid, "unionid")
    return linked


async def _link_by_phone(services: Services) -> int:
    noted = RemarkMobile.filter(relation__status__not=_NOT_YET).values("phone_hash")
    leads = await Lead.filter(external_userid__isnull=True, phone_hash__in=Subquery(noted)).limit(
        BATCH
    )
    linked = 0
    for lead in leads:
        # The number noted most recently wins when two customers carry it.
        external_userid = (
            await RemarkMobile.filter(phone_hash=lead.phone_hash, relation__status__not=_NOT_YET)
            .order_by("-id")
            .limit(1)
            .values_list("relation__customer__external_userid", flat=True)
        )
        if external_userid:
            linked += await _link(services, lead, str(external_userid[0]), "phone")
    return linked


async def _link(services: Services, lead: Lead, external_userid: str, reason: str) -> int:
    """Convert ``lead`` to the customer once (a lead linked meanwhile is left alone)."""
    now = services.clock()
    closed = lead.status if lead.status not in OPEN_STATUSES else "converted"
    async with in_transaction():
        done = await Lead.filter(id=lead.id, external_userid__isnull=True).update(
            external_userid=external_userid, status=closed, pooled=False, updated_at=now
        )
        if done:
            await LeadEvent.create(
                lead_id=lead.id,
                kind="linked",
                actor="system",
                reason=reason,
                data={
                    "external_userid": external_userid,
                    "channel_id": lead.channel_id,  # type: ignore[attr-defined]
                    "status": closed,
                },
                at=now,
            )
    return int(done)
