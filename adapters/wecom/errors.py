"""The WeCom error ladder and the one place that decides what an errcode means.

Policy (PROTOCOL §4.12): only system failures are retried: -1, 45009, 45033, timeouts,
connection errors and 5xx. 40014/42001 mean "refresh the token and retry once"; every other
errcode is terminal. Messages never carry tokens or secrets: `scrub` removes them from any
text that might contain a URL.
"""

from __future__ import annotations

import re

RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})
TOKEN_EXPIRED_ERRCODES = frozenset({40014, 42001})
# Credential problems: retrying cannot help and repeated 40001 can ban the IP for an hour.
AUTH_ERRCODES = frozenset({40001, 40013, 40125, 41001, 40014, 42001})
# The app may not call this API (48002: e.g. 客户联系 not granted to the self-built app): an
# administrator must change a setting; retrying cannot help.
PERMISSION_ERRCODES = frozenset({48002})

# Query parameters whose values are credentials: scrubbed from errors and logs, and masked in
# the sandbox's call log.
SECRET_PARAMS = ("access_token", "corpsecret", "secret", "key", "js_code", "code")
_SECRET_PARAMS = re.compile(rf"({'|'.join(SECRET_PARAMS)})=[^&\s'\"]*")


def scrub(text: str) -> str:
    """Replace the values of credential query parameters in ``text`` with ``***``."""
    return _SECRET_PARAMS.sub(r"\1=***", text)


class WeComError(Exception):
    """Anything that went wrong talking to WeCom (or WeChat)."""

    retryable = False


class WeComConnectionError(WeComError):
    """Timeout, network failure or a 5xx answer: the request may not have arrived; retryable."""

    retryable = True


class WeComAPIError(WeComError):
    """WeCom answered with a non-zero ``errcode``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {scrub(errmsg)}")
        self.errcode = errcode
        self.errmsg = scrub(errmsg)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.errcode in RETRYABLE_ERRCODES


class WeComAuthError(WeComAPIError):
    """The secret, corp id or token is wrong (40001, 40013, 41001, or 42001 after a refresh)."""


class WeComPermissionError(WeComAPIError):
    """The app lacks a permission in the WeCom admin console (48002); terminal."""


def error_for(errcode: int, errmsg: str) -> WeComAPIError:
    """Build the typed error for an errcode answer."""
    if errcode in AUTH_ERRCODES:
        return WeComAuthError(errcode, errmsg)
    if errcode in PERMISSION_ERRCODES:
        return WeComPermissionError(errcode, errmsg)
    return WeComAPIError(errcode, errmsg)
