"""Tickets (工单), their timelines, per-day numbers, group channels, routes and SLA policies.

Times are unix seconds as floats, like the rest of scrm. The SLA trigger columns
(``*_warn_at``, ``*_breach_at``) hold when the next warning or breach is due and are cleared
by the very UPDATE that fires them, so each fires once whatever the number of processes.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from archive.keys.sealed_columns import register_sealed_column
from archive.keys.sealed_secrets import sealed_secret
from scrm.tickets.keys import PURPOSE as WEBHOOK_KEY_PURPOSE


class TicketCounter(Model):
    """The last number given out on one UTC day; bumped in the ticket's own transaction."""

    day = fields.CharField(max_length=8, primary_key=True)  # YYYYMMDD
    last_number = fields.IntField()

    class Meta:
        table = "ticket_counters"


class Ticket(Model):
    """One request for service; `number` is ``T-YYYYMMDD-NNNN``, gap-free per day."""

    id = fields.BigIntField(primary_key=True)
    number = fields.CharField(max_length=24, unique=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    category = fields.CharField(max_length=64, db_index=True)
    priority = fields.CharField(max_length=2, db_index=True)  # P0..P3
    customer = fields.CharField(max_length=64, null=True, db_index=True)  # external_userid
    source = fields.CharField(max_length=16)  # keyword_rule | alert | api | form | sidebar
    source_key = fields.CharField(max_length=128, null=True, unique=True)  # the event it came from
    keywords = fields.TextField(default="[]")  # JSON list of the matched keywords
    assignee = fields.CharField(max_length=64, null=True, db_index=True)
    route_id = fields.BigIntField(null=True, db_index=True)
    status = fields.CharField(max_length=20, db_index=True)
    created_by = fields.CharField(max_length=64, null=True)
    first_response_at = fields.FloatField(null=True)
    first_response_by = fields.CharField(max_length=64, null=True)
    resolved_at = fields.FloatField(null=True)
    closed_at = fields.FloatField(null=True)
    first_response_due = fields.FloatField(null=True)
    resolution_due = fields.FloatField(null=True)
    paused_at = fields.FloatField(null=True)  # in waiting_customer: the resolution clock stops
    sla_calendar = fields.TextField(null=True)  # the policy's business hours (JSON); null = 24/7
    fr_warn_at = fields.FloatField(null=True, db_index=True)
    fr_breach_at = fields.FloatField(null=True, db_index=True)
    res_warn_at = fields.FloatField(null=True, db_index=True)
    res_breach_at = fields.FloatField(null=True, db_index=True)
    breaches = fields.IntField(default=0)
    created_at = fields.FloatField(db_index=True)
    updated_at = fields.FloatField()

    class Meta:
        table = "tickets"
        indexes = (("customer", "category", "status"),)


class TicketEvent(Model):
    """One line of a ticket's timeline: created, merged, transition, comment, notice, SLA.

    `key`, when set, is unique: it makes an entry that an event or a sweep writes idempotent.
    """

    id = fields.BigIntField(primary_key=True)
    ticket_id = fields.BigIntField(db_index=True)
    kind = fields.CharField(max_length=24)
    by = fields.CharField(max_length=64, null=True)  # a staff userid, or null for the system
    data = fields.TextField(default="{}")  # JSON; never message text
    key = fields.CharField(max_length=160, null=True, unique=True)
    at = fields.FloatField()

    class Meta:
        table = "ticket_events"


class GroupChannel(Model):
    """Where notices go: a group robot, an app group chat, a person, or email addresses.

    A robot's webhook key is a credential: stored sealed by the archive's key ring
    (`archive.keys.sealed_secrets`), shown masked, never logged.
    """

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    kind = fields.CharField(max_length=16)  # robot | appchat | user | email
    target = fields.TextField(default="")  # chatid, userid, or JSON list of addresses
    secret = fields.TextField(null=True)  # the sealed robot key
    secret_hint = fields.CharField(max_length=32, null=True)  # the masked key, for display
    status = fields.CharField(max_length=16, default="active")  # active | parked
    last_error = fields.TextField(null=True)
    created_at = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "group_channels"


class TicketRoute(Model):
    """A routing rule; the enabled routes are tried by `order`, first match wins."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    order = fields.IntField(default=100)
    definition = fields.TextField()  # JSON: match, channels, escalation_channels, assignees, …
    is_default = fields.BooleanField(default=False)
    rr_next = fields.IntField(default=0)  # round robin position
    created_at = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "ticket_routes"


class SlaPolicy(Model):
    """Targets per priority, optionally per category (the category-specific one wins)."""

    id = fields.BigIntField(primary_key=True)
    priority = fields.CharField(max_length=2)
    category = fields.CharField(max_length=64, default="")  # "" = every category
    first_response_seconds = fields.IntField()
    resolution_seconds = fields.IntField()
    business_hours = fields.TextField(null=True)  # JSON calendar; null = around the clock
    created_at = fields.FloatField()

    class Meta:
        table = "sla_policies"
        unique_together = (("priority", "category"),)


class TicketNotice(Model):
    """A notice waiting for (or done with) one channel; pending ones are merged per send.

    `batch` names the send that carried it (the effect ledger's key): several notices for a
    robot past its 20 messages a minute go out together in one message.
    """

    id = fields.BigIntField(primary_key=True)
    channel_id = fields.BigIntField()
    ticket_id = fields.BigIntField(db_index=True)
    kind = fields.CharField(max_length=24)
    text = fields.TextField()  # markdown; a ticket number, labels, keywords, never chat text
    status = fields.CharField(max_length=16, default="pending")  # pending|sent|failed|unknown
    attempts = fields.IntField(default=0)
    batch = fields.CharField(max_length=160, null=True, db_index=True)
    next_at = fields.FloatField()
    sent_at = fields.FloatField(null=True)
    origin_at = fields.FloatField(null=True)  # when the customer wrote (keyword latency)
    created_at = fields.FloatField()

    class Meta:
        table = "ticket_notices"
        indexes = (("channel_id", "status", "next_at"), ("channel_id", "sent_at"))


# A robot's key is sealed under the archive's KEKs: rotate-kek re-seals it under the new KEK,
# and a KEK is not retired while one still needs it.
register_sealed_column("group_channels", "secret", sealed_secret(WEBHOOK_KEY_PURPOSE))
