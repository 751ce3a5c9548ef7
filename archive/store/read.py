"""Read stored records back: unwrap the partition's data key, check the GCM tag, decrypt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from archive.keys.envelope import decrypt_message
from archive.runtime import ArchiveRuntime
from archive.store.partitions import Partition, load_partition

RECORD_COLUMNS = (
    "id, msgid, partition_id, conversation, position, prev_hash, record_hash, ciphertext, hour"
)


class PartitionKeys:
    """Partitions of one query: one SELECT for all of them (there are few), unwrapped lazily."""

    def __init__(self, runtime: ArchiveRuntime) -> None:
        self.runtime = runtime
        self._rows: dict[int, dict[str, Any]] | None = None
        self._loaded: dict[int, Partition] = {}

    async def get(self, partition_id: int) -> Partition:
        """The partition, with its unwrapped data key (None if shredded)."""
        if partition_id in self._loaded:
            return self._loaded[partition_id]
        if self._rows is None or partition_id not in self._rows:
            rows = await self.runtime.db.fetch(
                "SELECT id, name, kek_id, wrapped_key FROM archive_partitions"
            )
            self._rows = {row["id"]: dict(row) for row in rows}
        row = self._rows.get(partition_id)
        if row is None:
            return await load_partition(self.runtime, partition_id)  # raises: no such row
        dek = None
        if row["wrapped_key"] is not None:
            dek = self.runtime.data_key(row["name"], row["kek_id"], bytes(row["wrapped_key"]))
        self._loaded[partition_id] = Partition(partition_id, row["name"], dek)
        return self._loaded[partition_id]


async def decrypt_row(keys: PartitionKeys, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The WeCom message JSON of one record row; None when its partition was shredded."""
    partition = await keys.get(row["partition_id"])
    if partition.dek is None:
        return None
    plaintext = decrypt_message(
        partition.dek,
        bytes(row["ciphertext"]),
        msgid=row["msgid"],
        partition=partition.name,
        position=row["position"],
    )
    message: dict[str, Any] = json.loads(plaintext)
    return message


async def read_message(runtime: ArchiveRuntime, msgid: str) -> dict[str, Any] | None:
    """Decrypt one message by msgid (tests, operators)."""
    rows = await runtime.db.fetch(
        f"SELECT {RECORD_COLUMNS} FROM archive_records "
        f"WHERE msgid = {runtime.db.placeholders(1)[0]}",
        [msgid],
    )
    if not rows:
        return None
    return await decrypt_row(PartitionKeys(runtime), rows[0])
