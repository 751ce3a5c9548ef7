"""Build real hash chains for tests."""

from __future__ import annotations

from archive.integrity.message_chain import ChainRecord, genesis_head

CONV = "ww1:wmABC:external1"


def build_chain(count: int, conversation: str = CONV) -> list[ChainRecord]:
    """Return records r1..r<count> at positions 1..count, ciphertext b'ct<n>'."""
    records: list[ChainRecord] = []
    head = genesis_head(conversation)
    for number in range(1, count + 1):
        record = ChainRecord.link(f"r{number}", f"msg{number}", f"ct{number}".encode(), head)
        records.append(record)
        head = (record.position, record.record_hash)
    return records
