"""The sender plays WeCom: its envelopes must decrypt and verify with wechatpy's WeChatCrypto."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.work.crypto import WeChatCrypto

from scrm.sandbox import CallbackSender, SandboxState, events
from tests.sandbox.conftest import AES_KEY, CORP_ID, TOKEN

CRYPTO = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
EVENT = events.add_external_contact(
    CORP_ID, "zhangsan", "wmA", state="ch_001", welcome_code="W1", create_time=1700000000
)


class Receiver:
    """Stands in for the service: answers ``statuses`` in turn, then 200; keeps every request."""

    def __init__(self, statuses: Sequence[int] = (), hang: int = 0) -> None:
        self.statuses = list(statuses)
        self.hang = hang
        self.requests: list[tuple[dict[str, str], str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.query), await request.text()))
        if request.method == "GET":
            echo = CRYPTO.check_signature(
                request.query["msg_signature"],
                request.query["timestamp"],
                request.query["nonce"],
                request.query["echostr"],
            )
            return web.Response(text=echo)
        if self.hang:
            self.hang -= 1
            await asyncio.sleep(1)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def decrypted(self) -> list[str]:
        return [
            CRYPTO.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
            for q, body in self.requests
        ]


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def serve(aiohttp_server: Any, receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/callback", receiver.handle)
    return await aiohttp_server(app)


def make_sender(
    session: aiohttp.ClientSession, server: TestServer, slept: list[float], **kw: Any
) -> CallbackSender:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return CallbackSender(
        session,
        str(server.make_url("/callback")),
        TOKEN,
        AES_KEY,
        CORP_ID,
        agent_id=1000002,
        sleep=sleep,
        **kw,
    )


async def test_envelope_decrypts_and_verifies_with_wechatpy(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver()
    slept: list[float] = []
    delivery = await make_sender(session, await serve(aiohttp_server, receiver), slept).send(EVENT)
    assert delivery.delivered and delivery.attempts == 1 and slept == []
    query, body = receiver.requests[0]
    assert set(query) == {"msg_signature", "timestamp", "nonce"}
    envelope = xmltodict.parse(body)["xml"]
    assert envelope["ToUserName"] == CORP_ID and envelope["AgentID"] == "1000002"
    assert receiver.decrypted() == [EVENT]


async def test_retries_after_500_with_fresh_encryption(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(statuses=[500, 502])
    slept: list[float] = []
    delivery = await make_sender(session, await serve(aiohttp_server, receiver), slept).send(EVENT)
    assert delivery.delivered and delivery.attempts == 3 and slept == [1.0, 1.0]
    assert receiver.decrypted() == [EVENT] * 3
    ciphertexts = {xmltodict.parse(body)["xml"]["Encrypt"] for _, body in receiver.requests}
    assert len(ciphertexts) == 3  # each retry is a fresh encryption


async def test_gives_up_after_three_retries(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(statuses=[500] * 10)
    delivery = await make_sender(session, await serve(aiohttp_server, receiver), []).send(EVENT)
    assert not delivery.delivered and delivery.attempts == 4 and delivery.status == 500
    assert len(receiver.requests) == 4


async def test_no_answer_in_time_is_retried(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(hang=1)
    delivery = await make_sender(
        session, await serve(aiohttp_server, receiver), [], timeout=0.2
    ).send(EVENT)
    assert delivery.delivered and delivery.attempts == 2


async def test_verify_url_handshake(aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    receiver = Receiver()
    sender = make_sender(session, await serve(aiohttp_server, receiver), [])
    assert await sender.verify_url()
    query, _ = receiver.requests[0]
    assert set(query) == {"msg_signature", "timestamp", "nonce", "echostr"}


async def test_verify_url_fails_against_a_wrong_token(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(aiohttp_server, Receiver())
    sender = CallbackSender(session, str(server.make_url("/callback")), "other", AES_KEY, CORP_ID)
    assert not await sender.verify_url()


def test_event_builder_matches_protocol_vector_1() -> None:
    vector = (
        "<xml><ToUserName><![CDATA[ww0000000000000001]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]]></ExternalUserID>"
        "<State><![CDATA[ch_001]]></State><WelcomeCode><![CDATA[WELCOMECODE001]]></WelcomeCode></xml>"
    )
    built = events.add_external_contact(
        "ww0000000000000001",
        "zhangsan",
        "wm" + "A" * 30,
        state="ch_001",
        welcome_code="WELCOMECODE001",
        create_time=1700000000,
    )
    assert built == vector


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            events.del_external_contact(CORP_ID, "u", "wmA", source="DELETE_BY_TRANSFER"),
            {"ChangeType": "del_external_contact", "Source": "DELETE_BY_TRANSFER"},
        ),
        (events.del_follow_user(CORP_ID, "u", "wmA"), {"ChangeType": "del_follow_user"}),
        (
            events.edit_external_contact(CORP_ID, "u", "wmA"),
            {"ChangeType": "edit_external_contact"},
        ),
        (
            events.add_half_external_contact(CORP_ID, "u", "wmA", state="s"),
            {"ChangeType": "add_half_external_contact", "State": "s"},
        ),
        (
            events.change_external_tag(CORP_ID, "create", "etX", tag_type="tag_group"),
            {"Event": "change_external_tag", "TagType": "tag_group", "Id": "etX"},
        ),
        (events.msgaudit_notify(CORP_ID), {"Event": "msgaudit_notify", "AgentID": "2000004"}),
        (
            events.text_message(CORP_ID, "u", "你好 ]]> 😀", 123, 1000002),
            {"MsgType": "text", "Content": "你好 ]]> 😀", "MsgId": "123"},
        ),
    ],
)
def test_event_builders(xml: str, expected: dict[str, str]) -> None:
    parsed = xmltodict.parse(xml)["xml"]
    assert parsed["ToUserName"] == CORP_ID
    assert {k: parsed.get(k) for k in expected} == expected


async def test_add_contact_scenario_records_and_calls_back(
    aiohttp_server: Any, sandbox: TestClient, state: SandboxState
) -> None:
    receiver = Receiver()
    server = await serve(aiohttp_server, receiver)
    await sandbox.post("/_sandbox/callback_url", json={"url": str(server.make_url("/callback"))})
    state.add_staff("zhangsan")
    way = state.contact_ways["cfg1"] = {"user": ["zhangsan"], "state": "ch_fair"}
    assert way
    resp = await sandbox.post(
        "/_sandbox/scenarios/add_contact", json={"config_id": "cfg1", "name": "王五"}
    )
    result = await resp.json()
    assert result["delivery"] == {"attempts": 1, "status": 200}
    external_userid = result["external_userid"]
    relation = state.relations[("zhangsan", external_userid)]
    assert relation.state == "ch_fair" and state.customers[external_userid].name == "王五"
    event = xmltodict.parse(receiver.decrypted()[0])["xml"]
    assert event["ExternalUserID"] == external_userid and event["State"] == "ch_fair"
    assert (
        event["CreateTime"] == str(relation.createtime)
        and event["WelcomeCode"] == result["welcome_code"]
    )

    resp = await sandbox.post(
        "/_sandbox/scenarios/remove_contact",
        json={"userid": "zhangsan", "external_userid": external_userid},
    )
    assert (await resp.json())["delivery"]["status"] == 200
    assert xmltodict.parse(receiver.decrypted()[1])["xml"]["ChangeType"] == "del_external_contact"
    assert state.relation("zhangsan", external_userid) is None


async def test_scenario_without_callback_url_only_records(
    sandbox: TestClient, state: SandboxState
) -> None:
    resp = await sandbox.post(
        "/_sandbox/scenarios/add_contact", json={"userid": "lisi", "state": "s1", "welcome": False}
    )
    result = await resp.json()
    assert result["delivery"] is None and result["welcome_code"] is None
    assert state.relations[("lisi", result["external_userid"])].state == "s1"
