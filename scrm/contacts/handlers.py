"""Contact events → WeCom re-read → local records. Callbacks are notifications, not state.

Every handler is idempotent: it re-reads WeCom (PROTOCOL §1.7) and writes absolute state, so
a redelivered run changes nothing.
"""

from __future__ import annotations

import logging

from adapters.wecom import WeComAPIError
from scrm.channels.attribution import after_contact_synced
from scrm.contacts import service
from scrm.events.errors import PermanentError
from scrm.events.router import EventRecord, Lane, Router
from scrm.leads.linking import remark_mobile_hashes
from scrm.services import Services

log = logging.getLogger(__name__)
router = Router("contacts")

CONTACT = "change_external_contact"
# The customer is no longer a customer of that member, or outside the app's visibility.
_GONE_ERRCODES = frozenset({84061, 40096})


def _ids(event: EventRecord) -> tuple[str, str]:
    userid = event.payload.get("UserID")
    external_userid = event.payload.get("ExternalUserID")
    if not (isinstance(userid, str) and userid and isinstance(external_userid, str)):
        raise PermanentError("the event has no UserID/ExternalUserID")
    if not external_userid:
        raise PermanentError("the event has no UserID/ExternalUserID")
    return userid, external_userid


ADDS = (f"{CONTACT}.add_external_contact", f"{CONTACT}.add_half_external_contact")


@router.on(f"{CONTACT}.edit_external_contact")
async def sync_contact(event: EventRecord, services: Services) -> None:
    """Re-read the customer and store it with its follow relations, tags, state and the
    hashes of the numbers staff noted on it (edit_external_contact: a remark changed).

    The read may end the relation (WeCom no longer lists it) but never revives one that a
    deletion of the same or a later second ended (see `service`).
    """
    userid, external_userid = _ids(event)
    try:
        detail = await services.wecom.get_external_contact(external_userid)
    except WeComAPIError as exc:
        if exc.errcode in _GONE_ERRCODES:
            log.info("customer no longer visible (errcode %d); ending the relation", exc.errcode)
            await service.end_unlisted_relation(
                external_userid,
                userid,
                occurred_at=event.occurred_at or 0,
                now=services.clock(),
            )
            return
        raise
    status = "pending" if event.name.endswith("add_half_external_contact") else "active"
    await service.apply_contact(
        detail,
        userid=userid,
        occurred_at=event.occurred_at or 0,
        status=status,
        now=services.clock(),
        mobile_hashes=remark_mobile_hashes(services, detail),  # never the numbers themselves
    )
    if not event.name.endswith("edit_external_contact"):  # an add: its channel's tags, notice
        await after_contact_synced(event, services, userid, detail)


# An add's lane: the member is told within seconds, not after a backlog of edits and chat.
# Beside the welcome's (`channels.on_add` on the fast lane), not in it: this run reads WeCom
# and sends a notice, and must not take the slots of a welcome due within 20 s.
ADD_LANE = Lane("contact-adds", per_slot=True)


@router.on(*ADDS, lane=ADD_LANE)
async def sync_added_contact(event: EventRecord, services: Services) -> None:
    """An add: re-read the customer, then mark the channel's tags and tell the staff member.

    Its own name, so the edits that `sync_contact` handles stay in the main lane.
    """
    await sync_contact(event, services)


@router.on(f"{CONTACT}.del_external_contact", f"{CONTACT}.del_follow_user")
async def end_relation(event: EventRecord, services: Services) -> None:
    """Mark the relation ended; it stays for history and attribution."""
    userid, external_userid = _ids(event)
    reason = event.name.rsplit(".", 1)[1]
    if event.payload.get("Source") == "DELETE_BY_TRANSFER":
        reason = "transfer"
    await service.end_relation(
        external_userid,
        userid,
        reason=reason,
        occurred_at=event.occurred_at or 0,
        now=services.clock(),
    )


@router.on(
    "change_external_tag.create",
    "change_external_tag.update",
    "change_external_tag.delete",
    "change_external_tag.shuffle",
)
async def resync_corp_tags(event: EventRecord, services: Services) -> None:
    """Mirror the whole corp tag list; the event only says that something changed."""
    await service.resync_corp_tags(services.wecom, services.clock())


router.ignore(
    f"{CONTACT}.transfer_fail",
    "the relation stays with the original member; nothing changes locally",
)
