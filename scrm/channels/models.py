"""Acquisition channels (渠道活码) and the customers who came through them.

A `Channel` is one way customers reach the company: a contact-way QR code today (``kind``
``contact_way``), later an H5 form or a mini-program code, whose kind-specific settings live in
``options``. A `ChannelLink` is one add through a channel: stats and the customer list are
derived from these rows and the follow relations, never from counters, so a redelivered or
replayed event cannot inflate them (one row per (customer, staff, add time)).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

KINDS = ("contact_way", "form", "miniprogram")


class Channel(Model):
    """One channel: who is on its code, which tags it gives, what it says first."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16, default="contact_way")
    # The contact-way state (≤ 30 characters, WeCom's limit); one per channel, kept forever.
    state = fields.CharField(max_length=30, unique=True)
    is_default = fields.BooleanField(default=False)  # `unattributed`: unknown or empty states
    staff: Any = fields.JSONField(default=list)  # userids configured on the channel
    tags: Any = fields.JSONField(default=list)  # [{"name", "group"?, "tag_id"}] corp tags
    welcome: Any = fields.JSONField(null=True)  # {"text", "link"?, "miniprogram"?}
    skip_verify = fields.BooleanField(default=True)
    rotation: Any = fields.JSONField(null=True)  # {"daily_cap", "schedule", "backup", "timezone"}
    options: Any = fields.JSONField(default=dict)  # kind-specific settings (form fields, page path)
    config_id = fields.CharField(max_length=64, null=True)  # contact_way: WeCom's id
    qr_code = fields.CharField(max_length=512, null=True)  # contact_way: the image URL
    qr_png = fields.BinaryField(null=True)  # the image, fetched once from qr_code
    qr_text = fields.CharField(max_length=1024, null=True)  # what the image encodes (for SVG)
    # Rotation: who is on the code now, when that changes next, and the push's version.
    active_staff: Any = fields.JSONField(default=list)
    next_change_at = fields.FloatField(null=True)
    rotation_version = fields.IntField(default=0)
    archived = fields.BooleanField(default=False)
    archived_at = fields.FloatField(null=True)
    created_at = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "channels"
        indexes = (("archived", "kind"), ("next_change_at",))


class ChannelLink(Model):
    """One add through a channel: the customer, the staff member added, WeCom's CreateTime.

    The earliest link of a customer is their `source`; later ones are touches.
    """

    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[Channel] = fields.ForeignKeyField(
        "models.Channel", related_name="links", on_delete=fields.RESTRICT
    )
    external_userid = fields.CharField(max_length=64)
    userid = fields.CharField(max_length=64)
    added_at = fields.BigIntField()  # the add event's CreateTime, unix seconds
    event_id = fields.BigIntField(null=True)
    created_at = fields.FloatField()

    class Meta:
        table = "channel_links"
        unique_together = (("external_userid", "userid", "added_at"),)
        indexes = (("channel_id", "added_at"), ("channel_id", "userid", "added_at"))
