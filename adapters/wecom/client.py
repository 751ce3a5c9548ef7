"""`WeComClient`: the async client for WeCom's server API (qyapi.weixin.qq.com/cgi-bin).

One instance per app secret: ``token_name="contact"`` for the system 客户联系 secret,
``"agent"`` for the self-built app that sends messages and signs ``agentConfig``. Customer
calls use `WeComClient.for_customers`, which picks the self-built app unless a 客户联系 secret
is configured (new corps since 2023-12-01 have no usable system secret). Public methods are one
line each; `TokenClient._request` does the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from adapters.kv.base import KVStore
from adapters.wecom.backoff import RetryPolicy
from adapters.wecom.base import TokenClient
from adapters.wecom.credentials import CachedCredential
from adapters.wecom.models import (
    ContactWay,
    CorpTagGroup,
    ExternalContact,
    ExternalContactDetail,
    FollowUser,
    MessageSendResult,
    OAuthUserInfo,
)
from config import Secret, WeComSettings

EXTERNAL = "/cgi-bin/externalcontact"


class WeComClient(TokenClient):
    """Typed access to the WeCom APIs scrm uses; tokens and tickets shared through the KV."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        kv: KVStore,
        *,
        corp_id: str,
        secret: Secret,
        api_base: str,
        timeout: float,
        token_name: str = "contact",  # noqa: S107 - a cache name, not a secret
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            session,
            kv,
            api_base=api_base,
            timeout=timeout,
            token_key=kv.keys("wecom", "token", corp_id, token_name),
            retry=retry,
        )
        self.corp_id = corp_id
        self._secret = secret
        self._jsapi_ticket = self._ticket(
            kv, corp_id, token_name, "jsapi", "/cgi-bin/get_jsapi_ticket", {}
        )
        self._agent_ticket = self._ticket(
            kv, corp_id, token_name, "agent_config", "/cgi-bin/ticket/get", {"type": "agent_config"}
        )

    @classmethod
    def for_customers(
        cls,
        session: aiohttp.ClientSession,
        kv: KVStore,
        wecom: WeComSettings,
        *,
        api_base: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> WeComClient:
        """The client for 客户联系 calls: the system secret when set, else the self-built app."""
        return cls(
            session,
            kv,
            corp_id=wecom.corp_id,
            secret=wecom.customer_secret,
            api_base=api_base or wecom.api_base,
            timeout=wecom.request_timeout,
            token_name=wecom.customer_app,
            retry=retry,
        )

    @classmethod
    def for_agent(
        cls,
        session: aiohttp.ClientSession,
        kv: KVStore,
        wecom: WeComSettings,
        *,
        retry: RetryPolicy | None = None,
    ) -> WeComClient:
        """The self-built app's client: app messages, app chats, the directory."""
        return cls(
            session,
            kv,
            corp_id=wecom.corp_id,
            secret=wecom.agent_secret,
            api_base=wecom.api_base,
            timeout=wecom.request_timeout,
            token_name="agent",  # noqa: S106 - a cache name, not a secret
            retry=retry,
        )

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, api_base={self._api_base!r})"

    async def _fetch_token(self) -> tuple[str, int]:
        data = await self._request(
            "GET",
            "/cgi-bin/gettoken",
            params={"corpid": self.corp_id, "corpsecret": self._secret.value},
            auth=False,
        )
        return data["access_token"], int(data.get("expires_in", 7200))

    def _ticket(
        self,
        kv: KVStore,
        corp_id: str,
        token_name: str,
        kind: str,
        path: str,
        params: dict[str, str],
    ) -> CachedCredential:
        async def fetch() -> tuple[str, int]:
            data = await self._request("GET", path, params=params)
            return data["ticket"], int(data.get("expires_in", 7200))

        key = kv.keys("wecom", "ticket", corp_id, token_name, kind)
        return CachedCredential(kv, key, fetch, name=f"{kind} ticket")

    # -- customers ---------------------------------------------------------------------------

    async def get_follow_user_list(self) -> list[str]:
        """The members with 客户联系 enabled; 48002 when this app lacks 客户联系 permission."""
        data = await self._request("GET", f"{EXTERNAL}/get_follow_user_list")
        return [str(userid) for userid in data.get("follow_user", [])]

    async def get_external_contact(self, external_userid: str) -> ExternalContactDetail:
        """Read a customer and all follow relations, following ``next_cursor`` pages."""
        params: dict[str, str] = {"external_userid": external_userid}
        follow: list[FollowUser] = []
        while True:
            data = await self._request("GET", f"{EXTERNAL}/get", params=params)
            follow.extend(FollowUser.from_api(f) for f in data.get("follow_user", ()))
            cursor = data.get("next_cursor")
            if not cursor:
                break
            params = {"external_userid": external_userid, "cursor": cursor}
        contact = ExternalContact.from_api(data["external_contact"])
        return ExternalContactDetail(contact, tuple(follow))

    async def add_contact_way(
        self,
        *,
        type: int = 1,
        scene: int = 2,
        user: Sequence[str] = (),
        party: Sequence[int] = (),
        state: str | None = None,
        remark: str | None = None,
        skip_verify: bool = True,
        style: int | None = None,
        is_exclusive: bool = False,
    ) -> ContactWay:
        """Create a 「联系我」 way; ``state`` (≤30 chars) comes back in the add callback."""
        body: dict[str, Any] = {
            "type": type,
            "scene": scene,
            "skip_verify": skip_verify,
            "is_exclusive": is_exclusive,
        }
        body |= {
            k: v
            for k, v in {"state": state, "remark": remark, "style": style}.items()
            if v is not None
        }
        body |= {"user": list(user)} if user else {}
        body |= {"party": list(party)} if party else {}
        data = await self._request("POST", f"{EXTERNAL}/add_contact_way", json=body)
        return ContactWay(config_id=data["config_id"], qr_code=data.get("qr_code") or None)

    async def update_contact_way(
        self,
        config_id: str,
        *,
        user: Sequence[str] | None = None,
        party: Sequence[int] | None = None,
        state: str | None = None,
        remark: str | None = None,
        skip_verify: bool | None = None,
        style: int | None = None,
    ) -> None:
        """Overwrite fields of a way (``type`` and ``scene`` cannot change); None = keep."""
        body: dict[str, Any] = {"config_id": config_id}
        body |= {
            k: v
            for k, v in {
                "remark": remark,
                "skip_verify": skip_verify,
                "style": style,
                "state": state,
                "user": None if user is None else list(user),
                "party": None if party is None else list(party),
            }.items()
            if v is not None
        }
        await self._request("POST", f"{EXTERNAL}/update_contact_way", json=body)

    async def del_contact_way(self, config_id: str) -> None:
        """Delete a way: its QR code stops working (customers who added stay)."""
        await self._request("POST", f"{EXTERNAL}/del_contact_way", json={"config_id": config_id})

    async def get_contact_way(self, config_id: str) -> dict[str, Any]:
        """The way as WeCom keeps it (``type``, ``scene``, ``user``, ``state``, ``qr_code`` …)."""
        data = await self._request(
            "POST", f"{EXTERNAL}/get_contact_way", json={"config_id": config_id}
        )
        way: dict[str, Any] = data.get("contact_way") or {}
        return way

    async def fetch_image(self, url: str) -> bytes:
        """The image behind a URL WeCom issued (a way's ``qr_code``); no token is sent.

        A JSON answer instead of an image raises its errcode (`WeComAPIError`), or
        `WeComError` when it carries none.
        """
        return await self._download(url)

    async def send_welcome_msg(
        self,
        welcome_code: str,
        text: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Send the welcome message; allowed once, within 20 s of the add event."""
        body: dict[str, Any] = {"welcome_code": welcome_code}
        body |= {"text": {"content": text}} if text else {}
        body |= {"attachments": list(attachments)} if attachments else {}
        await self._request("POST", f"{EXTERNAL}/send_welcome_msg", json=body, resend_safe=False)

    # -- tags --------------------------------------------------------------------------------

    async def get_corp_tag_list(
        self, tag_ids: Iterable[str] = (), group_ids: Iterable[str] = ()
    ) -> tuple[CorpTagGroup, ...]:
        """List enterprise tag groups (all when both filters are empty; group_ids win)."""
        body = {"tag_id": list(tag_ids), "group_id": list(group_ids)}
        data = await self._request("POST", f"{EXTERNAL}/get_corp_tag_list", json=body)
        return tuple(CorpTagGroup.from_api(g) for g in data.get("tag_group", ()))

    async def add_corp_tag(
        self,
        group_name: str | None,
        tags: Sequence[str | Mapping[str, Any]],
        group_id: str | None = None,
        *,
        order: int | None = None,
        agentid: int | None = None,
    ) -> CorpTagGroup:
        """Add tags to a group (by id, or by name: a new name creates the group)."""
        body: dict[str, Any] = {
            "tag": [{"name": t} if isinstance(t, str) else dict(t) for t in tags]
        }
        body |= {
            k: v
            for k, v in {
                "group_id": group_id,
                "group_name": group_name,
                "order": order,
                "agentid": agentid,
            }.items()
            if v is not None
        }
        data = await self._request("POST", f"{EXTERNAL}/add_corp_tag", json=body)
        return CorpTagGroup.from_api(data["tag_group"])

    async def mark_tag(
        self, userid: str, external_userid: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Add/remove enterprise tags on one relation; this produces no callback."""
        body = {
            "userid": userid,
            "external_userid": external_userid,
            "add_tag": list(add),
            "remove_tag": list(remove),
        }
        await self._request("POST", f"{EXTERNAL}/mark_tag", json=body)

    # -- messages ----------------------------------------------------------------------------

    async def send_app_message(
        self,
        agent_id: int,
        msgtype: str,
        content: Mapping[str, Any],
        *,
        touser: Sequence[str] = (),
        toparty: Sequence[str] = (),
        totag: Sequence[str] = (),
        safe: int = 0,
        enable_duplicate_check: bool = False,
        duplicate_check_interval: int = 1800,
    ) -> MessageSendResult:
        """Send an app message (``message/send``) to members, departments or tags."""
        body: dict[str, Any] = {
            "msgtype": msgtype,
            "agentid": agent_id,
            msgtype: dict(content),
            "safe": safe,
        }
        body |= {
            k: "|".join(v)
            for k, v in {"touser": touser, "toparty": toparty, "totag": totag}.items()
            if v
        }
        if enable_duplicate_check:
            body |= {
                "enable_duplicate_check": 1,
                "duplicate_check_interval": duplicate_check_interval,
            }
        return MessageSendResult.from_api(
            await self._request("POST", "/cgi-bin/message/send", json=body, resend_safe=False)
        )

    async def send_appchat(
        self, chatid: str, msgtype: str, content: Mapping[str, Any], safe: int = 0
    ) -> None:
        """Post into an app group chat (应用群聊) created by this same app."""
        body = {"chatid": chatid, "msgtype": msgtype, msgtype: dict(content), "safe": safe}
        await self._request("POST", "/cgi-bin/appchat/send", json=body, resend_safe=False)

    # -- directory ---------------------------------------------------------------------------

    async def department_tree(self, department_id: int) -> list[int]:
        """A department and all its sub-departments, recursively (``department/simplelist``)."""
        data = await self._request(
            "GET", "/cgi-bin/department/simplelist", params={"id": str(department_id)}
        )
        return [int(d["id"]) for d in data.get("department_id", [])]

    async def department_users(self, department_id: int) -> list[str]:
        """The userids directly in one department (``user/simplelist``)."""
        data = await self._request(
            "GET", "/cgi-bin/user/simplelist", params={"department_id": str(department_id)}
        )
        return [str(member["userid"]) for member in data.get("userlist", [])]

    async def department_members(self, department_id: int) -> list[str]:
        """The userids of a department and its sub-departments, each listed once.

        ``user/simplelist`` no longer documents ``fetch_child`` (since 2022-08), so walk the
        sub-departments from ``department/simplelist`` and list each one.
        """
        members: dict[str, None] = {}
        tree = await self.department_tree(department_id)
        for department in dict.fromkeys([department_id, *tree]):
            members.update(dict.fromkeys(await self.department_users(department)))
        return list(members)

    async def direct_leaders(self, userid: str) -> list[str]:
        """A member's direct leaders (``user/get``'s ``direct_leader``, 直属上级)."""
        data = await self._request("GET", "/cgi-bin/user/get", params={"userid": userid})
        return [str(leader) for leader in data.get("direct_leader") or []]

    # -- OAuth and JS-SDK --------------------------------------------------------------------

    async def get_user_info(self, code: str) -> OAuthUserInfo:
        """Exchange a single-use OAuth ``code`` for the visitor's identity."""
        data = await self._request("GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
        return OAuthUserInfo.from_api(data)

    async def get_jsapi_ticket(self) -> str:
        """The corp ticket for ``wx.config`` signatures (cached; ≤400 fetches/hour allowed)."""
        return await self._jsapi_ticket.get()

    async def get_agent_ticket(self) -> str:
        """The app ticket for ``wx.agentConfig``; call on the client built with the agent secret."""
        return await self._agent_ticket.get()
