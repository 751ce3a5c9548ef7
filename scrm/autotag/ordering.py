"""Per-customer ordering of tag decisions, and settling what a crash left unknown.

Two messages of one customer processed at once would both see a tag missing and both mark
it. `customer_lock` (a lease lock in the shared KV: Redis across processes, in-process
otherwise) makes the decisions about one customer one after another; its lease is the
worker's, so a SIGKILLed holder's lock expires. `settle_unknown_marks` then deals with what
such a holder may have left: a mark_tag that went out with nobody left to record the answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.kv import LockNotAcquired
from scrm.contacts import service as contacts
from scrm.events.errors import Retry
from scrm.models import FollowRelation
from scrm.services import Services

log = logging.getLogger(__name__)


def mark_subject(corp: str, external_userid: str) -> str:
    """Whose tags a mark_tag effect changes: the ledger's subject and the lock's name."""
    return f"{corp}:{external_userid}"


@asynccontextmanager
async def customer_lock(services: Services, external_userid: str) -> AsyncIterator[None]:
    """Decide one customer's tags one run at a time, across processes.

    The lease is the worker's: a run is cut off before it, so the lock outlives its holder
    only when the holder died (SIGKILL), and then expires. A run that cannot get the lock in
    half a lease is retried a little later rather than holding its worker.
    """
    lease = services.settings.worker.lease_seconds
    name = "customer:" + mark_subject(services.settings.wecom.corp_id, external_userid)
    lock = services.kv.lock(name, ttl=lease, wait=lease / 2)
    try:
        await lock.__aenter__()
    except LockNotAcquired:
        raise Retry("another run is deciding this customer's tags", defer=lease / 4) from None
    try:
        yield
    finally:
        await lock.__aexit__(None, None, None)


async def settle_unknown_marks(services: Services, external_userid: str) -> None:
    """Read a customer's tags back from WeCom when a mark_tag's outcome is unknown.

    A run killed after its mark_tag went out but before it recorded the answer leaves its
    claim behind. Under `customer_lock` a claim still inside its lease can only be such a
    dead run's, so the decision waits (`EffectBusy`) until it is stale. Then the customer's
    tags are read back, mirrored, and each such effect settled by whether its change is in
    place, before anything is decided — so nobody marks the same tag again.
    """
    corp = services.settings.wecom.corp_id
    unknown = await services.effects.unsettled(mark_subject(corp, external_userid), "mark_tag")
    if not unknown:
        return
    detail = await services.wecom.get_external_contact(external_userid)
    stored = {
        r.userid: r for r in await FollowRelation.filter(customer__external_userid=external_userid)
    }
    tags: dict[str, set[str]] = {}
    for follow in detail.follow_user:
        tags[follow.userid] = {t.tag_id for t in follow.tags if t.tag_id}
        if follow.userid in stored:
            await contacts.replace_tags(stored[follow.userid], follow.tags)
    for effect in unknown:
        have = tags.get(str(effect.request.get("userid")), set())
        in_place = set(effect.request.get("add_tag", ())) <= have and not (
            set(effect.request.get("remove_tag", ())) & have
        )
        result = {"read_back": "in place" if in_place else "not in place"}
        await services.effects.resolve(effect, done=in_place, result=result)
    log.warning("%d mark_tag outcome(s) were unknown; settled from WeCom's tags", len(unknown))
