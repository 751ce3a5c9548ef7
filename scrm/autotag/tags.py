"""Apply a message's tag actions in WeCom: one mark_tag per (staff, customer), only changes.

Runs under `customer_lock` (scrm/autotag/ordering.py), so a second message of a customer sees
what the first marked. Every call goes through the effect ledger (`Services.effects`), keyed
by the message that caused it. A tag a rule names but WeCom lacks is created once
(add_corp_tag under a shared lock, then re-read); WeCom sends no callback for API-made
changes, so local state is updated here, in the transaction that records the effect.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from adapters.wecom import CorpTagGroup, WeComAPIError
from scrm.autotag.ordering import mark_subject, settle_unknown_marks
from scrm.autotag.runtime import DEFAULT_TAG_GROUP
from scrm.contacts import service as contacts
from scrm.effects import Outcome, effect_key
from scrm.models import CorpTag, Customer, CustomerTag, FollowRelation
from scrm.services import Services

log = logging.getLogger(__name__)

PENDING = "pending"
TAG_NOT_FOUND = 40068  # mark_tag names a tag WeCom does not know


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


class TagUnavailable(Exception):
    """The tag could not be created in WeCom; ``outcome`` is what the hit's action shows."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


async def ensure_tag(services: Services, name: str, group: str | None, *, cause: str) -> CorpTag:
    """The corp tag called ``name`` (in ``group``), created in WeCom once if it is missing.

    ``cause`` (the message id) goes into the effect's key. A terminal WeCom error raises
    `TagUnavailable`; a retryable one propagates for the worker to retry the run.
    """
    tag = await find_tag(name, group)
    if tag is not None:
        return tag
    group_name = group or (
        services.autotag.default_tag_group if services.autotag else DEFAULT_TAG_GROUP
    )
    corp = services.settings.wecom.corp_id
    async with services.kv.lock(f"corp-tag:{corp}:{group_name}:{name}", ttl=30, wait=30):
        await contacts.resync_corp_tags(services.wecom, services.clock())
        tag = await find_tag(name, group)
        if tag is not None:
            return tag
        existing = await CorpTag.filter(group_name=group_name, deleted=False).first()
        group_id = existing.group_id if existing else None

        async def create() -> CorpTagGroup:
            return await services.wecom.add_corp_tag(
                None if group_id else group_name, [name], group_id
            )

        async def store(created: CorpTagGroup) -> None:
            await contacts.store_created_tags(created, services.clock())

        outcome = await services.effects.run(
            effect_key("add_corp_tag", corp, group_name, name, cause),
            "add_corp_tag",
            create,
            subject=corp,
            request={"group_name": group_name, "group_id": group_id, "tag": [name]},
            summary=lambda created: {"tag_id": [t.id for t in created.tag]},
            on_done=store,
        )
        if outcome.status == "done" and outcome.performed:
            log.info("created a corp tag in group %s", group_name)  # for a rule or a channel
        tag = await find_tag(name, group)
        if tag is None:
            gone = "failed: created, then no longer listed"  # an earlier run's, since deleted
            raise TagUnavailable(outcome.label if outcome.status != "done" else gone)
        return tag


async def apply_tag_plan(
    services: Services, relation: FollowRelation, plan: TagPlan, *, cause: str
) -> None:
    """Mark the tags in one call and record each action's outcome in ``plan``.

    Runs under `customer_lock`. The call goes through the effect ledger under a key naming
    the message (``cause``), so a redelivered run never marks twice. WeCom's 40068 (a tag it
    does not know, e.g. deleted in the admin console) re-reads the corp tags, creates the
    tag again if a rule still needs it, and tries once more.
    """
    customer = await relation.customer
    try:
        await settle_unknown_marks(services, customer.external_userid)
        outcome = await _mark(services, relation, customer, plan, cause)
        if outcome is None or outcome.errcode != TAG_NOT_FOUND:
            return
        log.warning(
            "mark_tag answered %d (tag not found): re-reading the corp tags, trying once more",
            TAG_NOT_FOUND,
        )
        await contacts.resync_corp_tags(services.wecom, services.clock())
        _reopen(plan, outcome.label)
        await _mark(services, relation, customer, plan, f"{cause}:{TAG_NOT_FOUND}")
    except WeComAPIError as exc:  # a read this needs failed for good (a call's own is kept)
        if exc.retryable:
            raise
        _settle(plan, f"failed: errcode {exc.errcode}")


async def _mark(
    services: Services, relation: FollowRelation, customer: Customer, plan: TagPlan, cause: str
) -> Outcome | None:
    """One mark_tag for what is still pending in ``plan``; None when nothing needs a call."""
    corp, userid, external_userid = (
        services.settings.wecom.corp_id,
        relation.userid,
        customer.external_userid,
    )
    effect = effect_key("mark_tag", corp, userid, external_userid, cause)
    have = set(await CustomerTag.filter(relation=relation).values_list("tag_id", flat=True))
    ours = await _done_by(services, effect)  # this message's own mark, if a crash hid it
    add: list[CorpTag] = []
    for key, state in plan.add.items():
        if state != PENDING:
            continue
        try:
            tag = await ensure_tag(services, *key, cause=cause)
        except TagUnavailable as exc:
            plan.add[key] = exc.outcome
            continue
        except WeComAPIError as exc:  # reading the tag list failed
            if exc.retryable:
                raise
            plan.add[key] = f"failed: errcode {exc.errcode}"
            continue
        if tag.tag_id in have:
            plan.add[key] = "done" if tag.tag_id in ours else "already"
        else:
            add.append(tag)
    remove: list[str] = []
    for key, state in plan.remove.items():
        if state != PENDING:
            continue
        found = await find_tag(*key)
        if found is None or found.tag_id not in have:
            plan.remove[key] = "done" if found is not None and found.tag_id in ours else "already"
        else:
            remove.append(found.tag_id)
    if not add and not remove:
        return None
    add_ids = [t.tag_id for t in add]

    async def mark() -> None:
        await services.wecom.mark_tag(userid, external_userid, add_ids, remove)

    async def mirror(_: None) -> None:
        await contacts.record_marked_tags(relation, add, remove)

    outcome = await services.effects.run(
        effect,
        "mark_tag",
        mark,
        subject=mark_subject(corp, external_userid),
        request={"userid": userid, "add_tag": add_ids, "remove_tag": remove},
        on_done=mirror,
    )
    _settle(plan, outcome.label)
    return outcome


async def _done_by(services: Services, key: str) -> set[str]:
    """The tag ids a done mark_tag under ``key`` added or removed (empty if there is none)."""
    recorded = await services.effects.find(key)
    if recorded is None or recorded.status != "done":
        return set()
    request = json.loads(recorded.request)
    return {*request.get("add_tag", ()), *request.get("remove_tag", ())}


def _settle(plan: TagPlan, outcome: str) -> None:
    """Give every action that went into the mark_tag call its outcome."""
    for actions in (plan.add, plan.remove):
        for key, state in actions.items():
            if state == PENDING:
                actions[key] = outcome


def _reopen(plan: TagPlan, outcome: str) -> None:
    """Make the actions that ended with ``outcome`` pending again, for one more try."""
    for actions in (plan.add, plan.remove):
        for key, state in actions.items():
            if state == outcome:
                actions[key] = PENDING
