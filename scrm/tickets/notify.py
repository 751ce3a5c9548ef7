"""Deliver queued ticket notices to their channels: merged, rate-limited, at most once.

Per channel, one process at a time (a KV lock) takes the pending notices, freezes them into a
*batch* (the batch's name is its effect-ledger key) and sends them as one message through the
ledger, so a crash between the call and the bookkeeping never sends a batch twice. A robot
gets at most 20 messages a minute (WeCom answers 45009 beyond): past that the notices wait
and go out merged in the next message. A retryable failure (45009, -1, an unreachable SMTP
server) keeps the batch with a backoff; 93000 (robot removed) parks the channel, alerts once
and keeps its notices for when it is repaired; other refusals are marked on the timeline.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence

from tortoise.expressions import F

from adapters.backoff import backoff_delay
from adapters.kv import LockNotAcquired
from adapters.wecom import WeComAPIError
from scrm.effects import EffectBusy, Outcome, effect_key
from scrm.services import Services
from scrm.tickets.keys import open_webhook_key
from scrm.tickets.models import GroupChannel, Ticket, TicketEvent, TicketNotice
from scrm.tickets.notices import for_channel, merge

log = logging.getLogger(__name__)

ROBOT_PER_MINUTE = 20
ROBOT_WINDOW = 61.0  # a second of margin over WeCom's minute
ROBOT_MAX_BYTES = 4096  # robot markdown
APP_MAX_BYTES = 2048  # app message / appchat markdown
BATCH_MAX = 50
ROBOT_REMOVED = 93000
EFFECT_KINDS = {
    "robot": "robot_send",
    "appchat": "send_appchat",
    "user": "send_app_message",
    "email": "send_email",
}


async def flush(services: Services, channel_ids: Iterable[int] | None = None) -> int:
    """Send what is due on the given channels (default: every channel with due notices)."""
    now = services.clock()
    if channel_ids is None:
        due = await (
            TicketNotice.filter(status="pending", next_at__lte=now)
            .distinct()
            .values_list("channel_id", flat=True)
        )
        channel_ids = [int(channel_id) for channel_id in due]  # type: ignore[call-overload]
    sent = 0
    for channel_id in sorted(set(channel_ids)):
        try:
            sent += await flush_channel(services, int(channel_id))
        except Exception:  # the notices stay queued; the notices job tries again
            log.exception("sending notices to group channel %s failed", channel_id)
    return sent


async def flush_channel(services: Services, channel_id: int) -> int:
    """Send this channel's due notices unless another run is at it; the number of sends.

    A run that finds the channel busy leaves at once (its notice is already queued), so the
    holder looks again after letting go: a notice queued while it took its last batch would
    otherwise wait for the notices job. Either that run gets the lock, or the holder's look
    sees its notice.
    """
    lease = services.settings.worker.lease_seconds
    sends = 0
    while True:
        try:
            async with services.kv.lock(f"tickets:channel:{channel_id}", ttl=lease):
                sent, emptied = await _flush(services, channel_id)
        except LockNotAcquired:
            return sends  # its holder sends them, or the notices job does shortly
        sends += sent
        if not emptied or not await _due(channel_id, services.clock()):
            return sends


async def _due(channel_id: int, now: float) -> bool:
    return await TicketNotice.exists(channel_id=channel_id, status="pending", next_at__lte=now)


async def _flush(services: Services, channel_id: int) -> tuple[int, bool]:
    """The sends, and whether they emptied the queue (not stopped by a limit or a failure)."""
    channel = await GroupChannel.get_or_none(id=channel_id)
    if channel is None:  # deleted after its notices were queued: say so on each ticket
        orphans = await TicketNotice.filter(channel_id=channel_id, status="pending")
        if orphans:
            await _mark(services, orphans, "failed", {"channel": channel_id, "error": "deleted"})
        return 0, False
    if channel.status != "active":
        return 0, False  # a parked channel keeps its notices for when it is repaired
    sends = 0
    # Counted once: while this run holds the channel's lock, only its own sends add to it.
    earlier = await recent_sends(services, channel) if channel.kind == "robot" else 0
    while True:
        now = services.clock()
        if channel.kind == "robot" and earlier + sends >= ROBOT_PER_MINUTE:
            return sends, False  # the rest waits and goes out merged
        batch = await _next_batch(channel, now)
        if not batch:
            return sends, True
        sends += 1
        if not await _send(services, channel, batch):
            return sends, False
        if channel.kind == "robot" and len(batch) < BATCH_MAX:
            return sends, True  # it took every due notice: the look after letting go suffices


async def recent_sends(services: Services, channel: GroupChannel) -> int:
    """Calls to this channel in the last minute, as the ledger recorded them."""
    rows = await services.db.fetch(
        services.db.sql("SELECT COUNT(*) AS n FROM effects WHERE subject = ? AND updated_at > ?"),
        [subject(channel), services.clock() - ROBOT_WINDOW],
    )
    return int(rows[0]["n"])


def subject(channel: GroupChannel) -> str:
    return f"group_channel:{channel.id}"


async def _next_batch(channel: GroupChannel, now: float) -> list[TicketNotice]:
    """A batch frozen earlier and due again (its retry), else the due pending notices."""
    left = (
        await TicketNotice.filter(
            channel_id=channel.id, status="pending", batch__isnull=False, next_at__lte=now
        )
        .order_by("id")
        .first()
    )
    if left is not None:
        return list(await TicketNotice.filter(batch=left.batch, status="pending").order_by("id"))
    fresh = list(
        await TicketNotice.filter(
            channel_id=channel.id, status="pending", batch__isnull=True, next_at__lte=now
        )
        .order_by("id")
        .limit(BATCH_MAX if channel.kind == "robot" else 1)
    )
    if not fresh:
        return []
    # A batch handed back by a parked channel is re-formed under a new key (its attempts).
    first = fresh[0]
    key = effect_key(
        EFFECT_KINDS[channel.kind], "ticket_notice", channel.id, first.id, first.attempts
    )
    ids = [notice.id for notice in fresh]
    await TicketNotice.filter(id__in=ids, batch__isnull=True).update(batch=key)
    return list(await TicketNotice.filter(batch=key, status="pending").order_by("id"))


async def _send(services: Services, channel: GroupChannel, batch: Sequence[TicketNotice]) -> bool:
    """Send one batch; True when the channel may take the next one now."""
    key = batch[0].batch
    assert key is not None
    numbers = await _numbers(batch)
    limit = ROBOT_MAX_BYTES if channel.kind == "robot" else APP_MAX_BYTES
    texts = [for_channel(notice.text, channel.kind) for notice in batch]
    text = merge(texts, [numbers[n.ticket_id] for n in batch], limit)
    kind = EFFECT_KINDS[channel.kind]
    if channel.kind == "email" and (services.tickets is None or services.tickets.mailer is None):
        # Known before any call: nothing was sent (not `unknown`, which asks an operator to look).
        await _undeliverable(services, channel, batch, "no SMTP server configured (SCRM_SMTP_HOST)")
        return True

    async def call() -> None:
        await _deliver(services, channel, text, numbers.values())

    async def on_done(_: None) -> None:
        await _mark(services, batch, "sent", {"channel": channel.name, "batch": key})

    try:
        outcome = await services.effects.run(
            key,
            kind,
            call,
            subject=subject(channel),
            request={"channel": channel.id, "notices": [n.id for n in batch]},
            on_done=on_done,
        )
    except WeComAPIError as exc:  # retryable: recorded by the ledger, the batch waits
        await _retry_later(services, channel, batch, exc)
        return False
    except EffectBusy:  # a live claim on this batch (another process, or a dead one's lease)
        return False
    return await _settle(services, channel, batch, outcome)


async def _deliver(
    services: Services, channel: GroupChannel, text: str, numbers: Iterable[str]
) -> None:
    runtime = services.tickets
    if runtime is None:
        raise RuntimeError("tickets are not configured in this process")
    content = {"content": text}
    if channel.kind == "robot":
        if services.archive is None or channel.secret is None:
            raise RuntimeError("the robot key cannot be opened without the archive key ring")
        key = open_webhook_key(services.archive, channel.secret)
        await runtime.robot.send(key, "markdown", content)
    elif channel.kind == "appchat":
        await runtime.agent.send_appchat(channel.target, "markdown", content)
    elif channel.kind == "user":
        await runtime.agent.send_app_message(
            runtime.agent_id, "markdown", content, touser=[channel.target]
        )
    elif channel.kind == "email":
        if runtime.mailer is None:
            raise RuntimeError("no SMTP server configured (SCRM_SMTP_HOST)")
        subject_line = "工单通知 " + " ".join(dict.fromkeys(numbers))
        await runtime.mailer.send(json.loads(channel.target), subject_line[:200], text)


async def _settle(
    services: Services, channel: GroupChannel, batch: Sequence[TicketNotice], outcome: Outcome
) -> bool:
    services.metrics.ticket_notices.labels(kind=channel.kind, outcome=outcome.status).inc()
    if outcome.status == "done":
        if not outcome.performed:  # a crash after the call: bookkeeping the ledger kept
            await _mark(services, batch, "sent", {"channel": channel.name})
        _observe_latency(services, batch)
        return True
    if outcome.status == "failed" and outcome.errcode == ROBOT_REMOVED:
        await _park(services, channel, batch)
        return False
    status = "failed" if outcome.status == "failed" else "unknown"
    detail = {"channel": channel.name, "errcode": outcome.errcode, **outcome.result}
    await _mark(services, batch, status, detail)
    if outcome.status == "failed":
        channel.last_error = f"errcode {outcome.errcode}: {outcome.result.get('errmsg', '')}"[:500]
        channel.updated_at = services.clock()
        await channel.save(update_fields=["last_error", "updated_at"])
    return outcome.status == "failed"  # an unknown outcome: stop and look before going on


async def _undeliverable(
    services: Services, channel: GroupChannel, batch: Sequence[TicketNotice], reason: str
) -> None:
    await _mark(services, batch, "failed", {"channel": channel.name, "error": reason})
    channel.last_error = reason
    channel.updated_at = services.clock()
    await channel.save(update_fields=["last_error", "updated_at"])


async def _mark(services: Services, batch: Sequence[TicketNotice], status: str, data: dict) -> None:
    """Close the batch's notices and put the outcome on each ticket's timeline."""
    now = services.clock()
    ids = [notice.id for notice in batch]
    await TicketNotice.filter(id__in=ids, status="pending").update(status=status, sent_at=now)
    kind = "notice" if status == "sent" else f"notice_{status}"
    for notice in batch:
        await TicketEvent.create(
            ticket_id=notice.ticket_id,
            kind=kind,
            data=json.dumps({**data, "notice": notice.kind}, ensure_ascii=False),
            at=now,
        )


async def _retry_later(
    services: Services, channel: GroupChannel, batch: Sequence[TicketNotice], exc: WeComAPIError
) -> None:
    attempt = max(notice.attempts for notice in batch) + 1
    delay = backoff_delay(attempt, base=2.0, cap=600.0, jitter=0.2, rand=random.random())
    now = services.clock()
    ids = [notice.id for notice in batch]
    await TicketNotice.filter(id__in=ids).update(attempts=F("attempts") + 1, next_at=now + delay)
    log.warning(
        "notice to channel %s failed (errcode %s), retry in %.0fs", channel.id, exc.errcode, delay
    )
    for ticket_id in dict.fromkeys(notice.ticket_id for notice in batch):
        await TicketEvent.create(
            ticket_id=ticket_id,
            kind="notice_retry",
            data=json.dumps(
                {"channel": channel.name, "errcode": exc.errcode, "retry_in": round(delay, 1)}
            ),
            at=now,
        )


async def _park(services: Services, channel: GroupChannel, batch: Sequence[TicketNotice]) -> None:
    """The robot was removed from its group: stop using it, say so once, keep the notices."""
    now = services.clock()
    parked = await GroupChannel.filter(id=channel.id, status="active").update(
        status="parked",
        last_error="errcode 93000: the robot was removed from its group",
        updated_at=now,
    )
    ids = [notice.id for notice in batch]
    await TicketNotice.filter(id__in=ids).update(
        batch=None, next_at=now, attempts=F("attempts") + 1
    )
    if parked:
        services.metrics.ticket_notices.labels(kind=channel.kind, outcome="parked").inc()
        log.error(
            "ADMIN ALERT: group channel %s (%s) was refused with 93000 — the robot was removed; "
            "the channel is parked and its notices wait (PATCH it with a new webhook_key)",
            channel.id,
            channel.name,
        )
    channel.status = "parked"


def _observe_latency(services: Services, batch: Sequence[TicketNotice]) -> None:
    now = services.clock()
    for notice in batch:
        if notice.kind == "created" and notice.origin_at is not None:
            services.metrics.keyword_notice_seconds.observe(max(now - notice.origin_at, 0.0))


async def _numbers(batch: Sequence[TicketNotice]) -> dict[int, str]:
    ids = list({notice.ticket_id for notice in batch})
    rows = await Ticket.filter(id__in=ids).values_list("id", "number")
    return {int(ticket_id): str(number) for ticket_id, number in rows}
