"""One canonical JSON encoding, so that hashes and signatures over JSON are reproducible."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Encode with sorted keys, no whitespace, UTF-8 and no NaN: equal data, equal bytes."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"value is not canonical-JSON encodable: {exc}") from None
    return text.encode("utf-8")
