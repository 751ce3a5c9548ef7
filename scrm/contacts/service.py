"""Writes to the contact tables, in one place, with the newer-facts-win rule.

WeCom retries and parallel workers deliver events out of order. A relation remembers the
CreateTime of the newest event applied to it (`last_event_at`); an older event that arrives
late is ignored for that relation, so a late add after a del never resurrects it.

CreateTime has one-second resolution, so an add and a delete often carry the same value. On a
tie the deletion wins: an add never re-activates a relation ended by an event of the same or
a later second (a real re-add comes with a newer CreateTime). The re-read of
``externalcontact/get`` that every add triggers cannot settle a tie either: after a customer
deletes a staff member WeCom may keep listing that member in ``follow_user`` (the relation is
one-sided then). So a read may end a relation — the member is no longer listed — but never
revives one. Every such rule is also a condition of the UPDATE itself, so a delete committed
by another worker between our read and our write still wins (PostgreSQL re-checks the
condition on the row it waited for; SQLite's write transactions are serialised).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from adapters.wecom import (
    CorpTagGroup,
    ExternalContact,
    ExternalContactDetail,
    FollowUser,
    WeComClient,
)
from adapters.wecom.models import FollowUserTag
from scrm.models import CorpTag, Customer, CustomerTag, FollowRelation, RemarkMobile

log = logging.getLogger(__name__)

# Why a relation ended when WeCom stopped listing it before its delete event was processed.
NOT_LISTED = "not_listed"


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


def _activatable(occurred_at: int) -> Q:
    """Rows an add of ``occurred_at`` may (re)activate: older, or a live tie — never an
    ended relation whose ending event is of the same or a later second."""
    return Q(last_event_at__lt=occurred_at) | Q(last_event_at=occurred_at, status__not="ended")


async def apply_contact(
    detail: ExternalContactDetail,
    *,
    userid: str,
    occurred_at: int,
    status: str,
    now: float,
    mobile_hashes: Mapping[str, Collection[str]] | None = None,
) -> bool:
    """Store WeCom's current view of a customer after an add/edit about (userid, customer).

    Returns False when the event does not change the relation's status: it is older than
    what the relation reflects, or a deletion of the same second already ended it (the
    relation then still takes the listed details — channel state, remark, tags — for
    history and attribution, but stays ended).

    ``mobile_hashes`` maps a listed member to the keyed hashes of the numbers they noted on
    the customer (``remark_mobiles``); each listed relation's stored hashes become exactly
    those — the read is WeCom's current view, whatever the event. None leaves them alone.
    """
    async with in_transaction():
        customer = await upsert_customer(detail.external_contact, now)
        changed = await _apply(detail, customer, userid, occurred_at, status, now)
        if mobile_hashes is not None:
            await replace_remark_mobiles(customer, mobile_hashes)
        return changed


async def _apply(
    detail: ExternalContactDetail,
    customer: Customer,
    userid: str,
    occurred_at: int,
    status: str,
    now: float,
) -> bool:
    stored = {r.userid: r for r in await FollowRelation.filter(customer=customer)}
    own = stored.get(userid)
    if own is not None and own.last_event_at > occurred_at:
        log.info("ignoring an older event for a relation (newer facts win)")
        return False
    for follow in detail.follow_user:
        if follow.userid != userid:
            await _mirror_details(customer, follow, stored.get(follow.userid), now)
    listed = detail.follower(userid)
    if listed is None:
        # The read came after the event: the relation ended in between.
        if own is None or own.status == "ended":
            return True
        log.info("relation no longer listed by WeCom; ending it")
        return await _end(own, reason=NOT_LISTED, occurred_at=occurred_at, now=now)
    if own is not None and own.status == "ended" and own.last_event_at == occurred_at:
        log.info("a deletion of the same second wins over this add; the relation stays ended")
        await _mirror_details(customer, listed, own, now)
        return False
    return await _activate(customer, listed, own, status, occurred_at, now)


def _relation_fields(follow: FollowUser, now: float) -> dict[str, Any]:
    return {
        "remark": follow.remark,
        "description": follow.description,
        "state": follow.state,
        "add_way": follow.add_way,
        "oper_userid": follow.oper_userid or None,
        "added_at": follow.createtime or None,
        "updated_at": now,
    }


async def _activate(
    customer: Customer,
    follow: FollowUser,
    relation: FollowRelation | None,
    status: str,
    occurred_at: int,
    now: float,
) -> bool:
    """The event's own relation: created, or re-activated unless a deletion wins."""
    fields = _relation_fields(follow, now)
    if relation is None:
        relation, created = await FollowRelation.get_or_create(
            customer=customer,
            userid=follow.userid,
            defaults={"status": status, "last_event_at": occurred_at, **fields},
        )
        if created:
            await replace_tags(relation, follow.tags)
            return True
    fields |= {"status": status, "ended_at": None, "ended_reason": None}
    changed = await FollowRelation.filter(_activatable(occurred_at), id=relation.id).update(
        last_event_at=occurred_at, **fields
    )
    if not changed:
        log.info("a deletion committed meanwhile wins over this add")
        await _mirror_details(customer, follow, relation, now)
        return False
    await replace_tags(relation, follow.tags)
    return True


async def _mirror_details(
    customer: Customer, follow: FollowUser, relation: FollowRelation | None, now: float
) -> None:
    """A relation as listed: details and tags only, never its status (a listed member may be
    one the customer deleted). An unknown one is recorded active."""
    fields = _relation_fields(follow, now)
    if relation is None:
        relation, created = await FollowRelation.get_or_create(
            customer=customer, userid=follow.userid, defaults={"status": "active", **fields}
        )
        if not created:
            await FollowRelation.filter(id=relation.id).update(**fields)
    else:
        await FollowRelation.filter(id=relation.id).update(**fields)
    await replace_tags(relation, follow.tags)


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


async def replace_remark_mobiles(
    customer: Customer, mobile_hashes: Mapping[str, Collection[str]]
) -> None:
    """Make each listed relation's remark-mobile hashes exactly ``mobile_hashes[userid]``."""
    relations = await FollowRelation.filter(customer=customer, userid__in=list(mobile_hashes))
    for relation in relations:
        wanted = set(mobile_hashes[relation.userid])
        await RemarkMobile.filter(relation=relation).exclude(phone_hash__in=wanted).delete()
        have = set(
            await RemarkMobile.filter(relation=relation).values_list("phone_hash", flat=True)
        )
        new = [RemarkMobile(relation=relation, phone_hash=h) for h in sorted(wanted - have)]
        if new:
            await RemarkMobile.bulk_create(new)


async def end_relation(
    external_userid: str, userid: str, *, reason: str, occurred_at: int, now: float
) -> bool:
    """Mark a relation ended (kept for history); False when a newer event already applied.

    A deletion of the same second as the newest applied add still ends the relation.
    """
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
        return await _end(relation, reason=reason, occurred_at=occurred_at, now=now)


async def end_unlisted_relation(
    external_userid: str, userid: str, *, occurred_at: int, now: float
) -> bool:
    """WeCom says the customer is not (any more) one of ``userid``'s (84061, or not visible):
    end the stored relation if there is a live one. A read never creates or revives one."""
    relation = await FollowRelation.get_or_none(
        customer__external_userid=external_userid, userid=userid
    )
    if relation is None or relation.status == "ended":
        return False
    return await _end(relation, reason=NOT_LISTED, occurred_at=occurred_at, now=now)


async def _end(relation: FollowRelation, *, reason: str, occurred_at: int, now: float) -> bool:
    changed = await FollowRelation.filter(id=relation.id, last_event_at__lte=occurred_at).update(
        status="ended",
        ended_reason=reason,
        ended_at=occurred_at,
        last_event_at=occurred_at,
        updated_at=now,
    )
    if not changed:
        log.info("ignoring an older end-of-relation event (newer facts win)")
    return bool(changed)


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
