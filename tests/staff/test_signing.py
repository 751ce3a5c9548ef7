"""Signing the staff session, the login state and form tokens; the key; the authorize URL."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from config import Secret, Settings, StaffSettings, load_settings
from scrm.staff import keys, signing
from scrm.staff.session import StaffAuth
from scrm.staff.signing import check_csrf, csrf_token, safe_next, sign, verify

KEY = b"k" * 32
NOW = 1_800_000_000


def test_a_token_round_trips_until_it_expires() -> None:
    token = sign(KEY, "session", {"u": "zhangsan", "sid": "s1", "exp": NOW + 60})
    assert verify(KEY, "session", token, NOW) == {"u": "zhangsan", "sid": "s1", "exp": NOW + 60}
    assert verify(KEY, "session", token, NOW + 59.9) is not None
    assert verify(KEY, "session", token, NOW + 60) is None  # expired


def test_a_token_is_only_good_for_its_purpose_and_key() -> None:
    token = sign(KEY, "login", {"n": "abc", "next": "/s/", "exp": NOW + 60})
    assert verify(KEY, "login", token, NOW) is not None
    assert verify(KEY, "session", token, NOW) is None  # a login state is no session
    assert verify(b"x" * 32, "login", token, NOW) is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tampered_tokens_are_refused() -> None:
    token = sign(KEY, "session", {"u": "zhangsan", "sid": "s1", "exp": NOW + 60})
    body, mac = token.split(".")
    lisi = _b64(json.dumps({"exp": NOW + 60, "sid": "s1", "u": "lisi"}).encode())
    forever = _b64(json.dumps({"exp": NOW + 10**9, "sid": "s1", "u": "zhangsan"}).encode())
    for forged in (
        f"{lisi}.{mac}",  # another member, the old MAC
        f"{forever}.{mac}",  # a later expiry
        f"{body}.{mac[:-1]}",
        f"{body}.{_b64(b'0' * 32)}",
        f"{body}.",
        body,
        f"{token}.x",
        "",
        None,
        "é." + mac,
        "a" * 5000,
        f"{body}.!!!",
    ):
        assert verify(KEY, "session", forged, NOW) is None, forged


def test_claims_that_are_not_an_object_or_lack_a_whole_expiry_are_refused() -> None:
    def signed(claims: object) -> str:
        body = _b64(json.dumps(claims).encode())
        return f"{body}.{_b64(signing._mac(KEY, 'session', body))}"

    for claims in ([1, 2], "x", {"u": "a"}, {"exp": "9999999999"}, {"exp": True}):
        assert verify(KEY, "session", signed(claims), NOW) is None, claims
    with pytest.raises(ValueError):
        sign(KEY, "session", {"u": "a"})


def test_form_tokens_belong_to_one_session() -> None:
    token = csrf_token(KEY, "sid-1")
    assert check_csrf(KEY, "sid-1", token)
    assert not check_csrf(KEY, "sid-2", token)
    assert not check_csrf(KEY, "sid-1", "")
    assert not check_csrf(KEY, "sid-1", "é" * 32)
    assert not check_csrf(b"x" * 32, "sid-1", token)


@pytest.mark.parametrize(
    "path", ["/s/", "/s/customers/wm1", "/s/tickets/7?x=1", "/s/customers/wm%2F1"]
)
def test_next_keeps_our_own_staff_paths(path: str) -> None:
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/s/",
        "//evil.example/s/",
        "/\\evil.example",
        "/s/\\evil",
        "/s//evil.example",
        "/api/v1/leads",
        "s/customers/x",
        "/s/x\r\nSet-Cookie: a=b",
        "/s/ x",
        "/s/é",
        "/s/" + "x" * 600,
        "",
        None,
        42,
        "javascript:alert(1)",
    ],
)
def test_next_refuses_anything_else(path: object) -> None:
    assert safe_next(path) is None


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"SCRM_VAR_DIR": str(tmp_path / "var"), **env})


def test_the_key_is_generated_once_owner_only_and_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = keys.session_key(settings)
    path = tmp_path / "var" / keys.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.session_key(settings) == first and len(first) == 32
    assert list(path.parent.glob(".staff-session.key.*")) == []  # no draft left behind
    configured = dataclasses.replace(settings, staff=StaffSettings(session_secret=Secret("s" * 32)))
    assert keys.session_key(configured) not in (first, b"s" * 32)  # derived, not the raw text


def test_a_generated_key_outside_sandbox_mode_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dataclasses.replace(_settings(tmp_path), sandbox=False)
    keys.session_key(settings)
    assert "SCRM_STAFF_SESSION_SECRET" in caplog.text


def test_the_authorize_url_is_wecoms_silent_login(tmp_path: Path) -> None:
    settings = _settings(tmp_path, SCRM_PUBLIC_URL="https://scrm.example.com")
    auth = StaffAuth(settings)
    url = auth.authorize_url("abc123")
    assert url.startswith(settings.wecom.api_base + "/connect/oauth2/authorize?")  # sandbox
    assert url.endswith("#wechat_redirect")
    query = parse_qs(urlsplit(url.removesuffix("#wechat_redirect")).query)
    assert query == {
        "appid": [settings.wecom.corp_id],
        "redirect_uri": ["https://scrm.example.com/s/oauth/callback"],
        "response_type": ["code"],
        "scope": ["snsapi_base"],
        "state": ["abc123"],
        "agentid": [str(settings.wecom.agent_id)],
    }
    assert "redirect_uri=https%3A%2F%2Fscrm.example.com%2Fs%2Foauth%2Fcallback" in url
    assert auth.secure
    production = dataclasses.replace(settings, sandbox=False)
    assert StaffAuth(production).authorize_base == "https://open.weixin.qq.com"
    chosen = dataclasses.replace(production, staff=StaffSettings(oauth_base="http://127.0.0.1:9"))
    assert StaffAuth(chosen).authorize_url("s").startswith("http://127.0.0.1:9/connect/")
