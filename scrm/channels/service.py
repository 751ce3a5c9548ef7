"""Create, change and archive channels: WeCom first, then the database, nothing partial.

A contact-way channel exists in WeCom as a 「联系我」 way (``config_id``); every change that WeCom
must know (who is on the code, skip_verify) is pushed with ``update_contact_way`` before it is
stored, and a refusal is a 502 naming the errcode with nothing stored. Deleting removes the way
(the QR stops working) and keeps the channel, archived, so attribution history stays.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError

from adapters.wecom import WeComAPIError, WeComError
from scrm.api.errors import ApiError
from scrm.autotag.tags import TagUnavailable, ensure_tag
from scrm.channels import qr
from scrm.channels import rotation as rot
from scrm.channels.models import Channel
from scrm.channels.spec import ChannelSpec, TagName, apply_changes
from scrm.channels.staffing import adds_today
from scrm.channels.state import new_state
from scrm.effects import effect_key
from scrm.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


async def wecom(what: str, call: Awaitable[T]) -> T:
    """Await a WeCom call; its failure is the API's 502 naming the errcode."""
    try:
        return await call
    except WeComAPIError as exc:
        raise ApiError(
            502, "wecom_error", f"{what}: WeCom answered errcode {exc.errcode}: {exc.errmsg}"
        ) from None
    except WeComError as exc:
        raise ApiError(502, "wecom_unavailable", f"{what}: {exc}") from None


async def contact_way_effect(
    services: Services,
    kind: str,
    call: Callable[[], Awaitable[T]],
    *,
    subject: str,
    request: dict[str, Any],
) -> T:
    """An admin's change to a contact way, through the effect ledger like every outbound
    effect: claimed, called once, its outcome recorded (each API request its own effect).
    WeCom refusing it, or not answering, is the API's 502 naming the errcode."""
    key = effect_key(kind, services.wecom.corp_id, "channel-request", secrets.token_hex(8))
    results: list[T] = []

    async def keep(value: T) -> None:
        results.append(value)

    run = services.effects.run(key, kind, call, subject=subject, request=request, on_done=keep)
    outcome = await wecom(kind, run)  # a retryable refusal is recorded, then raised
    if outcome.status == "done" and results:
        return results[0]
    if outcome.status == "failed":
        errmsg = outcome.result.get("errmsg", "")
        raise ApiError(
            502, "wecom_error", f"{kind}: WeCom answered errcode {outcome.errcode}: {errmsg}"
        )
    raise ApiError(502, "wecom_unavailable", f"{kind}: WeCom did not answer ({outcome.label})")


async def resolve_tags(services: Services, tags: tuple[TagName, ...]) -> list[dict[str, Any]]:
    """The channel's tags with their corp tag ids, created in WeCom when missing."""
    resolved = []
    cause = "channel-request:" + secrets.token_hex(8)  # one API request: one effect per tag
    for tag in tags:
        try:
            corp_tag = await wecom(
                "add_corp_tag", ensure_tag(services, tag.name, tag.group, cause=cause)
            )
        except TagUnavailable as exc:
            raise ApiError(
                502, "wecom_error", f"add_corp_tag for tag {tag.name!r}: {exc.outcome}"
            ) from None
        # The group the tag is in, also when none was named (WeCom's, or the default group).
        resolved.append({**tag.to_json(), "group": corp_tag.group_name, "tag_id": corp_tag.tag_id})
    return resolved


async def create_channel(services: Services, spec: ChannelSpec) -> Channel:
    """Create the way in WeCom, then store the channel; a clash or refusal stores nothing."""
    state = spec.state or new_state()
    if await Channel.exists(state=state):
        raise ApiError(422, "invalid", f"state {state!r} is taken by another channel", "state")
    tags = await resolve_tags(services, spec.tags)
    now = services.clock()
    plan = rot.plan(spec.rotation, spec.staff, {}, now)
    way = await contact_way_effect(
        services,
        "add_contact_way",
        lambda: services.wecom.add_contact_way(
            type=1 if len(spec.everyone) == 1 else 2,
            scene=2,
            user=plan.staff,
            state=state,
            skip_verify=spec.skip_verify,
        ),
        subject=f"contact_way:{state}",
        request={"state": state, "user": list(plan.staff), "skip_verify": spec.skip_verify},
    )
    try:
        return await Channel.create(
            name=spec.name,
            kind=spec.kind,
            state=state,
            staff=list(spec.staff),
            tags=tags,
            welcome=spec.welcome,
            skip_verify=spec.skip_verify,
            rotation=spec.rotation.to_json() if spec.rotation else None,
            options=spec.options,
            config_id=way.config_id,
            qr_code=way.qr_code,
            active_staff=list(plan.staff),
            next_change_at=plan.next_change_at,
            created_at=now,
            updated_at=now,
        )
    except IntegrityError:  # the state was taken between the check and the insert
        await _forget_way(services, way.config_id)
        raise ApiError(
            422, "invalid", f"state {state!r} is taken by another channel", "state"
        ) from None


async def update_channel(services: Services, channel: Channel, data: object) -> Channel:
    """Apply a PATCH; who is on the code and skip_verify are pushed to WeCom first."""
    if channel.archived:
        raise ApiError(409, "conflict", f"channel {channel.id} is archived")
    spec, changed = apply_changes(spec_of(channel), data)
    if channel.is_default and changed & {"staff", "rotation", "skip_verify"}:
        raise ApiError(
            422, "invalid", "the default channel has no code to staff", sorted(changed)[0]
        )
    now = services.clock()
    fields: dict[str, Any] = {"updated_at": now}
    if "tags" in changed:
        fields["tags"] = await resolve_tags(services, spec.tags)
    if changed & {"staff", "rotation", "skip_verify"} and channel.config_id:
        if len(spec.everyone) > 1 >= len(spec_of(channel).everyone):
            await _refuse_growing_a_single_code(services, channel, changed)
        rotation = spec.rotation
        plan = rot.plan(rotation, spec.staff, await adds_today(channel, rotation, now), now)
        config_id = channel.config_id
        await contact_way_effect(
            services,
            "update_contact_way",
            lambda: services.wecom.update_contact_way(
                config_id, user=plan.staff, skip_verify=spec.skip_verify
            ),
            subject=f"channel:{channel.id}",
            request={"config_id": config_id, "user": list(plan.staff)},
        )
        fields |= {
            "active_staff": list(plan.staff),
            "next_change_at": plan.next_change_at,
            "rotation_version": channel.rotation_version + 1,
        }
    fields |= {
        "name": spec.name,
        "staff": list(spec.staff),
        "welcome": spec.welcome,
        "skip_verify": spec.skip_verify,
        "rotation": spec.rotation.to_json() if spec.rotation else None,
        "options": spec.options,
    }
    await Channel.filter(id=channel.id).update(**fields)
    return await Channel.get(id=channel.id)


async def _refuse_growing_a_single_code(
    services: Services, channel: Channel, changed: set[str]
) -> None:
    """A code made for one member (WeCom's type 1, 单人) never takes several: say so, as a 422.

    WeCom fixes a way's type at creation (`update_contact_way` has no ``type``) and refuses
    several users on a type-1 way; a channel that shrank to one member keeps its type 2.
    """
    way = await wecom("get_contact_way", services.wecom.get_contact_way(channel.config_id or ""))
    if way.get("type") == 1:
        raise ApiError(
            422,
            "invalid",
            f"channel {channel.id}'s code was made for one member (a WeCom 单人 code) and cannot "
            "take several; create a new channel for several members",
            "staff" if "staff" in changed else "rotation",
        )


async def archive_channel(services: Services, channel: Channel) -> Channel:
    """Delete the way in WeCom and keep the channel, archived (its links stay)."""
    if channel.is_default:
        raise ApiError(409, "conflict", "the default channel cannot be deleted")
    if channel.archived:
        return channel
    if channel.config_id:
        config_id = channel.config_id
        await contact_way_effect(
            services,
            "del_contact_way",
            lambda: services.wecom.del_contact_way(config_id),
            subject=f"channel:{channel.id}",
            request={"config_id": config_id},
        )
    now = services.clock()
    await Channel.filter(id=channel.id).update(
        archived=True, archived_at=now, updated_at=now, next_change_at=None
    )
    return await Channel.get(id=channel.id)


def form_url(services: Services, channel: Channel) -> str:
    """The public page a form channel's code opens: ``{SCRM_PUBLIC_URL}/c/{state}``."""
    return f"{services.settings.public_url}/c/{channel.state}"


async def code_png(services: Services, channel: Channel) -> bytes:
    """The channel's code as a PNG: a form channel's opens its form page, others are WeCom's."""
    if channel.kind == "form":  # the code opens the public form page, not WeCom's way
        return qr.code_png(form_url(services, channel))
    return await fetch_code(services, channel)


async def code_text(services: Services, channel: Channel) -> str:
    """What the channel's code says (for the SVG): the form page, or what WeCom's image holds."""
    if channel.kind == "form":
        return form_url(services, channel)
    if channel.qr_text is None:
        await fetch_code(services, channel)
        channel = await Channel.get(id=channel.id)
    if channel.qr_text is None:
        raise ApiError(502, "wecom_error", "WeCom's code image holds no readable QR code")
    return channel.qr_text


async def fetch_code(services: Services, channel: Channel) -> bytes:
    """WeCom's image of the code: fetched once through the adapter, then kept on the channel.

    What it encodes is read once too (for the SVG). A JSON answer instead of an image is a 502
    naming its errcode; so is an image without a readable code.
    """
    if channel.qr_png is not None:
        return bytes(channel.qr_png)
    if not channel.qr_code:
        raise ApiError(404, "not_found", f"channel {channel.id} has no QR code")
    if channel.archived:
        raise ApiError(409, "conflict", f"channel {channel.id} is archived; its code is gone")
    png = await wecom("QR fetch", services.wecom.fetch_image(channel.qr_code))
    try:
        text = qr.decode_code(png)
    except qr.NotAnImage as exc:
        raise ApiError(502, "wecom_error", f"QR fetch: {exc}") from None
    await Channel.filter(id=channel.id).update(qr_png=png, qr_text=text)
    return png


async def _forget_way(services: Services, config_id: str) -> None:
    try:
        await contact_way_effect(
            services,
            "del_contact_way",
            lambda: services.wecom.del_contact_way(config_id),
            subject="contact_way:unused",
            request={"config_id": config_id},
        )
    except ApiError:
        log.warning("could not delete an unused contact way; it stays in WeCom unused")


def spec_of(channel: Channel) -> ChannelSpec:
    """The stored channel as a spec, so a PATCH is validated like a create."""
    return ChannelSpec(
        name=channel.name,
        kind=channel.kind,
        staff=tuple(channel.staff or ()),
        tags=tuple(TagName(t["name"], t.get("group")) for t in channel.tags or ()),
        welcome=channel.welcome,
        skip_verify=channel.skip_verify,
        rotation=rot.rotation_from_json(channel.rotation),
        state=channel.state,
        options=dict(channel.options or {}),
    )


def channel_json(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind,
        "state": channel.state,
        "default": channel.is_default,
        "staff": list(channel.staff or ()),
        "tags": list(channel.tags or ()),
        "welcome": channel.welcome,
        "skip_verify": channel.skip_verify,
        "rotation": channel.rotation,
        "options": dict(channel.options or {}),
        "config_id": channel.config_id,
        "qr_code": channel.qr_code,
        "active_staff": list(channel.active_staff or ()),
        "next_change_at": channel.next_change_at,
        "archived": channel.archived,
        "archived_at": channel.archived_at,
        "created_at": channel.created_at,
        "updated_at": channel.updated_at,
    }
