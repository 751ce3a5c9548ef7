"""The effect ledger's table: one row per outbound effect, keyed by its idempotency key."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Effect(Model):
    """One call that changes something outside (a tag marked, a message sent).

    Claimed (inserted) before the call under a unique `key`, closed with its outcome after it.
    `status`: claimed → done | failed | unknown. Times are unix seconds as floats, compared in
    SQL like the workers' leases. `request` and `result` are small JSON summaries (ids,
    errcode, errmsg): never a secret, a token or message text.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=255, unique=True)
    kind = fields.CharField(max_length=32)
    policy = fields.CharField(max_length=16)  # idempotent | at_most_once
    subject = fields.CharField(max_length=160, null=True)  # e.g. "{corp}:{external_userid}"
    status = fields.CharField(max_length=16)  # claimed | done | failed | unknown
    attempts = fields.IntField(default=1)
    claim_token = fields.CharField(max_length=32, null=True)
    claimed_until = fields.FloatField(null=True)
    retryable = fields.BooleanField(default=False)  # a failure a later run may try again
    errcode = fields.IntField(null=True)
    request = fields.TextField(default="{}")
    result = fields.TextField(null=True)
    created_at = fields.FloatField()
    updated_at = fields.FloatField()
    finished_at = fields.FloatField(null=True)

    class Meta:
        table = "effects"
        indexes = (("subject", "status"), ("status", "kind"), ("kind",))
