"""Tag-rule CRUD, the dry-run evaluator, backtests, and the hits that explain every tag.

Outside the archive's reviewer role nothing derived from message content leaves here but
which keywords matched: hits and the admin's backtests carry keyword sets, no positions, no
texts. Samples with texts and positions are `POST /api/v1/archive/backtest`, a reviewer's
query (token, justification, scope, audit). The dry run keeps positions: the caller sent
the text.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from archive.review.api import ArchiveCall, audited, reviewer_body
from archive.review.query import limit_of
from scrm.api.errors import ApiError, json_body
from scrm.api.params import MAX_EPOCH_MS, MAX_ID, int_param, path_id, path_userid
from scrm.appkeys import SERVICES
from scrm.autotag.backtest import audit_filters, audit_summary_backtest, backtest_rule
from scrm.autotag.catalog import definition_of, rule_from_row, rule_json
from scrm.autotag.models import RuleHit, TagRule
from scrm.chat import MAX_CONTENT_CHARS
from scrm.models import Customer
from tagging import RuleValidationError, matches_to_dict, parse_rule


async def _body(request: web.Request) -> dict[str, Any]:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "the body must be a JSON object", "body")
    return data


def _validated(data: dict[str, Any], rule_id: int) -> Any:
    try:
        return parse_rule(data, rule_id)
    except RuleValidationError as exc:
        raise ApiError(422, "invalid", str(exc), exc.errors[0].field) from None


async def _rule(request: web.Request) -> TagRule:
    rule_id = path_id(request, "rule_id", "tag rule")
    row = await TagRule.get_or_none(id=rule_id)
    if row is None:
        raise ApiError(404, "not_found", f"tag rule {rule_id} does not exist")
    return row


async def _name_is_free(name: str, rule_id: int | None = None) -> None:
    clash = TagRule.filter(name=name)
    if rule_id is not None:
        clash = clash.exclude(id=rule_id)
    if await clash.exists():
        raise ApiError(409, "conflict", f"a rule named {name!r} already exists", "name")


async def create_rule(request: web.Request) -> web.Response:
    data = await _body(request)
    rule = _validated(data, 0)
    await _name_is_free(rule.name)
    now = request.app[SERVICES].clock()
    try:
        row = await TagRule.create(
            name=rule.name,
            definition=definition_of(rule),
            enabled=rule.enabled,
            created_at=now,
            updated_at=now,
        )
    except IntegrityError:
        raise ApiError(409, "conflict", "the rule could not be stored") from None
    await _changed(request)
    return web.json_response(rule_json(row), status=201)


async def list_rules(request: web.Request) -> web.Response:
    rows = await TagRule.all().order_by("id")
    return web.json_response({"rules": [rule_json(row) for row in rows]})


async def get_rule(request: web.Request) -> web.Response:
    return web.json_response(rule_json(await _rule(request)))


async def patch_rule(request: web.Request) -> web.Response:
    row = await _rule(request)
    patch = await _body(request)
    if "id" in patch:
        raise ApiError(422, "invalid", "id cannot be changed", "id")
    merged = {**json.loads(row.definition), **patch}
    rule = _validated(merged, row.id)
    await _name_is_free(rule.name, row.id)
    row.name, row.definition, row.enabled = rule.name, definition_of(rule), rule.enabled
    row.updated_at = request.app[SERVICES].clock()
    await row.save()
    await _changed(request)
    return web.json_response(rule_json(row))


async def delete_rule(request: web.Request) -> web.Response:
    row = await _rule(request)
    await row.delete()  # its hits stay: they explain tags already given
    await _changed(request)
    return web.Response(status=204)


async def evaluate(request: web.Request) -> web.Response:
    """A dry run of one message against the live rules: no thresholds, no actions."""
    data = await _body(request)
    text = data.get("text")
    if not isinstance(text, str) or not text:
        raise ApiError(422, "invalid", "text must be a non-empty string", "text")
    if len(text) > MAX_CONTENT_CHARS:
        raise ApiError(
            422, "invalid", f"text must be at most {MAX_CONTENT_CHARS} characters", "text"
        )
    sender = data.get("sender", "customer")
    if sender not in ("customer", "staff"):
        raise ApiError(422, "invalid", "sender must be 'customer' or 'staff'", "sender")
    autotag = request.app[SERVICES].autotag
    assert autotag is not None
    engine = await autotag.rules.current()
    return web.json_response(matches_to_dict(engine.evaluate(text, sender)))


async def customer_hits(request: web.Request) -> web.Response:
    external_userid = path_userid(request, "external_userid", "customer")
    known = await Customer.exists(external_userid=external_userid)
    if not known and not await RuleHit.exists(external_userid=external_userid):
        raise ApiError(404, "not_found", f"customer {external_userid} does not exist")
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=MAX_ID)
    query = RuleHit.filter(external_userid=external_userid).order_by("-id")
    if cursor is not None:
        query = query.filter(id__lt=cursor)
    rows = await query.limit(limit + 1)
    page = rows[:limit]
    return web.json_response(
        {
            "hits": [_hit_json(hit) for hit in page],
            "next_cursor": str(page[-1].id) if len(rows) > limit and page else None,
        }
    )


MAX_BACKTEST_DAYS = 366
API_BACKTEST_LIMIT = 200_000  # larger runs belong to `run.py rules backtest`


MAX_SAMPLES = 100


def _period(data: dict[str, Any], status: int = 422) -> tuple[int, int]:
    period = []
    for name in ("from", "to"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCH_MS:
            raise ApiError(status, "invalid", f"{name} must be milliseconds since the epoch", name)
        period.append(value)
    if period[0] >= period[1]:
        raise ApiError(status, "invalid", "from must be before to", "from")
    if period[1] - period[0] > MAX_BACKTEST_DAYS * 86_400_000:
        raise ApiError(
            status, "invalid", f"the period must be at most {MAX_BACKTEST_DAYS} days", "to"
        )
    return period[0], period[1]


def _draft(data: dict[str, Any], status: int = 422) -> Any:
    draft = data.get("rule")
    if not isinstance(draft, dict):
        raise ApiError(status, "invalid", "rule must be a rule object", "rule")
    try:
        return parse_rule(draft, 0)
    except RuleValidationError as exc:
        first = exc.errors[0]
        raise ApiError(
            status, "invalid", f"rule.{first.field}: {first.message}", f"rule.{first.field}"
        ) from None


async def _backtest(request: web.Request, rule: Any, data: dict[str, Any]) -> web.Response:
    """The admin's backtest: counts and the set of matched keywords, never texts or positions."""
    from_ms, to_ms = _period(data)
    archive = request.app[SERVICES].archive
    if archive is None:
        raise ApiError(409, "conflict", "backtests read the archive, which is not configured")
    report, truncated = await backtest_rule(
        archive, rule, from_ms=from_ms, to_ms=to_ms, max_messages=API_BACKTEST_LIMIT
    )
    await audit_summary_backtest(
        archive, rule, report, from_ms=from_ms, to_ms=to_ms, actor="service-admin"
    )
    return web.json_response({**report.summary(), "truncated": truncated})


async def backtest_saved(request: web.Request) -> web.Response:
    row = await _rule(request)
    return await _backtest(request, rule_from_row(row), await _body(request))


async def backtest_draft(request: web.Request) -> web.Response:
    data = await _body(request)
    return await _backtest(request, _draft(data), data)


@audited("backtest")
async def reviewer_backtest(request: web.Request, call: ArchiveCall) -> web.Response:
    """A reviewer's backtest: samples with texts and keyword positions, within their scope.

    The body names a saved rule (``rule_id``) or a draft (``rule``), the period, a
    justification and how many samples (``limit``, default 20); refusals are audited.
    """
    body = await reviewer_body(request, call)  # role, scope (departments → staff), reason
    rule_id = body.get("rule_id")
    if rule_id is not None:
        if isinstance(rule_id, bool) or not isinstance(rule_id, int) or not 0 < rule_id < 2**62:
            raise ApiError(400, "invalid", "rule_id must be a rule's id", "rule_id")
        row = await TagRule.get_or_none(id=rule_id)
        if row is None:
            raise ApiError(404, "not_found", f"tag rule {rule_id} does not exist", "rule_id")
        rule = rule_from_row(row)
    else:
        rule = _draft(body, status=400)
    from_ms, to_ms = _period(body, status=400)
    samples = limit_of(body, default=20, maximum=MAX_SAMPLES)
    call.filters = audit_filters(rule, from_ms, to_ms) | {"limit": samples}
    scope = call.who.scope
    report, truncated = await backtest_rule(
        call.runtime,
        rule,
        from_ms=from_ms,
        to_ms=to_ms,
        staff_scope=scope.values if scope.kind == "staff" else None,
        sample_limit=samples,
        max_messages=API_BACKTEST_LIMIT,
    )
    call.result_count = report.messages_matched
    return web.json_response({**report.to_dict(), "truncated": truncated})


def _hit_json(hit: RuleHit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "rule_id": hit.rule_id,
        "rule": hit.rule_name,
        "msgid": hit.msgid,
        "msgtime": hit.msgtime,
        "sender_kind": hit.sender_kind,
        "userid": hit.userid,
        "keywords": json.loads(hit.keywords),
        "fired": hit.fired,
        "actions": json.loads(hit.actions),
    }


async def _changed(request: web.Request) -> None:
    autotag = request.app[SERVICES].autotag
    if autotag is not None:
        await autotag.rules.changed()


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/tag-rules", create_rule)
    app.router.add_get("/api/v1/tag-rules", list_rules)
    app.router.add_get("/api/v1/tag-rules/{rule_id}", get_rule)
    app.router.add_patch("/api/v1/tag-rules/{rule_id}", patch_rule)
    app.router.add_delete("/api/v1/tag-rules/{rule_id}", delete_rule)
    app.router.add_post("/api/v1/tag-rules/backtest", backtest_draft)
    app.router.add_post("/api/v1/tag-rules/{rule_id}/backtest", backtest_saved)
    app.router.add_post("/api/v1/tagging/evaluate", evaluate)
    app.router.add_post("/api/v1/archive/backtest", reviewer_backtest)
    app.router.add_get("/api/v1/customers/{external_userid}/tag-hits", customer_hits)
