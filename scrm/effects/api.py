"""`GET /api/v1/effects`: the ledger of outbound effects, newest first, for operators."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from scrm.api.params import choice_param, int_param
from scrm.effects.kinds import KINDS, STATUSES
from scrm.effects.models import Effect


async def list_effects(request: web.Request) -> web.Response:
    status = choice_param(request, "status", STATUSES)
    kind = choice_param(request, "kind", tuple(KINDS))
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=2**62)
    query = Effect.all().order_by("-id")
    if status is not None:
        query = query.filter(status=status)
    if kind is not None:
        query = query.filter(kind=kind)
    if cursor is not None:
        query = query.filter(id__lt=cursor)
    effects = await query.limit(limit + 1)
    page, more = effects[:limit], len(effects) > limit
    return web.json_response(
        {
            "effects": [_effect_json(effect) for effect in page],
            "next_cursor": str(page[-1].id) if more and page else None,
        }
    )


def _effect_json(effect: Effect) -> dict[str, Any]:
    return {
        "id": effect.id,
        "key": effect.key,
        "kind": effect.kind,
        "policy": effect.policy,
        "subject": effect.subject,
        "status": effect.status,
        "attempts": effect.attempts,
        "errcode": effect.errcode,
        "retryable": effect.retryable,
        "request": json.loads(effect.request),
        "result": json.loads(effect.result) if effect.result else None,
        "claimed_until": effect.claimed_until if effect.status == "claimed" else None,
        "created_at": effect.created_at,
        "updated_at": effect.updated_at,
        "finished_at": effect.finished_at,
    }


def register(app: web.Application) -> None:
    app.router.add_get("/api/v1/effects", list_effects)
