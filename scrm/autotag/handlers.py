"""`chat.message` → keyword rules → recorded hits → tags in WeCom, tickets and alerts.

Idempotent: a hit is unique per (rule, message, customer) and remembers each action's
outcome, so a redelivered message finishes what is pending and repeats nothing.
Thresholds count earlier hits of the same rule and customer (two workers racing on two
messages of one customer may both see the older count; the next hit corrects it).
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from scrm.autotag.models import RuleHit
from scrm.autotag.ordering import customer_lock
from scrm.autotag.tags import TagPlan, apply_tag_plan, follower_for
from scrm.chat import EVENT_NAME, ChatMessage, ChatMessageError, parse_chat_message
from scrm.events.errors import PermanentError
from scrm.events.inbox import IncomingEvent
from scrm.events.router import EventRecord, Lane, Router
from scrm.models import FollowRelation
from scrm.services import Services
from tagging import RuleMatch, action_to_dict, threshold_fires, window_start

log = logging.getLogger(__name__)
router = Router("autotag")

PENDING, NOT_FIRED = "pending", "not fired"
_EMITTED = {"create_ticket": "ticket.requested", "alert": "alert.raised"}


def customer_of(message: ChatMessage) -> str | None:
    """The customer a message is about: its sender, or the recipient of a 1:1 staff message."""
    if message.sender_kind == "customer":
        return message.sender
    if not message.roomid and message.customers:
        return message.customers[0]
    return None  # a staff message in a group is about nobody in particular


# A lane of its own: keyword matching decides red alerts and tickets, and is cheap, so it
# must not wait behind the archive encrypting the same messages (the main lane's bulk).
@router.on(EVENT_NAME, lane=Lane("tagging"))
async def tag_from_keywords(event: EventRecord, services: Services) -> None:
    if services.autotag is None:
        raise PermanentError("auto-tagging is not configured in this process")
    try:
        message = parse_chat_message(event.payload)
    except ChatMessageError as exc:
        raise PermanentError(f"malformed chat message: {exc.field}") from None
    if message.action != "send" or message.text is None or message.sender_kind == "robot":
        return
    customer = customer_of(message)
    if customer is None:
        return  # before the rule set is read and evaluated: nobody to tag
    engine = await services.autotag.rules.current()
    matches = engine.evaluate(message.text, message.sender_kind)
    hits = [await record_hit(match, message, customer, services.clock()) for match in matches]
    fired = [hit for hit in hits if hit.fired]
    if fired:
        await act(services, message, customer, fired)


async def record_hit(match: RuleMatch, message: ChatMessage, customer: str, now: float) -> RuleHit:
    rule = match.rule
    earlier: list[int] = []
    if rule.threshold is not None:  # only the hits inside this message's window count
        earlier = cast(
            list[int],
            await RuleHit.filter(
                rule_id=rule.id,
                external_userid=customer,
                msgtime__gt=window_start(rule.threshold, message.msgtime),
                msgtime__lte=message.msgtime,
            )
            .exclude(msgid=message.msgid)
            .values_list("msgtime", flat=True),
        )
    fires = threshold_fires(rule.threshold, earlier, message.msgtime)
    actions = [
        action_to_dict(action) | {"outcome": PENDING if fires else NOT_FIRED}
        for action in rule.actions
    ]
    hit, _ = await RuleHit.get_or_create(
        rule_id=int(rule.id),
        msgid=message.msgid,
        external_userid=customer,
        defaults={
            "rule_name": rule.name,
            "sender_kind": message.sender_kind,
            "msgtime": message.msgtime,
            # which keywords, never where: positions would spell the message out (issue 9)
            "keywords": json.dumps(match.keyword_set, ensure_ascii=False),
            "fired": fires,
            "actions": json.dumps(actions, ensure_ascii=False),
            "created_at": now,
        },
    )
    return hit


async def act(services: Services, message: ChatMessage, customer: str, hits: list[RuleHit]) -> None:
    """Perform the fired hits' actions; one customer's messages are decided one at a time."""
    async with customer_lock(services, customer):
        await _act(services, message, customer, hits)


async def _act(
    services: Services, message: ChatMessage, customer: str, hits: list[RuleHit]
) -> None:
    relation = await follower_for(customer, message.staff)
    plan = TagPlan()
    pending = {hit.id: json.loads(hit.actions) for hit in hits}
    for actions in pending.values():
        for action in actions:
            if action["outcome"] == PENDING and action["type"] in ("add_tag", "remove_tag"):
                target = plan.add if action["type"] == "add_tag" else plan.remove
                target[(action["tag"], action.get("group"))] = PENDING
    for key in set(plan.add) & set(plan.remove):
        plan.remove[key] = "conflict: another rule adds it"
    if (plan.add or plan.remove) and relation is not None:
        await apply_tag_plan(services, relation, plan, cause=message.msgid)
    for hit in hits:
        for index, action in enumerate(pending[hit.id]):
            if action["outcome"] == PENDING:
                action["outcome"] = await _outcome(services, hit, index, action, plan, relation)
        hit.actions = json.dumps(pending[hit.id], ensure_ascii=False)
        hit.userid = relation.userid if relation else None
        await hit.save(update_fields=["actions", "userid"])


async def _outcome(
    services: Services,
    hit: RuleHit,
    index: int,
    action: dict[str, Any],
    plan: TagPlan,
    relation: FollowRelation | None,
) -> str:
    kind = action["type"]
    if kind in ("add_tag", "remove_tag"):
        if relation is None:
            return "skipped: the customer follows no staff member"
        table = plan.add if kind == "add_tag" else plan.remove
        return table.get((action["tag"], action.get("group")), PENDING)
    if kind in _EMITTED:
        return await _emit(services, hit, index, _EMITTED[kind], action)
    return f"skipped: unknown action {kind}"


async def _emit(
    services: Services, hit: RuleHit, index: int, name: str, action: dict[str, Any]
) -> str:
    """Hand a ticket or alert to the tickets feature as an event (no message text in it)."""
    if services.inbox is None:
        return PENDING
    payload = {
        "rule_id": hit.rule_id,
        "rule": hit.rule_name,
        "external_userid": hit.external_userid,
        "msgid": hit.msgid,
        "msgtime": hit.msgtime,
        "keywords": json.loads(hit.keywords),
        **{k: v for k, v in action.items() if k not in ("type", "outcome")},
    }
    await services.inbox.store(
        IncomingEvent(
            dedupe_key=f"{name}:{hit.id}:{index}",
            name=name,
            source="autotag",
            payload=payload,
            occurred_at=hit.msgtime // 1000,
        )
    )
    return "emitted"
