"""Apply a message's tag actions in WeCom: one mark_tag per (staff, customer), only changes.

A tag a rule names but WeCom lacks is created once (add_corp_tag under a shared lock, then
re-read); WeCom sends no callback for API-made changes, so local state is updated here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from adapters.wecom import WeComAPIError
from scrm.autotag.runtime import DEFAULT_TAG_GROUP
from scrm.contacts import service as contacts
from scrm.models import CorpTag, CustomerTag, FollowRelation
from scrm.services import Services

log = logging.getLogger(__name__)


@dataclass
class TagPlan:
    """The tag names to add and remove for one (staff, customer) pair, with their outcomes."""

    add: dict[tuple[str, str | None], str] = field(default_factory=dict)  # (tag, group) → outcome
    remove: dict[tuple[str, str | None], str] = field(default_factory=dict)


async def follower_for(external_userid: str, prefer: list[str]) -> FollowRelation | None:
    """The staff relation whose tags change: someone in the chat if possible, else the first."""
    relations = await FollowRelation.filter(
        customer__external_userid=external_userid, status__in=["active", "pending"]
    ).order_by("added_at", "id")
    for relation in relations:
        if relation.userid in prefer:
            return relation
    return relations[0] if relations else None


async def find_tag(name: str, group: str | None) -> CorpTag | None:
    query = CorpTag.filter(name=name, deleted=False)
    if group:
        query = query.filter(group_name=group)
    return await query.order_by("id").first()


async def ensure_tag(services: Services, name: str, group: str | None) -> CorpTag:
    """The corp tag called ``name`` (in ``group``), created in WeCom once if it is missing."""
    tag = await find_tag(name, group)
    if tag is not None:
        return tag
    group_name = group or (
        services.autotag.default_tag_group if services.autotag else DEFAULT_TAG_GROUP
    )
    async with services.kv.lock(f"corp-tag:{group_name}:{name}", ttl=30, wait=30):
        await contacts.resync_corp_tags(services.wecom, services.clock())
        tag = await find_tag(name, group)
        if tag is not None:
            return tag
        existing = await CorpTag.filter(group_name=group_name, deleted=False).first()
        created = await services.wecom.add_corp_tag(
            None if existing else group_name, [name], existing.group_id if existing else None
        )
        stored = await contacts.store_created_tags(created, services.clock())
        log.info("created corp tag in group %s for a rule", group_name)
        return next(t for t in stored if t.name == name)


async def apply_tag_plan(services: Services, relation: FollowRelation, plan: TagPlan) -> None:
    """Mark the tags in one call and record each action's outcome in ``plan``."""
    have = set(await CustomerTag.filter(relation=relation).values_list("tag_id", flat=True))
    add: list[CorpTag] = []
    for key in plan.add:
        tag = await ensure_tag(services, *key)
        if tag.tag_id in have:
            plan.add[key] = "already"
        else:
            add.append(tag)
    remove: list[str] = []
    for key in plan.remove:
        found = await find_tag(*key)
        if found is None or found.tag_id not in have:
            plan.remove[key] = "already"
        else:
            remove.append(found.tag_id)
    if not add and not remove:
        return
    customer = await relation.customer
    try:
        await services.wecom.mark_tag(
            relation.userid, customer.external_userid, [t.tag_id for t in add], remove
        )
    except WeComAPIError as exc:
        if exc.retryable:
            raise  # the run is retried; outcomes stay pending
        _settle(plan, f"failed: errcode {exc.errcode}")
        return
    await contacts.record_marked_tags(relation, add, remove)
    _settle(plan, "done")


def _settle(plan: TagPlan, outcome: str) -> None:
    """Give every action that went into the mark_tag call its outcome."""
    for actions in (plan.add, plan.remove):
        for key, state in actions.items():
            if state == "pending":
                actions[key] = outcome
