"""The sandbox's in-memory corp: staff, customers and their relations, tags, issued credentials.

Tests set it up through these methods (or the ``/_sandbox`` admin endpoints that call them) and
assert on what the service did through the recorded messages and the call log.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from scrm.sandbox.calls import CallLog
from scrm.sandbox.config import SandboxConfig
from scrm.sandbox.faults import FaultPlan
from scrm.sandbox.wire import ApiError

_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 30) -> str:
    """An id in WeCom's style: a fixed prefix and random alphanumerics."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length - len(prefix)))


@dataclass
class Staff:
    userid: str
    name: str
    departments: list[int] = field(default_factory=lambda: [1])  # 1 = the corp's root
    direct_leader: list[str] = field(default_factory=list)  # user/get's 直属上级


@dataclass
class Department:
    id: int
    name: str
    parentid: int  # 0 for the root (id 1)
    order: int = 0


@dataclass
class Customer:
    external_userid: str
    name: str
    type: int = 1
    gender: int = 0
    avatar: str = ""
    unionid: str | None = None
    corp_name: str = ""


@dataclass
class Relation:
    """One ``follow_user`` entry: a staff member and a customer who are friends."""

    userid: str
    external_userid: str
    createtime: int
    state: str | None = None
    add_way: int = 1
    remark: str = ""
    description: str = ""
    remark_mobiles: list[str] = field(default_factory=list)  # 备注手机号, as the member typed
    tag_ids: list[str] = field(default_factory=list)
    deleted_by_staff: bool = False  # del_external_contact: no longer returned by the API
    deleted_by_customer: bool = False  # del_follow_user: the record stays


@dataclass
class Tag:
    id: str
    name: str
    group_id: str
    create_time: int
    order: int = 0


@dataclass
class TagGroup:
    group_id: str
    group_name: str
    create_time: int
    order: int = 0
    tags: list[Tag] = field(default_factory=list)


@dataclass
class IssuedToken:
    kind: str  # contact | agent | wechat
    expires_at: float
    revoked: bool = False


@dataclass
class OneTimeCode:
    payload: dict[str, Any]
    expires_at: float
    used: bool = False


class SandboxState:
    """Everything the fake corp knows. All times come from ``config.clock``."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.callback_url = config.callback_url
        self.departments: dict[int, Department] = {1: Department(1, "总部", 0)}
        self.staff: dict[str, Staff] = {}
        self.customers: dict[str, Customer] = {}
        self.relations: dict[tuple[str, str], Relation] = {}
        self.tag_groups: dict[str, TagGroup] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.welcome_codes: dict[str, OneTimeCode] = {}
        self.oauth_codes: dict[str, OneTimeCode] = {}
        self.js_codes: dict[str, OneTimeCode] = {}
        self.contact_ways: dict[str, dict[str, Any]] = {}
        self.robots: dict[str, deque[float]] = {}
        self.appchats: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, list[dict[str, Any]]] = {
            "welcome": [],
            "app_message": [],
            "appchat": [],
            "robot": [],
            "wxacode": [],
        }
        self.calls = CallLog(self.clock)
        self.faults = FaultPlan()

    def now(self) -> int:
        return int(self.clock())

    # -- people ------------------------------------------------------------------------------

    def add_department(
        self, id: int, name: str | None = None, parentid: int = 1, order: int = 0
    ) -> Department:
        """Add (or move) a department under ``parentid``, which is created under the root if
        it does not exist yet."""
        if id == 1:
            return self.departments[1]
        if parentid not in self.departments:
            self.add_department(parentid)
        self.departments[id] = Department(id, name or f"部门{id}", parentid, order)
        return self.departments[id]

    def subtree(self, root: int) -> list[Department]:
        """``root`` and every department below it, parents before children."""
        found, seen = [self.departments[root]], {root}
        for department in found:  # grows while iterating: a breadth-first walk
            for child in self.departments.values():
                if child.parentid == department.id and child.id not in seen:
                    seen.add(child.id)
                    found.append(child)
        return found

    def add_staff(
        self, userid: str, name: str | None = None, departments: Sequence[int] = (1,)
    ) -> Staff:
        """Add a member; departments they are in that do not exist yet hang off the root."""
        for department in departments:
            if department not in self.departments:
                self.add_department(department)
        self.staff[userid] = Staff(userid, name or userid, list(departments))
        return self.staff[userid]

    def add_customer(
        self, external_userid: str | None = None, name: str = "客户", **extra: Any
    ) -> Customer:
        customer = Customer(external_userid or new_id("wm", 32), name, **extra)
        self.customers[customer.external_userid] = customer
        return customer

    def add_relation(
        self, userid: str, external_userid: str, *, createtime: int | None = None, **extra: Any
    ) -> Relation:
        """Make ``userid`` and the customer friends (the member must exist)."""
        if userid not in self.staff:
            self.add_staff(userid)
        if external_userid not in self.customers:
            self.add_customer(external_userid)
        relation = Relation(userid, external_userid, createtime or self.now(), **extra)
        self.relations[(userid, external_userid)] = relation
        return relation

    def relation(self, userid: str, external_userid: str) -> Relation | None:
        found = self.relations.get((userid, external_userid))
        return None if found is None or found.deleted_by_staff else found

    # -- tags --------------------------------------------------------------------------------

    def add_tag_group(self, group_name: str, tags: Sequence[str] = (), order: int = 0) -> TagGroup:
        group = TagGroup(new_id("et", 22), group_name, self.now(), order)
        self.tag_groups[group.group_id] = group
        for name in tags:
            self.add_tag(group.group_id, name)
        return group

    def add_tag(self, group_id: str, name: str, order: int = 0) -> Tag:
        tag = Tag(new_id("et", 22), name, group_id, self.now(), order)
        self.tag_groups[group_id].tags.append(tag)
        return tag

    def find_tag(self, tag_id: str) -> Tag | None:
        for group in self.tag_groups.values():
            for tag in group.tags:
                if tag.id == tag_id:
                    return tag
        return None

    # -- credentials -------------------------------------------------------------------------

    def issue_token(self, kind: str) -> tuple[str, int]:
        value = secrets.token_urlsafe(48)
        expires_in = self.config.token_expires_in
        self.tokens[value] = IssuedToken(kind, self.clock() + expires_in)
        return value, expires_in

    def check_token(self, value: str | None, kinds: tuple[str, ...]) -> IssuedToken:
        """Raise the errcode WeCom answers for a missing, unknown or expired access_token."""
        if not value:
            raise ApiError(41001, "access_token missing")
        token = self.tokens.get(value)
        if token is None or token.kind not in kinds:
            raise ApiError(40014, "invalid access_token")
        if token.revoked or token.expires_at <= self.clock():
            raise ApiError(42001, "access_token expired")
        return token

    def expire_tokens(self) -> int:
        """Expire every issued token now (as WeCom may do early); returns how many."""
        for token in self.tokens.values():
            token.revoked = True
        return len(self.tokens)

    def _issue(self, codes: dict[str, OneTimeCode], ttl: float, payload: dict[str, Any]) -> str:
        code = secrets.token_hex(16)
        codes[code] = OneTimeCode(payload, self.clock() + ttl)
        return code

    def issue_welcome_code(self, userid: str, external_userid: str) -> str:
        payload = {"userid": userid, "external_userid": external_userid}
        return self._issue(self.welcome_codes, self.config.welcome_code_ttl, payload)

    def issue_oauth_code(
        self,
        userid: str | None = None,
        openid: str | None = None,
        external_userid: str | None = None,
    ) -> str:
        payload = {"userid": userid, "openid": openid, "external_userid": external_userid}
        return self._issue(self.oauth_codes, self.config.oauth_code_ttl, payload)

    def issue_js_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        payload = {"openid": openid or new_id("o", 28), "unionid": unionid}
        return self._issue(self.js_codes, 300.0, payload)

    def add_robot(self, key: str | None = None) -> str:
        """A group robot; its webhook key is a UUID, as WeCom issues them."""
        key = key or str(uuid.uuid4())
        self.robots[key] = deque()
        return key

    def remove_robot(self, key: str) -> None:
        """The robot was removed from its group: its key now answers 93000."""
        self.robots.pop(key, None)

    def add_appchat(
        self, chatid: str | None = None, name: str = "", userlist: Sequence[str] = ()
    ) -> str:
        chatid = chatid or new_id("", 20)
        self.appchats[chatid] = {"name": name, "userlist": list(userlist)}
        return chatid


STATE = web.AppKey("scrm_sandbox_state", SandboxState)
WECOM_TOKENS = ("contact", "agent")


CUSTOMER_APIS = "/cgi-bin/externalcontact/"


def authorize(request: web.Request, kinds: tuple[str, ...] = WECOM_TOKENS) -> SandboxState:
    """Check the query's access_token (41001/40014/42001) and the app's permission (48002)."""
    state = request.app[STATE]
    token = state.check_token(request.query.get("access_token"), kinds)
    if (
        request.path.startswith(CUSTOMER_APIS)
        and token.kind == "agent"
        and not state.config.agent_customer_permission
    ):
        # WeCom's words: only the 客户联系 system app or a self-built app configured under
        # 可调用应用 may call customer APIs.
        raise ApiError(48002, "api forbidden: the app has no 客户联系 permission")
    return state
