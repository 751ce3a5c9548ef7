"""Archive tables: only ciphertext, wrapped keys, keyed hashes and coarse values at rest.

No column holds message text or a clear participant id. What is visible to someone with
the database but not the keys: the partition (corp, month), the hour of each message
(`hour`, needed for time-range filters), its msgtype, its WeCom msgid (an opaque id, the
dedupe key), the ciphertext length, and equality of hashed ids and index tokens (see
archive/README.md). Times compared in SQL are unix seconds as floats, like scrm/models.py.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ArchivePartition(Model):
    """One corp's month: its data key, stored only wrapped; NULL once crypto-shredded."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=96, unique=True)  # "<corp>:YYYY-MM" or "<corp>:audit"
    kek_id = fields.CharField(max_length=32, db_index=True)
    wrapped_key = fields.BinaryField(null=True)
    month_end = fields.FloatField(null=True)  # unix seconds; NULL for the audit partition
    created_at = fields.FloatField()
    shredded_at = fields.FloatField(null=True)

    class Meta:
        table = "archive_partitions"


class ArchiveRecord(Model):
    """One message: the whole WeCom JSON encrypted, chained within its conversation."""

    id = fields.BigIntField(primary_key=True)
    msgid = fields.CharField(max_length=128, unique=True)
    partition_id = fields.BigIntField(db_index=True)
    conversation = fields.CharField(max_length=64)  # hex HMAC of the room or the 1:1 pair
    position = fields.IntField()
    prev_hash = fields.BinaryField()
    record_hash = fields.BinaryField()
    ciphertext = fields.BinaryField()
    hour = fields.BigIntField(db_index=True)  # msgtime // 3600000: the time-filter precision
    msgtype = fields.CharField(max_length=32)
    created_at = fields.FloatField()

    class Meta:
        table = "archive_records"
        # No (partition_id, conversation, position) index: nothing queries by it (verify reads
        # a partition in id order), and each random insert into it cost ingest time.
        indexes = ()


class ArchiveParticipant(Model):
    """A keyed hash (first 8 bytes, as int64) of a customer, staff or room id → record."""

    id = fields.BigIntField(primary_key=True)
    key = fields.BigIntField()
    record_id = fields.BigIntField()

    class Meta:
        table = "archive_participants"
        indexes = (("key", "record_id"),)  # retention deletes by scan: rare, keeps ingest fast


class ArchivePosting(Model):
    """One blind-index token (8-byte HMAC as int64) of a record's text."""

    id = fields.BigIntField(primary_key=True)
    token = fields.BigIntField()
    record_id = fields.BigIntField()

    class Meta:
        table = "archive_postings"
        indexes = (("token", "record_id"),)  # retention deletes by scan: rare, keeps ingest fast


class ArchiveChainHead(Model):
    """The head of one conversation chain in one partition; locked while appending."""

    id = fields.BigIntField(primary_key=True)
    partition_id = fields.BigIntField()
    conversation = fields.CharField(max_length=64)
    position = fields.IntField()
    head_hash = fields.BinaryField()

    class Meta:
        table = "archive_chain_heads"
        unique_together = (("partition_id", "conversation"),)


class ArchiveCheckpoint(Model):
    """A signed checkpoint of the chain heads of one partition (or the audit log) on one day.

    Checkpoints are chained by ``seq`` (inside the signed body too); every signing run
    appends, none is replaced or deleted (retention keeps a shredded month's checkpoints).
    ``seq`` is NULL only for format 1 checkpoints signed before the chain existed.
    """

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(null=True, unique=True)
    partition = fields.CharField(max_length=96)
    day = fields.CharField(max_length=10)
    body = fields.TextField()  # archive.integrity.checkpoint.Checkpoint.to_json()
    created_at = fields.FloatField()

    class Meta:
        table = "archive_checkpoints"


class ArchiveReviewer(Model):
    """A reviewer, auditor or archive admin; only the SHA-256 of the token is stored."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    role = fields.CharField(max_length=16)  # reviewer|auditor|admin
    scope = fields.TextField()  # JSON {"kind": "all"|"staff"|"departments", "values": [...]}
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.FloatField()
    disabled = fields.BooleanField(default=False)

    class Meta:
        table = "archive_reviewers"


class ArchiveAuditHead(Model):
    """The single row every audit append locks, so sequence numbers never fork."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "archive_audit_head"


class ArchiveAuditEntry(Model):
    """One audit entry; justification and filters are encrypted (they may quote content)."""

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    at = fields.FloatField()
    actor = fields.CharField(max_length=64)
    role = fields.CharField(max_length=16)
    action = fields.CharField(max_length=16)
    outcome = fields.CharField(max_length=16)
    result_count = fields.IntField()
    details = fields.BinaryField()  # AES-GCM of {"justification", "filters"} (audit partition)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "archive_audit_entries"


class ArchivePullCursor(Model):
    """The largest session-archive seq whose batch is durably stored (PROTOCOL §5.2)."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField()
    updated_at = fields.FloatField()

    class Meta:
        table = "archive_pull_cursor"


class ArchivePullRetry(Model):
    """A pulled item that could not be decrypted yet (e.g. RSA key version missing)."""

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    msgid = fields.CharField(max_length=128)
    publickey_ver = fields.IntField()
    encrypt_random_key = fields.TextField()  # still RSA-encrypted, as WeCom sent it
    encrypt_chat_msg = fields.TextField()  # still encrypted by Tencent's SDK
    error = fields.CharField(max_length=255)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.FloatField()
    created_at = fields.FloatField()

    class Meta:
        table = "archive_pull_retries"
