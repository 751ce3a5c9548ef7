"""Export: the matching messages as JSONL plus a manifest that lets anyone re-check them.

The answer is one JSON document ``{"jsonl": "...", "manifest": {...}}``: the JSONL holds
one WeCom message per line; the manifest holds its SHA-256, per line the record's
partition, conversation, position and chain hash, and the current head of every chain
touched, so a recipient can see the export against a later `archive verify` or checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archive.review.search import SearchFilters, SearchProblem, search_records
from archive.runtime import ArchiveRuntime
from archive.store.bulk import select_in

MAX_EXPORT = 10_000


async def export(
    runtime: ArchiveRuntime, filters: SearchFilters, limit: int = MAX_EXPORT
) -> dict[str, Any]:
    """Collect every match (up to `limit`) and describe it in a manifest."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    problems: list[SearchProblem] = []
    cursor: str | None = None
    while len(found) < limit:
        page, cursor = await search_records(runtime, filters, limit - len(found), cursor, problems)
        found.extend(page)
        if cursor is None:
            break
    lines = [json.dumps(message, ensure_ascii=False, sort_keys=True) for _, message in found]
    jsonl = "".join(line + "\n" for line in lines)
    names = await _partition_names(runtime, {row["partition_id"] for row, _ in found})
    records = [
        {
            "line": number,
            "msgid": row["msgid"],
            "partition": names[row["partition_id"]],
            "conversation": row["conversation"],
            "position": row["position"],
            "record_hash": bytes(row["record_hash"]).hex(),
            "prev_hash": bytes(row["prev_hash"]).hex(),
            "line_sha256": hashlib.sha256(line.encode()).hexdigest(),
        }
        for number, ((row, _), line) in enumerate(zip(found, lines, strict=True), start=1)
    ]
    heads = await _chain_heads(
        runtime, {(row["partition_id"], row["conversation"]) for row, _ in found}
    )
    manifest = {
        "format": "scrm-archive-export/1",
        "exported_at": runtime.clock(),
        "count": len(found),
        "truncated": cursor is not None,
        "jsonl_sha256": hashlib.sha256(jsonl.encode()).hexdigest(),
        "records": records,
        "chain_heads": [
            {"partition": names[pid], "conversation": conv, "position": pos, "hash": digest}
            for (pid, conv), (pos, digest) in sorted(heads.items())
        ],
        "problems": [problem.as_json() for problem in problems],  # records left out, unreadable
    }
    return {"jsonl": jsonl, "manifest": manifest}


async def _partition_names(runtime: ArchiveRuntime, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ",".join(runtime.db.placeholders(len(ids)))
    rows = await runtime.db.fetch(
        f"SELECT id, name FROM archive_partitions WHERE id IN ({marks})", sorted(ids)
    )
    return {row["id"]: row["name"] for row in rows}


async def _chain_heads(
    runtime: ArchiveRuntime, chains: set[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, str]]:
    """The heads of the exported chains: one query per partition, not one per conversation."""
    db = runtime.db
    heads: dict[tuple[int, str], tuple[int, str]] = {}
    sql = (
        "SELECT conversation, position, head_hash FROM archive_chain_heads "
        "WHERE partition_id = {} AND {in}"
    )
    for pid in sorted({pid for pid, _ in chains}):
        convs = sorted(conv for p, conv in chains if p == pid)
        for row in await select_in(db, db.connection(), sql, "conversation", "text", convs, [pid]):
            heads[(pid, row["conversation"])] = (row["position"], bytes(row["head_hash"]).hex())
    return heads
