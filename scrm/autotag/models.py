"""Keyword rules and their hits, stored so every automatic tag can be explained."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TagRule(Model):
    """A keyword rule; `definition` is the rule JSON as the API accepted it (without id)."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100)
    definition = fields.TextField()
    enabled = fields.BooleanField(default=True)
    created_at = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "tag_rules"


class RuleHit(Model):
    """One rule matching one message for one customer: keywords, actions, outcome.

    Unique per (rule, message, customer), so a redelivered message never acts twice.
    `fired` is False when the threshold was not reached yet: the hit still counts.
    """

    id = fields.BigIntField(primary_key=True)
    rule_id = fields.BigIntField()
    rule_name = fields.CharField(max_length=100)
    msgid = fields.CharField(max_length=128)
    external_userid = fields.CharField(max_length=64, db_index=True)
    userid = fields.CharField(max_length=64, null=True)  # the staff member whose tags changed
    sender_kind = fields.CharField(max_length=16)
    msgtime = fields.BigIntField()  # ms
    keywords = fields.TextField()  # JSON ["keyword", …]: sorted, unique, no positions
    fired = fields.BooleanField()
    actions = fields.TextField()  # JSON [{"type", …, "outcome"}]
    created_at = fields.FloatField()

    class Meta:
        table = "rule_hits"
        unique_together = (("rule_id", "msgid", "external_userid"),)
        indexes = (("rule_id", "external_userid", "msgtime"),)


class RuleVersion(Model):
    """One row counting rule changes. Every process compares it with the version it compiled
    (at most once a second) and recompiles when it moved; in the database, so a change made
    through any process — the API, `run.py rules import` — reaches all of them, with or
    without Redis."""

    id = fields.SmallIntField(primary_key=True, generated=False)  # always RULE_VERSION_ID
    version = fields.BigIntField(default=0)

    class Meta:
        table = "tag_rule_version"
