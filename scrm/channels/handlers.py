"""The channel side of an add (PROTOCOL §4.5): welcome first, on the fast lane.

``channels.on_add`` runs in its own worker lane so it never waits behind a backlog: WeCom
takes a welcome only within 20 s of the add, and only once. It sends the channel's welcome
(at most once per WelcomeCode, through the ledger), links the customer to the channel, and
takes a member who reached the daily cap off the code. Tags and the staff notice follow in
the contacts handler once the customer is re-read (`attribution.after_contact_synced`).
"""

from __future__ import annotations

import logging
from typing import Any

from scrm.channels.links import link_add
from scrm.channels.models import Channel
from scrm.channels.staffing import check_cap
from scrm.channels.state import channel_for_state
from scrm.effects import Outcome, effect_key
from scrm.events.errors import PermanentError
from scrm.events.router import EventRecord, Router
from scrm.services import Services

log = logging.getLogger(__name__)
router = Router("channels")

CONTACT = "change_external_contact"
ADDS = (f"{CONTACT}.add_external_contact", f"{CONTACT}.add_half_external_contact")


@router.on(*ADDS, fast=True)
async def on_add(event: EventRecord, services: Services) -> None:
    """Welcome, link to the channel, enforce the cap — in that order."""
    userid = event.payload.get("UserID")
    external_userid = event.payload.get("ExternalUserID")
    if not (isinstance(userid, str) and userid and isinstance(external_userid, str)):
        raise PermanentError("the event has no UserID/ExternalUserID")
    if not external_userid:
        raise PermanentError("the event has no UserID/ExternalUserID")
    channel = await channel_for_state(event.payload.get("State"), services.clock())
    code = event.payload.get("WelcomeCode")
    if isinstance(code, str) and code and channel.welcome:
        await send_welcome(services, channel, code, userid, external_userid)
    await link_add(channel, event, userid, external_userid, services.clock())
    await check_cap(services, channel, userid)


async def send_welcome(
    services: Services, channel: Channel, code: str, userid: str, external_userid: str
) -> Outcome:
    """``send_welcome_msg`` at most once per code; 41050/41051 are recorded, never retried."""
    welcome = channel.welcome or {}
    text = str(welcome.get("text") or "") or None
    attachments = welcome_attachments(welcome)
    outcome = await services.effects.run(
        effect_key("send_welcome_msg", services.wecom.corp_id, code),
        "send_welcome_msg",
        lambda: services.wecom.send_welcome_msg(code, text, attachments),
        subject=f"{services.wecom.corp_id}:{external_userid}",
        request={"channel": channel.id, "userid": userid, "external_userid": external_userid},
    )
    if outcome.performed and outcome.status != "done":
        log.warning("welcome for channel %d: %s (not retried)", channel.id, outcome.label)
    return outcome


def welcome_attachments(welcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The welcome's link or mini-program card as send_welcome_msg's ``attachments``."""
    attachments: list[dict[str, Any]] = []
    if welcome.get("link"):
        attachments.append({"msgtype": "link", "link": dict(welcome["link"])})
    if welcome.get("miniprogram"):
        attachments.append({"msgtype": "miniprogram", "miniprogram": dict(welcome["miniprogram"])})
    return attachments
