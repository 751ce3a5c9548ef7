"""``/api/v1/channels``: create, list, change and archive channels; their codes and stats."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from scrm.api.errors import ApiError, json_body
from scrm.api.params import choice_param, int_param, path_id
from scrm.appkeys import SERVICES
from scrm.channels import qr
from scrm.channels.customers import list_customers
from scrm.channels.models import KINDS, Channel
from scrm.channels.rotation import DEFAULT_TIMEZONE
from scrm.channels.service import (
    archive_channel,
    channel_json,
    code_png,
    code_text,
    create_channel,
    update_channel,
)
from scrm.channels.spec import SpecError, parse_spec
from scrm.channels.state import default_channel
from scrm.channels.stats import ChannelStats, Window, channel_stats

MAX_WINDOW_DAYS = 366


async def create(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        spec = parse_spec(await json_body(request))
    except SpecError as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None
    channel = await create_channel(services, spec)
    return web.json_response(channel_json(channel), status=201)


async def list_channels(request: web.Request) -> web.Response:
    kind = choice_param(request, "kind", KINDS)
    archived = _flag(request, "archived")
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=2**62)
    await default_channel(request.app[SERVICES].clock())  # always listed, even before any event
    query = Channel.all().order_by("id")
    if kind is not None:
        query = query.filter(kind=kind)
    if archived is not None:
        query = query.filter(archived=archived)
    if cursor is not None:
        query = query.filter(id__gt=cursor)
    rows = await query.limit(limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return web.json_response(
        {
            "channels": [channel_json(c) for c in page],
            "next_cursor": str(page[-1].id) if more and page else None,
        }
    )


async def get_one(request: web.Request) -> web.Response:
    return web.json_response(channel_json(await _channel(request)))


async def patch(request: web.Request) -> web.Response:
    channel = await _channel(request)
    body = await json_body(request)
    try:
        changed = await update_channel(request.app[SERVICES], channel, body)
    except SpecError as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None
    return web.json_response(channel_json(changed))


async def delete(request: web.Request) -> web.Response:
    channel = await archive_channel(request.app[SERVICES], await _channel(request))
    return web.json_response(channel_json(channel))


async def qrcode_png(request: web.Request) -> web.Response:
    channel = await _channel(request)
    png = await code_png(request.app[SERVICES], channel)
    if _flag(request, "poster"):
        caption = request.query.get("caption")
        if caption is not None and (len(caption) > qr.CAPTION_MAX or not caption.isprintable()):
            raise ApiError(
                422,
                "invalid",
                f"caption is at most {qr.CAPTION_MAX} printable characters",
                "caption",
            )
        try:
            png = qr.render_poster(png, channel.name, caption)
        except qr.PosterUnavailable as exc:
            raise ApiError(503, "poster_unavailable", str(exc)) from None
    return web.Response(body=png, content_type="image/png")


async def qrcode_svg(request: web.Request) -> web.Response:
    channel = await _channel(request)
    text = await code_text(request.app[SERVICES], channel)
    return web.Response(body=qr.code_svg(text), content_type="image/svg+xml")


async def stats_one(request: web.Request) -> web.Response:
    channel = await _channel(request)
    window = _window(request)
    found = await channel_stats(window, [channel.id])
    stats = found.get(channel.id) or _empty(window)
    return web.json_response({"channel_id": channel.id, **stats.to_json(window)})


async def stats_all(request: web.Request) -> web.Response:
    window = _window(request)
    found = await channel_stats(window)
    rows = []
    for channel in await Channel.all().order_by("id"):
        stats = found.get(channel.id) or _empty(window)
        body = stats.to_json(window)
        rows.append(
            {
                "id": channel.id,
                "name": channel.name,
                "state": channel.state,
                "archived": channel.archived,
                "adds": body["adds"],
                "retained": body["retained"],
                "lost": body["lost"],
            }
        )
    rows.sort(key=lambda r: (-r["adds"], r["id"]))
    return web.json_response(
        {"from": window.first.isoformat(), "to": window.last.isoformat(), "channels": rows}
    )


def _empty(window: Window) -> ChannelStats:
    return ChannelStats(by_day={day: [0, 0] for day in window.days()})


def _window(request: web.Request) -> Window:
    """``from``/``to`` as local dates (inclusive) in ``tz``; default: the last 30 days."""
    zone_name = request.query.get("tz", DEFAULT_TIMEZONE)
    try:
        if "\x00" in zone_name or not zone_name:
            raise ValueError(zone_name)
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError, OSError):
        raise ApiError(422, "invalid", "tz must be an IANA time zone name", "tz") from None
    today = datetime.fromtimestamp(request.app[SERVICES].clock(), zone).date()
    last = _date(request, "to") or today
    first = _date(request, "from") or last - timedelta(days=29)
    if first > last:
        raise ApiError(422, "invalid", "from must not be after to", "from")
    if (last - first).days >= MAX_WINDOW_DAYS:
        raise ApiError(422, "invalid", f"the window is at most {MAX_WINDOW_DAYS} days", "from")
    return Window(first, last, zone)


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid", f"{name} must be a date YYYY-MM-DD", name) from None
    if not date(1970, 1, 2) <= day <= date(2999, 12, 30):
        raise ApiError(422, "invalid", f"{name} must be between 1970 and 2999", name)
    return day


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    raise ApiError(422, "invalid", f"{name} must be true/false or 1/0", name)


async def _channel(request: web.Request) -> Channel:
    channel_id = path_id(request, "channel_id", "channel")
    channel = await Channel.get_or_none(id=channel_id)
    if channel is None:
        raise ApiError(404, "not_found", f"channel {channel_id} does not exist")
    return channel


def register(app: web.Application) -> None:
    app.router.add_get("/api/v1/customers", list_customers)
    app.router.add_post("/api/v1/channels", create)
    app.router.add_get("/api/v1/channels", list_channels)
    app.router.add_get("/api/v1/channels/stats", stats_all)
    one = "/api/v1/channels/{channel_id}"
    app.router.add_get(one, get_one)
    app.router.add_patch(one, patch)
    app.router.add_delete(one, delete)
    app.router.add_get(one + "/stats", stats_one)
    app.router.add_get(one + "/qrcode.png", qrcode_png)
    app.router.add_get(one + "/qrcode.svg", qrcode_svg)
