"""What the ledger stores of a request, a result or an error: small JSON, never a secret.

The rows are listed to operators (``GET /api/v1/effects``), so an exception keeps only its
type and a scrubbed, short message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapters.wecom.errors import scrub


def summary_json(data: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys, as the request and result columns hold it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def error_summary(exc: BaseException) -> dict[str, Any]:
    """What is kept of an exception: its type and a scrubbed, short message."""
    return {"error": type(exc).__name__, "message": scrub(str(exc))[:200]}
