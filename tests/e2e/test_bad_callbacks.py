"""Every kind of bad callback gets a precise status, is counted, and stores nothing."""

from __future__ import annotations

import base64
import json
import time

import pytest

from callbacks.crypto import CallbackCrypto
from scrm.models import Event
from tests.e2e.conftest import Stack

EVENT = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_contact]]></Event>"
    "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
    "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><ToUserName>{corp}</ToUserName><MsgType>&lol2;</MsgType></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>{corp}</ToUserName><MsgType>&e;</MsgType></xml>"
)


def signed(
    stack: Stack,
    encrypt: str,
    *,
    ts: int | None = None,
    body: str | None = None,
) -> tuple[dict[str, str], str]:
    timestamp = str(int(time.time()) if ts is None else ts)
    params = {
        "msg_signature": stack.crypto.signature(timestamp, "12345", encrypt),
        "timestamp": timestamp,
        "nonce": "12345",
    }
    envelope = f"<xml><ToUserName><![CDATA[{stack.corp_id}]]></ToUserName>"
    envelope += f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return params, body if body is not None else envelope


def event_xml(stack: Stack, corp: str | None = None) -> bytes:
    return EVENT.format(corp=corp or stack.corp_id, ts=int(time.time())).encode()


def other_key_crypto(stack: Stack, receive_id: str) -> CallbackCrypto:
    wecom = stack.settings.wecom
    return CallbackCrypto(wecom.callback_token.value, wecom.callback_aes_key.value, receive_id)


def case_forged(stack: Stack) -> tuple[dict[str, str], str]:
    params, body = signed(stack, stack.crypto.encrypt(event_xml(stack)))
    params["msg_signature"] = "0" * 40
    return params, body


def case_stale(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(event_xml(stack)), ts=int(time.time()) - 601)


def case_future(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(event_xml(stack)), ts=int(time.time()) + 601)


def case_wrong_receiver(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, other_key_crypto(stack, "wwSOMEONEELSE").encrypt(event_xml(stack)))


def case_wrong_to_user(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(event_xml(stack, corp="wwSOMEONEELSE")))


def case_not_base64(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, "not base64 at all!")


def case_bad_length(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, base64.b64encode(b"abc").decode())


def case_bad_padding(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, base64.b64encode(bytes(range(64))).decode())


def case_bad_envelope(stack: Stack) -> tuple[dict[str, str], str]:
    params, _ = signed(stack, "x")
    return params, "<xml><Encrypt>unterminated"


def case_no_encrypt(stack: Stack) -> tuple[dict[str, str], str]:
    params, _ = signed(stack, "x")
    return params, "<xml><ToUserName>x</ToUserName></xml>"


def case_malformed_payload(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(b"<xml><ToUserName>broken"))


def case_billion_laughs(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(LAUGHS.format(corp=stack.corp_id).encode()))


def case_xxe(stack: Stack) -> tuple[dict[str, str], str]:
    return signed(stack, stack.crypto.encrypt(XXE.format(corp=stack.corp_id).encode()))


def case_dtd_envelope(stack: Stack) -> tuple[dict[str, str], str]:
    enc = stack.crypto.encrypt(event_xml(stack))
    params, _ = signed(stack, enc)
    return params, f'<!DOCTYPE x [<!ENTITY e "y">]><xml><Encrypt>{enc}</Encrypt></xml>'


def case_oversized(stack: Stack) -> tuple[dict[str, str], str]:
    params, body = signed(stack, stack.crypto.encrypt(event_xml(stack)))
    return params, body + " " * (stack.settings.max_body_bytes + 1)


def case_missing_signature(stack: Stack) -> tuple[dict[str, str], str]:
    params, body = signed(stack, stack.crypto.encrypt(event_xml(stack)))
    del params["msg_signature"]
    return params, body


def case_bad_timestamp(stack: Stack) -> tuple[dict[str, str], str]:
    encrypt = stack.crypto.encrypt(event_xml(stack))
    params, body = signed(stack, encrypt)
    params["timestamp"] = "yesterday"
    params["msg_signature"] = stack.crypto.signature("yesterday", "12345", encrypt)
    return params, body


CASES = [
    (case_forged, 403, "bad_signature"),
    (case_stale, 403, "stale_timestamp"),
    (case_future, 403, "stale_timestamp"),
    (case_wrong_receiver, 400, "wrong_corp"),
    (case_wrong_to_user, 400, "wrong_corp"),
    (case_not_base64, 400, "bad_base64"),
    (case_bad_length, 400, "bad_length"),
    (case_bad_padding, 400, "bad_padding"),
    (case_bad_envelope, 400, "bad_xml"),
    (case_no_encrypt, 400, "missing_encrypt"),
    (case_malformed_payload, 400, "bad_xml"),
    (case_billion_laughs, 400, "dtd_forbidden"),
    (case_xxe, 400, "dtd_forbidden"),
    (case_dtd_envelope, 400, "dtd_forbidden"),
    (case_oversized, 400, "too_large"),
    (case_missing_signature, 400, "missing_parameter"),
    (case_bad_timestamp, 400, "bad_timestamp"),
]


@pytest.mark.parametrize(
    ("build", "status", "reason"), CASES, ids=[c[2] + "-" + c[0].__name__ for c in CASES]
)
async def test_bad_callback_is_refused_counted_and_not_stored(
    stack: Stack,
    build,
    status: int,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    params, body = build(stack)
    got_status, got_body = await stack.post_callback(params, body)
    assert got_status == status
    assert json.loads(got_body)["error"]["code"] == reason
    assert await Event.all().count() == 0
    assert stack.metric("scrm_callback_rejected_total", {"reason": reason}) == 1
    # the service is still fine: a good callback right after is accepted
    params, body = signed(stack, stack.crypto.encrypt(event_xml(stack)))
    assert (await stack.post_callback(params, body))[0] == 200


async def test_url_verification_refuses_forgery(stack: Stack) -> None:
    echostr = stack.crypto.encrypt(b"1234567890")
    timestamp = str(int(time.time()))
    params = {
        "msg_signature": stack.crypto.signature(timestamp, "n", echostr),
        "timestamp": timestamp,
        "nonce": "n",
        "echostr": echostr,
    }
    async with stack.http.get(stack.url + "/wecom/callback", params=params) as r:
        assert (r.status, await r.read()) == (200, b"1234567890")
    params["nonce"] = "other"
    async with stack.http.get(stack.url + "/wecom/callback", params=params) as r:
        assert r.status == 403


async def test_a_failed_commit_answers_503_so_wecom_retries(stack: Stack) -> None:
    from tortoise import connections

    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE events RENAME TO events_away")
    params, body = signed(stack, stack.crypto.encrypt(event_xml(stack)))
    status, answer = await stack.post_callback(params, body)
    assert status == 503
    assert json.loads(answer)["error"]["code"] == "unavailable"
    assert stack.metric("scrm_callbacks_total", {"outcome": "unavailable"}) == 1
    await conn.execute_script("ALTER TABLE events_away RENAME TO events")
    assert (await stack.post_callback(params, body))[0] == 200  # WeCom's retry succeeds
    assert await Event.all().count() == 1
