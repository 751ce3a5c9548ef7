"""Leads, what happened to them, and follow-ups.

A `Lead` is one prospect who left details through a form channel (web page or mini-program).
Its phone number rests only sealed (`archive.keys.pii.FieldSeal`) next to a keyed hash used for
dedupe and lookup; nothing else about it is in clear. `LeadEvent` is the history (submitted,
resubmitted, assigned, reassigned, status, released, claimed, recycled, linked — converted to a
WeCom customer by unionid or phone): who, why, when.
`FollowUp` is a note by a staff member on a lead or a customer, with an optional reminder whose
due time lives here (the scheduler only ticks).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from archive.keys.pii import personal_field
from archive.keys.sealed_columns import register_sealed_column
from scrm.channels.models import Channel

STATUSES = ("new", "contacted", "qualified", "converted", "lost")
OPEN_STATUSES = ("new", "contacted", "qualified")
FOLLOWUP_KINDS = ("note", "call", "visit", "message")
PHONE_FIELD = "phone"  # the sealed field's name (bound into its ciphertext)
SESSION_KEY_FIELD = "session_key"


class Lead(Model):
    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "models.Channel", related_name="leads", on_delete=fields.RESTRICT
    )
    source = fields.CharField(max_length=16, default="form")  # form | miniprogram
    phone_sealed = fields.TextField()  # archive.keys.pii: "1:<kek id>:<base64>"
    phone_hash = fields.CharField(max_length=64)  # keyed hash: dedupe and lookup
    name = fields.CharField(max_length=200, default="")
    company = fields.CharField(max_length=200, default="")
    answers: Any = fields.JSONField(default=dict)  # the other fields: {key: value}
    status = fields.CharField(max_length=16, default="new")
    owner = fields.CharField(max_length=64, null=True)
    pooled = fields.BooleanField(default=False)  # in the public pool (公海), owner cleared
    assign_version = fields.IntField(default=0)  # one notice per assignment
    submissions = fields.IntField(default=1)
    first_submitted_at = fields.FloatField()
    last_submitted_at = fields.FloatField()
    assigned_at = fields.FloatField(null=True)
    last_followup_at = fields.FloatField(null=True)
    unionid = fields.CharField(max_length=64, null=True)
    external_userid = fields.CharField(max_length=64, null=True)  # once converted
    created_at = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "leads"
        indexes = (
            ("phone_hash", "channel_id", "last_submitted_at"),
            ("unionid", "external_userid"),
            ("owner", "status"),
            ("pooled", "status"),
            ("channel_id", "id"),
        )


class LeadEvent(Model):
    id = fields.BigIntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    userid = fields.CharField(max_length=64, null=True)  # the staff member it concerns
    actor = fields.CharField(max_length=64, null=True)  # who did it ("system" for rules)
    reason = fields.CharField(max_length=200, null=True)
    data: Any = fields.JSONField(default=dict)  # field names, from/to; never a phone number
    at = fields.FloatField()

    class Meta:
        table = "lead_events"
        indexes = (("lead_id", "at"), ("kind", "userid", "at"))


class FollowUp(Model):
    id = fields.BigIntField(primary_key=True)
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="followups", on_delete=fields.CASCADE, null=True
    )
    external_userid = fields.CharField(max_length=64, null=True)
    userid = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16)
    note = fields.TextField()
    remind_at = fields.FloatField(null=True)
    reminded_at = fields.FloatField(null=True)
    created_at = fields.FloatField()

    class Meta:
        table = "followups"
        indexes = (("remind_at", "reminded_at"), ("external_userid", "created_at"))


class MiniProgramUser(Model):
    """A customer who logged in to the company mini-program (``jscode2session``).

    WeChat's ``session_key`` never leaves the server: it rests sealed (`archive.keys.pii`).
    """

    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    session_key_sealed = fields.TextField(null=True)
    created_at = fields.FloatField()
    last_login_at = fields.FloatField()

    class Meta:
        table = "miniprogram_users"


class MiniProgramScan(Model):
    """One scan of a mini-program code: who (openid and unionid), which channel, when.

    ``external_userid`` is filled when a WeCom customer with the same unionid appears
    (attribution across the mini-program and WeCom).
    """

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "models.Channel", related_name="scans", on_delete=fields.RESTRICT
    )
    openid = fields.CharField(max_length=64)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    scene = fields.CharField(max_length=32)
    external_userid = fields.CharField(max_length=64, null=True)
    at = fields.FloatField()

    class Meta:
        table = "miniprogram_scans"
        indexes = (("channel_id", "at"), ("openid", "at"))


# Values sealed under the archive's KEKs: rotate-kek re-seals them under the new KEK, and a KEK
# is not retired while one of them still needs it.
register_sealed_column("leads", "phone_sealed", personal_field(PHONE_FIELD))
register_sealed_column("miniprogram_users", "session_key_sealed", personal_field(SESSION_KEY_FIELD))
