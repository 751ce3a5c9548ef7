"""Who may open which staff page. Anyone else gets 403 (and it is logged).

- **A customer** (``/s/customers/{external_userid}``): a member who follows the customer (a
  follow relation that has not ended), who owns a lead converted to that customer, or who is
  the assignee of one of the customer's open tickets. A member the customer deleted no longer
  sees them.
- **A lead** (``/s/leads/{id}``): its owner; and, while it is in the public pool (公海),
  every member, so they can claim it — with the phone masked. Only the owner sees the phone
  in full, changes the status and writes follow-ups.
- **A ticket** (``/s/tickets/{id}``): its assignee, a member of its route's ``assignees``, and
  anyone a notice about this ticket was addressed to in person (a ``user`` group channel:
  the route's or its escalation's, or the assignee's manager told of a breach). Whoever may
  see it may comment and move it; the actor is always the signed-in member.
"""

from __future__ import annotations

from scrm.leads.models import Lead
from scrm.models import FollowRelation
from scrm.tickets.models import GroupChannel, Ticket, TicketNotice
from scrm.tickets.service import route_by_id
from scrm.tickets.states import OPEN_STATUSES

LIVE = ("active", "pending")


async def may_see_customer(userid: str, external_userid: str) -> bool:
    if await FollowRelation.exists(
        customer__external_userid=external_userid, userid=userid, status__in=LIVE
    ):
        return True
    if await Lead.exists(external_userid=external_userid, owner=userid):
        return True
    return await Ticket.exists(customer=external_userid, assignee=userid, status__in=OPEN_STATUSES)


def may_see_lead(userid: str, lead: Lead) -> bool:
    return lead.owner == userid or (lead.pooled and lead.owner is None)


def owns_lead(userid: str, lead: Lead) -> bool:
    return lead.owner == userid and not lead.pooled


async def may_see_ticket(userid: str, ticket: Ticket) -> bool:
    if ticket.assignee == userid:
        return True
    route = await route_by_id(ticket.route_id)
    if route is not None and userid in route.assignees:
        return True
    mine = await GroupChannel.filter(kind="user", target=userid).values_list("id", flat=True)
    return bool(mine) and await TicketNotice.exists(ticket_id=ticket.id, channel_id__in=mine)
