"""The start-up check of what WeCom lets this service do, reported on ``/readyz``.

Customer (客户联系) APIs answer 48002 to an app that was not granted them. Without this check
the first sign is every contact event failing in the workers; with it, the operator reads at
start (and on ``/readyz``) which permission to grant. The service starts either way: callback
intake does not need the permission, and events wait to be replayed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from adapters.wecom import WeComAPIError, WeComClient, WeComError, WeComPermissionError
from config import WeComSettings

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 5.0


@dataclass
class WeComReadiness:
    """The outcome of the start-up check; ``pending`` until it has run."""

    status: str = "pending"  # ok | permission_missing | error | unreachable | pending
    errcode: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


WECOM_READINESS = web.AppKey("wecom_readiness", WeComReadiness)


def permission_hint(wecom: WeComSettings) -> str:
    """What to grant, for the app whose token customer calls carry."""
    if wecom.customer_app == "agent":
        return (
            f"the self-built app (agentid {wecom.agent_id}, SCRM_AGENT_SECRET) has no 客户联系 "
            "API permission. In the WeCom admin console open 客户与上下游 → 客户联系 → API → "
            f"可调用接口的应用, add this app (agentid {wecom.agent_id}), then restart scrm"
        )
    return (
        "the system 客户联系 secret (SCRM_CONTACT_SECRET) may not call customer APIs (corps "
        "created after 2023-12-01 cannot use it). Unset SCRM_CONTACT_SECRET and grant the "
        f"self-built app (agentid {wecom.agent_id}) under 客户与上下游 → 客户联系 → API → "
        "可调用接口的应用, then restart scrm"
    )


async def check_customer_api(
    client: WeComClient, wecom: WeComSettings, timeout: float = CHECK_TIMEOUT
) -> WeComReadiness:
    """Call ``externalcontact/get_follow_user_list`` once and say what it means."""
    try:
        async with asyncio.timeout(timeout):
            await client.get_follow_user_list()
    except WeComPermissionError as exc:
        message = (
            f"WeCom refused the customer API (errcode {exc.errcode}): {permission_hint(wecom)}. "
            "Until then every customer event fails."
        )
        log.error("%s", message)
        return WeComReadiness("permission_missing", exc.errcode, message)
    except WeComAPIError as exc:
        message = f"WeCom customer API check failed: errcode {exc.errcode}: {exc.errmsg}"
        log.error("%s", message)
        return WeComReadiness("error", exc.errcode, message)
    except (WeComError, TimeoutError) as exc:
        message = f"WeCom customer API check got no answer: {type(exc).__name__}: {exc}"
        log.warning("%s", message)
        return WeComReadiness("unreachable", None, message)
    return WeComReadiness("ok")
