"""After an add is synced: mark the channel's tags and tell the staff member, once each.

Called by the contacts handler once the customer has been re-read (so the notice can say who
it is without another ``externalcontact/get``). Both are effects in the ledger: the tags keyed
by the add (staff, customer, CreateTime), the notice by (staff, customer, channel, local day),
so a redelivered event, a replay or a crash marks the tags once (idempotent) and sends the
notice at most once — and a half add followed by its confirming add is one notice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from adapters.wecom import ExternalContactDetail
from scrm.channels.models import Channel
from scrm.channels.rotation import DEFAULT_TIMEZONE
from scrm.channels.state import channel_for_state
from scrm.contacts import service as contacts
from scrm.effects import Outcome, effect_key
from scrm.events.router import EventRecord
from scrm.models import CorpTag, FollowRelation
from scrm.services import Services
from scrm.staff.links import customer_path

log = logging.getLogger(__name__)


def _local_day(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, ZoneInfo(DEFAULT_TIMEZONE)).date().isoformat()


async def after_contact_synced(
    event: EventRecord, services: Services, userid: str, detail: ExternalContactDetail
) -> None:
    """Tags, then the notice, for an add whose customer WeCom still lists as a friend."""
    if detail.follower(userid) is None:
        return  # the relation ended before we read it: nothing to tag, nobody to tell
    channel = await channel_for_state(event.payload.get("State"), services.clock())
    added_at = int(event.occurred_at or services.clock())
    external_userid = detail.external_contact.external_userid
    await mark_channel_tags(services, channel, userid, external_userid, added_at)
    await notify_staff(services, channel, userid, detail, added_at)


async def mark_channel_tags(
    services: Services, channel: Channel, userid: str, external_userid: str, added_at: int
) -> Outcome | None:
    tag_ids = [str(t["tag_id"]) for t in channel.tags or () if t.get("tag_id")]
    if not tag_ids:
        return None
    corp = services.wecom.corp_id

    async def mirror(_: None) -> None:
        relation = await FollowRelation.get_or_none(
            customer__external_userid=external_userid, userid=userid
        )
        if relation is not None:
            added = await CorpTag.filter(tag_id__in=tag_ids)
            await contacts.record_marked_tags(relation, added, ())

    return await services.effects.run(
        effect_key("mark_tag", corp, userid, external_userid, "channel", channel.id, added_at),
        "mark_tag",
        lambda: services.wecom.mark_tag(userid, external_userid, tag_ids),
        subject=f"{corp}:{external_userid}",
        request={"channel": channel.id, "userid": userid, "add_tag": tag_ids},
        on_done=mirror,
    )


async def notify_staff(
    services: Services,
    channel: Channel,
    userid: str,
    detail: ExternalContactDetail,
    added_at: int,
) -> Outcome | None:
    """An app message to the member: who added them, from which channel, which tags."""
    agent = services.agent
    if agent is None:
        return None
    contact = detail.external_contact
    tags = "、".join(str(t["name"]) for t in channel.tags or ()) or "无"
    lines = [
        f"新客户：{contact.name or contact.external_userid}"
        + (f"（{contact.corp_name}）" if contact.corp_name else ""),
        f"渠道：{channel.name}",
        f"标签：{tags}",
        "查看：" + services.settings.public_url + customer_path(contact.external_userid),
    ]
    agent_id = services.settings.wecom.agent_id
    corp = services.wecom.corp_id
    return await services.effects.run(
        effect_key(
            "send_app_message",
            corp,
            "channel_add",
            userid,
            contact.external_userid,
            channel.id,
            _local_day(added_at),  # a half add and its confirming add: one notice
        ),
        "send_app_message",
        lambda: agent.send_app_message(
            agent_id, "text", {"content": "\n".join(lines)}, touser=[userid]
        ),
        subject=f"{corp}:{contact.external_userid}",
        request={"channel": channel.id, "touser": userid},
        summary=lambda result: {"msgid": result.msgid, "invaliduser": list(result.invaliduser)},
    )
