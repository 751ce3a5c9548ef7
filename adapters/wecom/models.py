"""Typed answers of the WeCom and WeChat APIs, named with WeCom's own field names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass(frozen=True)
class FollowUserTag:
    group_name: str
    tag_name: str
    tag_id: str
    type: int  # 1 enterprise, 2 personal, 3 rule-group

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            group_name=data.get("group_name", ""),
            tag_name=data.get("tag_name", ""),
            tag_id=data.get("tag_id", ""),
            type=int(data.get("type", 1)),
        )


@dataclass(frozen=True)
class FollowUser:
    """One staff member's relation to the customer (``follow_user[]``)."""

    userid: str
    createtime: int
    remark: str = ""
    description: str = ""
    state: str | None = None
    add_way: int = 0
    oper_userid: str = ""
    tags: tuple[FollowUserTag, ...] = ()
    # 备注手机号: what the member typed, or the number they added the customer by; absent
    # when none. Personal data: kept out of repr (and so out of logs).
    remark_mobiles: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            userid=data["userid"],
            createtime=int(data.get("createtime", 0)),
            remark=data.get("remark", ""),
            description=data.get("description", ""),
            state=data.get("state") or None,
            add_way=int(data.get("add_way", 0)),
            oper_userid=data.get("oper_userid", ""),
            tags=tuple(FollowUserTag.from_api(tag) for tag in data.get("tags", ())),
            remark_mobiles=tuple(
                str(mobile) for mobile in data.get("remark_mobiles") or () if mobile
            ),
        )


@dataclass(frozen=True)
class ExternalContact:
    external_userid: str
    name: str
    type: int  # 1 WeChat user, 2 WeCom user
    gender: int = 0
    avatar: str = ""
    unionid: str | None = None
    corp_name: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            external_userid=data["external_userid"],
            name=data.get("name", ""),
            type=int(data.get("type", 1)),
            gender=int(data.get("gender", 0)),
            avatar=data.get("avatar", ""),
            unionid=data.get("unionid") or None,
            corp_name=data.get("corp_name", ""),
        )


@dataclass(frozen=True)
class ExternalContactDetail:
    """``externalcontact/get``: the customer and every staff member who follows them."""

    external_contact: ExternalContact
    follow_user: tuple[FollowUser, ...]

    def follower(self, userid: str) -> FollowUser | None:
        return next((f for f in self.follow_user if f.userid == userid), None)


@dataclass(frozen=True)
class CorpTag:
    id: str
    name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            create_time=int(data.get("create_time", 0)),
            order=int(data.get("order", 0)),
            deleted=bool(data.get("deleted", False)),
        )


@dataclass(frozen=True)
class CorpTagGroup:
    group_id: str
    group_name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False
    tag: tuple[CorpTag, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            group_id=data["group_id"],
            group_name=data.get("group_name", ""),
            create_time=int(data.get("create_time", 0)),
            order=int(data.get("order", 0)),
            deleted=bool(data.get("deleted", False)),
            tag=tuple(CorpTag.from_api(tag) for tag in data.get("tag", ())),
        )


@dataclass(frozen=True)
class ContactWay:
    """``add_contact_way``: store ``config_id``; API-made ways are invisible in the console."""

    config_id: str
    qr_code: str | None = None


@dataclass(frozen=True)
class MessageSendResult:
    """``message/send``: who could not be reached (the call still succeeded)."""

    msgid: str
    invaliduser: tuple[str, ...] = ()
    invalidparty: tuple[str, ...] = ()
    invalidtag: tuple[str, ...] = ()
    unlicenseduser: tuple[str, ...] = ()
    response_code: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        def ids(name: str) -> tuple[str, ...]:
            return tuple(x for x in str(data.get(name) or "").split("|") if x)

        return cls(
            msgid=str(data.get("msgid", "")),
            invaliduser=ids("invaliduser"),
            invalidparty=ids("invalidparty"),
            invalidtag=ids("invalidtag"),
            unlicenseduser=ids("unlicenseduser"),
            response_code=data.get("response_code") or None,
        )


@dataclass(frozen=True)
class OAuthUserInfo:
    """``auth/getuserinfo``: a member has ``userid``; anyone else has ``openid``."""

    userid: str | None = None
    openid: str | None = None
    external_userid: str | None = None
    user_ticket: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            userid=data.get("userid") or data.get("UserId") or None,
            openid=data.get("openid") or data.get("OpenId") or None,
            external_userid=data.get("external_userid") or None,
            user_ticket=data.get("user_ticket") or None,
        )


@dataclass(frozen=True)
class MiniProgramSession:
    """``sns/jscode2session``; ``session_key`` is a secret and stays out of ``repr``."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            openid=data["openid"],
            session_key=data.get("session_key", ""),
            unionid=data.get("unionid") or None,
        )
