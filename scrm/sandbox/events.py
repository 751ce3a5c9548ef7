"""Build callback plaintexts exactly as WeCom sends them (PROTOCOL §3), as XML strings.

Every builder takes the corp id (``ToUserName``) first and ``create_time`` last; fields that
WeCom leaves out when empty (``State``, ``WelcomeCode``) are left out here too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(
    corp_id: str,
    fields: Mapping[str, str | int | None],
    *,
    from_user: str = "sys",
    create_time: int | None = None,
) -> str:
    """An event envelope: common fields then ``fields`` (ints bare, strings in CDATA)."""
    parts = {
        "ToUserName": corp_id,
        "FromUserName": from_user,
        "CreateTime": int(time.time()) if create_time is None else create_time,
        "MsgType": "event",
        **fields,
    }
    body = "".join(
        f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>"
        for name, value in parts.items()
        if value is not None
    )
    return f"<xml>{body}</xml>"


def _contact_event(
    corp_id: str,
    change_type: str,
    userid: str,
    external_userid: str,
    create_time: int | None,
    **extra: str | None,
) -> str:
    fields = {
        "Event": "change_external_contact",
        "ChangeType": change_type,
        "UserID": userid,
        "ExternalUserID": external_userid,
        **extra,
    }
    return event_xml(corp_id, fields, create_time=create_time)


def add_external_contact(
    corp_id: str,
    userid: str,
    external_userid: str,
    *,
    state: str | None = None,
    welcome_code: str | None = None,
    create_time: int | None = None,
) -> str:
    return _contact_event(
        corp_id,
        "add_external_contact",
        userid,
        external_userid,
        create_time,
        State=state,
        WelcomeCode=welcome_code,
    )


def add_half_external_contact(
    corp_id: str,
    userid: str,
    external_userid: str,
    *,
    state: str | None = None,
    welcome_code: str | None = None,
    create_time: int | None = None,
) -> str:
    return _contact_event(
        corp_id,
        "add_half_external_contact",
        userid,
        external_userid,
        create_time,
        State=state,
        WelcomeCode=welcome_code,
    )


def edit_external_contact(
    corp_id: str, userid: str, external_userid: str, *, create_time: int | None = None
) -> str:
    return _contact_event(corp_id, "edit_external_contact", userid, external_userid, create_time)


def del_external_contact(
    corp_id: str,
    userid: str,
    external_userid: str,
    *,
    source: str | None = None,
    create_time: int | None = None,
) -> str:
    """The member deleted the customer; ``source="DELETE_BY_TRANSFER"`` after 在职继承."""
    return _contact_event(
        corp_id, "del_external_contact", userid, external_userid, create_time, Source=source
    )


def del_follow_user(
    corp_id: str, userid: str, external_userid: str, *, create_time: int | None = None
) -> str:
    """The customer deleted the member (one-way)."""
    return _contact_event(corp_id, "del_follow_user", userid, external_userid, create_time)


def change_external_tag(
    corp_id: str,
    change_type: str,
    tag_id: str,
    *,
    tag_type: str = "tag",
    strategy_id: str | None = None,
    create_time: int | None = None,
) -> str:
    """create/update/delete (``tag_type`` tag or tag_group) or shuffle (no TagType)."""
    fields = {
        "Event": "change_external_tag",
        "ChangeType": change_type,
        "Id": tag_id,
        "TagType": None if change_type == "shuffle" else tag_type,
        "StrategyId": strategy_id,
    }
    return event_xml(corp_id, fields, create_time=create_time)


def msgaudit_notify(
    corp_id: str, agent_id: int = 2000004, *, create_time: int | None = None
) -> str:
    """New archive data is ready; carries no content (call GetChatData)."""
    return event_xml(
        corp_id, {"AgentID": agent_id, "Event": "msgaudit_notify"}, create_time=create_time
    )


def text_message(
    corp_id: str,
    from_user: str,
    content: str,
    msg_id: int,
    agent_id: int,
    *,
    create_time: int | None = None,
) -> str:
    """A member's text message to the self-built app (§3.5); ``MsgId`` is the dedupe key."""
    fields: dict[str, str | int | None] = {
        "MsgType": "text",
        "Content": content,
        "MsgId": msg_id,
        "AgentID": agent_id,
    }
    return event_xml(corp_id, fields, from_user=from_user, create_time=create_time)
