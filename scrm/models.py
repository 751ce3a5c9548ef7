"""Database models: the inbox (what arrived, who must process it, what happened) and contacts.

Times the workers compare in SQL are unix seconds as floats, so the same claim query runs on
SQLite and PostgreSQL without timezone conversions.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Event(Model):
    """One received event. `dedupe_key` makes WeCom's retries and duplicates a no-op."""

    id = fields.BigIntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=128, unique=True)
    name = fields.CharField(max_length=128, db_index=True)
    source = fields.CharField(max_length=32)
    payload = fields.TextField()  # JSON text; chat content sealed, stripped once processed
    occurred_at = fields.BigIntField(null=True)  # WeCom CreateTime, unix seconds
    received_at = fields.FloatField()

    runs: fields.ReverseRelation[HandlerRun]

    class Meta:
        table = "events"


class HandlerRun(Model):
    """Who must process an event: one row per (event, handler), claimed by workers."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="runs", on_delete=fields.CASCADE
    )
    handler = fields.CharField(max_length=96)
    status = fields.CharField(max_length=16, default="pending")  # pending|running|done|dead|expired
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.FloatField()
    locked_until = fields.FloatField(null=True)
    claim_token = fields.CharField(max_length=32, null=True)
    last_error = fields.TextField(null=True)
    updated_at = fields.FloatField()

    class Meta:
        table = "handler_runs"
        unique_together = (("event", "handler"),)
        # The second one serves the fast lane's claim (a few named handlers, e.g. welcomes).
        indexes = (("status", "next_attempt_at"), ("handler", "status", "next_attempt_at"))


class HandlerAttempt(Model):
    """What happened: one row per execution of a run, for operators and post-mortems."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[HandlerRun] = fields.ForeignKeyField(
        "models.HandlerRun", related_name="history", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    started_at = fields.FloatField()
    finished_at = fields.FloatField()
    outcome = fields.CharField(max_length=16)  # done|retry|dead
    error = fields.TextField(null=True)

    class Meta:
        table = "handler_attempts"


class Customer(Model):
    """An external contact (客户) as WeCom last described it."""

    id = fields.BigIntField(primary_key=True)
    external_userid = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=128, default="")
    avatar = fields.CharField(max_length=512, default="")
    type = fields.SmallIntField(default=0)  # 1 WeChat user, 2 WeCom user
    gender = fields.SmallIntField(default=0)
    unionid = fields.CharField(max_length=64, null=True)
    corp_name = fields.CharField(max_length=128, default="")
    updated_at = fields.FloatField()

    relations: fields.ReverseRelation[FollowRelation]

    class Meta:
        table = "customers"


class FollowRelation(Model):
    """A staff member following a customer. Ended relations are kept for history.

    `last_event_at` is the CreateTime of the newest event applied, so a late, older event
    never overwrites newer state (a late add after a del does not resurrect).
    """

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="relations", on_delete=fields.CASCADE
    )
    userid = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="active")  # active|pending|ended
    remark = fields.CharField(max_length=128, default="")
    description = fields.CharField(max_length=256, default="")
    state = fields.CharField(max_length=64, null=True)
    add_way = fields.SmallIntField(null=True)
    oper_userid = fields.CharField(max_length=64, null=True)
    added_at = fields.BigIntField(null=True)
    ended_at = fields.BigIntField(null=True)
    ended_reason = fields.CharField(max_length=32, null=True)
    last_event_at = fields.BigIntField(default=0)
    updated_at = fields.FloatField()

    tags: fields.ReverseRelation[CustomerTag]
    remark_mobiles: fields.ReverseRelation[RemarkMobile]

    class Meta:
        table = "follow_relations"
        unique_together = (("customer", "userid"),)


class RemarkMobile(Model):
    """A mobile number a staff member noted on a customer (备注手机号), as a keyed hash only.

    ``follow_user[].remark_mobiles`` of ``externalcontact/get``, normalised and hashed like a
    lead's phone (`archive.keys.pii`), never stored in clear: a lead whose phone hash matches
    is converted to this customer (`scrm.leads.linking`)."""

    id = fields.BigIntField(primary_key=True)
    relation: fields.ForeignKeyRelation[FollowRelation] = fields.ForeignKeyField(
        "models.FollowRelation", related_name="remark_mobiles", on_delete=fields.CASCADE
    )
    phone_hash = fields.CharField(max_length=64)

    class Meta:
        table = "remark_mobiles"
        unique_together = (("relation", "phone_hash"),)
        indexes = (("phone_hash",),)


class CorpTag(Model):
    """An enterprise tag (企业标签) as last read from get_corp_tag_list."""

    id = fields.BigIntField(primary_key=True)
    tag_id = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=64)
    group_id = fields.CharField(max_length=64)
    group_name = fields.CharField(max_length=64)
    order = fields.BigIntField(default=0)
    deleted = fields.BooleanField(default=False)
    updated_at = fields.FloatField()

    class Meta:
        table = "corp_tags"


class CustomerTag(Model):
    """A tag on a (staff, customer) relation; WeCom keeps tags per follow relation."""

    id = fields.BigIntField(primary_key=True)
    relation: fields.ForeignKeyRelation[FollowRelation] = fields.ForeignKeyField(
        "models.FollowRelation", related_name="tags", on_delete=fields.CASCADE
    )
    tag_id = fields.CharField(max_length=64)
    tag_name = fields.CharField(max_length=64, default="")
    group_name = fields.CharField(max_length=64, default="")
    type = fields.SmallIntField(default=1)  # 1 enterprise, 2 personal, 3 rule-group

    class Meta:
        table = "customer_tags"
        unique_together = (("relation", "tag_id"),)
