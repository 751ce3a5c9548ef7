"""Writes to the contact tables, in one place, with the newer-facts-win rule.

WeCom retries and parallel workers deliver events out of order. A relation remembers the
CreateTime of the newest event applied to it (`last_event_at`); an older event that arrives
late is ignored for that relation, so a late add after a del never resurrects it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from tortoise.transactions import in_transaction

from adapters.wecom import (
    CorpTagGroup,
    ExternalContact,
    ExternalContactDetail,
    FollowUser,
    WeComClient,
)
from adapters.wecom.models import FollowUserTag
from scrm.models import CorpTag, Customer, CustomerTag, FollowRelation

log = logging.getLogger(__name__)


async def upsert_customer(contact: ExternalContact, now: float) -> Customer:
    customer, _ = await Customer.update_or_create(
        external_userid=contact.external_userid,
        defaults={
            "name": contact.name,
            "avatar": contact.avatar,
            "type": contact.type,
            "gender": contact.gender,
            "unionid": contact.unionid,
            "corp_name": contact.corp_name,
            "updated_at": now,
        },
    )
    return customer


async def apply_contact(
    detail: ExternalContactDetail,
    *,
    userid: str,
    occurred_at: int,
    status: str,
    now: float,
) -> bool:
    """Store WeCom's current view of a customer after an event about (userid, customer).

    Returns False when the event is older than what the relation already reflects.
    """
    async with in_transaction():
        customer = await upsert_customer(detail.external_contact, now)
        stored = {r.userid: r for r in await FollowRelation.filter(customer=customer)}
        own = stored.get(userid)
        if own is not None and own.last_event_at > occurred_at:
            log.info("ignoring an older event for a relation (newer facts win)")
            return False
        for follow in detail.follow_user:
            is_own = follow.userid == userid
            await _upsert_relation(
                customer,
                follow,
                stored.get(follow.userid),
                status=status if is_own else None,
                occurred_at=occurred_at if is_own else None,
                now=now,
            )
        if own is not None and detail.follower(userid) is None:
            # WeCom no longer lists the relation: it ended after this event was sent.
            log.info("relation not listed by WeCom any more; leaving it as stored")
    return True


async def _upsert_relation(
    customer: Customer,
    follow: FollowUser,
    relation: FollowRelation | None,
    *,
    status: str | None,
    occurred_at: int | None,
    now: float,
) -> FollowRelation:
    fields: dict[str, Any] = {
        "remark": follow.remark,
        "description": follow.description,
        "state": follow.state,
        "add_way": follow.add_way,
        "oper_userid": follow.oper_userid or None,
        "added_at": follow.createtime or None,
        "updated_at": now,
    }
    if relation is None:
        relation = await FollowRelation.create(
            customer=customer,
            userid=follow.userid,
            status=status or "active",
            last_event_at=occurred_at or 0,
            **fields,
        )
    else:
        if status is not None:
            fields |= {"status": status, "ended_at": None, "ended_reason": None}
        if occurred_at is not None:
            fields["last_event_at"] = occurred_at
        await FollowRelation.filter(id=relation.id).update(**fields)
    await replace_tags(relation, follow.tags)
    return relation


async def replace_tags(relation: FollowRelation, tags: Iterable[FollowUserTag]) -> None:
    """Make the relation's stored tags exactly WeCom's list."""
    wanted = {tag.tag_id: tag for tag in tags if tag.tag_id}
    await CustomerTag.filter(relation=relation).exclude(tag_id__in=list(wanted)).delete()
    have = set(await CustomerTag.filter(relation=relation).values_list("tag_id", flat=True))
    new = [
        CustomerTag(
            relation=relation,
            tag_id=tag.tag_id,
            tag_name=tag.tag_name,
            group_name=tag.group_name,
            type=tag.type,
        )
        for tag_id, tag in wanted.items()
        if tag_id not in have
    ]
    if new:
        await CustomerTag.bulk_create(new)


async def end_relation(
    external_userid: str, userid: str, *, reason: str, occurred_at: int, now: float
) -> bool:
    """Mark a relation ended (kept for history); False when a newer event already applied."""
    async with in_transaction():
        customer, _ = await Customer.get_or_create(
            external_userid=external_userid, defaults={"updated_at": now}
        )
        relation, created = await FollowRelation.get_or_create(
            customer=customer,
            userid=userid,
            defaults={
                "status": "ended",
                "ended_reason": reason,
                "ended_at": occurred_at,
                "last_event_at": occurred_at,
                "updated_at": now,
            },
        )
        if created:
            return True
        if relation.last_event_at > occurred_at:
            log.info("ignoring an older end-of-relation event (newer facts win)")
            return False
        await FollowRelation.filter(id=relation.id).update(
            status="ended",
            ended_reason=reason,
            ended_at=occurred_at,
            last_event_at=occurred_at,
            updated_at=now,
        )
    return True


async def resync_corp_tags(wecom: WeComClient, now: float) -> int:
    """Fetch get_corp_tag_list and mirror it (a change callback, or a tag found missing)."""
    return await replace_corp_tags(await wecom.get_corp_tag_list(), now)


async def replace_corp_tags(groups: Iterable[CorpTagGroup], now: float) -> int:
    """Mirror get_corp_tag_list; tags WeCom no longer lists are kept, marked deleted."""
    seen: list[str] = []
    async with in_transaction():
        for group in groups:
            seen += [row.tag_id for row in await _upsert_group_tags(group, now)]
        await CorpTag.exclude(tag_id__in=seen).update(deleted=True, updated_at=now)
    return len(seen)


async def _upsert_group_tags(group: CorpTagGroup, now: float) -> list[CorpTag]:
    rows = []
    for tag in group.tag:
        row, _ = await CorpTag.update_or_create(
            tag_id=tag.id,
            defaults={
                "name": tag.name,
                "group_id": group.group_id,
                "group_name": group.group_name,
                "order": tag.order,
                "deleted": tag.deleted or group.deleted,
                "updated_at": now,
            },
        )
        rows.append(row)
    return rows


async def record_marked_tags(
    relation: FollowRelation, added: Iterable[CorpTag], removed_ids: Iterable[str]
) -> None:
    """Mirror a successful mark_tag locally: WeCom sends no callback for API changes."""
    removed = list(removed_ids)
    if removed:
        await CustomerTag.filter(relation=relation, tag_id__in=removed).delete()
    for tag in added:
        await CustomerTag.get_or_create(
            relation=relation,
            tag_id=tag.tag_id,
            defaults={"tag_name": tag.name, "group_name": tag.group_name, "type": 1},
        )


async def store_created_tags(group: CorpTagGroup, now: float) -> list[CorpTag]:
    """Record tags this service just created with add_corp_tag (no callback will come)."""
    return await _upsert_group_tags(group, now)
