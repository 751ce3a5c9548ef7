"""The periodic jobs, as plain functions of `Services` (the scheduler only times them)."""

from __future__ import annotations

import logging

from archive.integrity.signing import sign_checkpoints
from archive.pull.puller import catch_up
from archive.store.retention import apply_retention
from config import Settings
from scrm.channels.staffing import rotate_due
from scrm.events.expiry import expire_content
from scrm.leads.assign import assign_stragglers
from scrm.leads.followups import send_due_reminders
from scrm.leads.linking import link_customers
from scrm.leads.pool import recycle_unworked
from scrm.scheduler import PeriodicJob
from scrm.services import Services
from scrm.tickets import notify, sla

log = logging.getLogger(__name__)
HOUR = 3600.0
MINUTE = 60.0


async def archive_checkpoints(services: Services) -> None:
    """Sign today's chain heads (tamper evidence; re-signing the same day is harmless)."""
    if services.archive is not None:
        signed = await sign_checkpoints(services.archive, services.clock())
        log.info("signed %d archive checkpoints", signed)


async def archive_retention(services: Services) -> None:
    """Crypto-shred archive partitions older than SCRM_ARCHIVE_RETENTION_DAYS."""
    if services.archive is not None and services.settings.archive.retention_days:
        shredded = await apply_retention(services.archive, services.clock())
        if shredded:
            log.warning("crypto-shredded archive partitions past retention: %s", shredded)


async def archive_pull(services: Services) -> None:
    """Catch up on the WeCom session archive; msgaudit_notify only makes it sooner."""
    if services.archive is not None:
        fresh = await catch_up(services.archive, services.clock())
        if fresh:
            log.info("session-archive catch-up pulled %d new messages", fresh)


async def inbox_content_expiry(services: Services) -> None:
    """Shred message content older than SCRM_INBOX_CONTENT_TTL_DAYS; its open runs expire."""
    ttl_days = services.settings.inbox_content_ttl_days
    expired = await expire_content(services.db, services.clock(), ttl_days)
    for _, handler in expired.runs:
        services.metrics.handler_runs.labels(handler=handler, outcome="expired").inc()
    if expired.runs or expired.stripped:
        log.warning(
            "inbox content older than %d days shredded: %d events, %d runs closed as expired",
            ttl_days,
            len(expired.stripped),
            len(expired.runs),
        )


async def ticket_sla(services: Services) -> None:
    """Warn at 80 % of an SLA target, escalate at its breach (each once, in the database)."""
    fired = await sla.sweep(services)
    if fired:
        log.info("ticket SLA sweep fired %d warnings and breaches", fired)


async def ticket_notices(services: Services) -> None:
    """Send the notices that wait: a robot's next minute, a retry's backoff, a busy channel."""
    if services.tickets is not None:
        await notify.flush(services)


def ticket_jobs(settings: Settings) -> list[PeriodicJob]:
    """The tickets feature's jobs; the sweep's period is SCRM_SLA_SWEEP_SECONDS."""
    every = settings.tickets.sla_sweep_seconds
    return [
        PeriodicJob("ticket-sla", ticket_sla, every_seconds=every, lease_seconds=5 * MINUTE),
        PeriodicJob("ticket-notices", ticket_notices, every_seconds=2.0, lease_seconds=MINUTE),
    ]


async def channel_rotation(services: Services) -> None:
    """Push code members whose rotation change is due (the database holds the due times)."""
    changed = await rotate_due(services)
    if changed:
        log.info("changed the members of %d channel code(s)", changed)


async def followup_reminders(services: Services) -> None:
    """Send follow-up reminders that are due (the database holds the due times)."""
    sent = await send_due_reminders(services)
    if sent:
        log.info("sent %d follow-up reminder(s)", sent)


async def lead_recycling(services: Services) -> None:
    """Return leads nobody followed up in time to the public pool."""
    recycled = await recycle_unworked(services)
    if recycled:
        log.info("returned %d unworked lead(s) to the pool", recycled)


async def lead_linking(services: Services) -> None:
    """Link leads and scans to customers (unionid, noted phone); assign leads no one saw."""
    linked = await link_customers(services)
    if linked:
        log.info("linked %d lead(s) to WeCom customers by unionid or phone", linked)
    stragglers = await assign_stragglers(services)
    if stragglers:
        log.warning("assigned %d lead(s) whose submitted event never reached a worker", stragglers)


JOBS = [
    PeriodicJob("lead-linking", lead_linking, every_seconds=30.0, lease_seconds=120.0),
    PeriodicJob("lead-recycling", lead_recycling, every_seconds=300.0, lease_seconds=600.0),
    PeriodicJob("followup-reminders", followup_reminders, every_seconds=15.0, lease_seconds=60.0),
    PeriodicJob("channel-rotation", channel_rotation, every_seconds=15.0, lease_seconds=60.0),
    PeriodicJob("archive-pull", archive_pull, every_seconds=MINUTE, lease_seconds=5 * MINUTE),
    PeriodicJob("archive-checkpoints", archive_checkpoints, every_seconds=HOUR),
    PeriodicJob("archive-retention", archive_retention, every_seconds=6 * HOUR),
    PeriodicJob("inbox-content-expiry", inbox_content_expiry, every_seconds=HOUR),
]
