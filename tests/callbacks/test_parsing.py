"""Envelope and event parsing: every PROTOCOL §3 event as a fixture, hostile XML, JSON mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbacks import parsing
from callbacks.parsing import (
    Envelope,
    MalformedPayload,
    Payload,
    event_name,
    occurred_at,
    parse_envelope,
    parse_event,
)
from tests.callbacks.vectors import A2, B2, B3, C2, OWN1, OWN3, OWN4, OWN5

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wecom"
FIXTURE_FILES = sorted(FIXTURES.glob("*__*.*"))


def load(name: str) -> Payload:
    return parse_event((FIXTURES / name).read_bytes())


# --- fixtures: names -------------------------------------------------------------------------


def test_fixture_set_covers_protocol_section_3() -> None:
    names = {path.name.split("__")[0] for path in FIXTURE_FILES}
    assert names == {
        "change_external_contact.add_external_contact",
        "change_external_contact.edit_external_contact",
        "change_external_contact.add_half_external_contact",
        "change_external_contact.del_external_contact",
        "change_external_contact.del_follow_user",
        "change_external_contact.transfer_fail",
        "change_external_chat.create",
        "change_external_chat.update",
        "change_external_chat.dismiss",
        "change_external_tag.create",
        "change_external_tag.update",
        "change_external_tag.delete",
        "change_external_tag.shuffle",
        "msgaudit_notify",
        "message.text",
    }


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_event_name_matches_fixture_name(path: Path) -> None:
    """Fixtures are named ``<event>__<variant>``; the parsed name must agree."""
    assert event_name(parse_event(path.read_bytes())) == path.name.split("__")[0]


# --- fixtures: fields ------------------------------------------------------------------------


def test_add_external_contact_fields() -> None:
    payload = load("change_external_contact.add_external_contact__with_state.xml")
    assert payload == {
        "ToUserName": "ww0000000000000001",
        "FromUserName": "sys",
        "CreateTime": "1403610513",
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "zhangsan",
        "ExternalUserID": "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
        "State": "teststate",
        "WelcomeCode": "WELCOMECODE",
    }
    assert occurred_at(payload) == 1403610513


def test_add_external_contact_without_channel_has_no_state_or_code() -> None:
    payload = load("change_external_contact.add_external_contact__no_state_no_welcome_code.xml")
    assert "State" not in payload
    assert "WelcomeCode" not in payload
    assert payload["ExternalUserID"] == "wmBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def test_add_half_external_contact_fields() -> None:
    payload = load("change_external_contact.add_half_external_contact__basic.xml")
    assert (payload["State"], payload["WelcomeCode"]) == ("ch_fair_2024", "HALFWELCOMECODE")


def test_edit_external_contact_fields() -> None:
    payload = load("change_external_contact.edit_external_contact__basic.xml")
    assert (payload["UserID"], payload["ExternalUserID"]) == (
        "zhangsan",
        "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
    )
    assert occurred_at(payload) == 1403610514


def test_del_external_contact_carries_source() -> None:
    payload = load("change_external_contact.del_external_contact__by_transfer.xml")
    assert payload["Source"] == "DELETE_BY_TRANSFER"


def test_del_follow_user_fields() -> None:
    payload = load("change_external_contact.del_follow_user__basic.xml")
    assert payload["ChangeType"] == "del_follow_user"
    assert payload["UserID"] == "zhangsan"


def test_transfer_fail_reason() -> None:
    payload = load("change_external_contact.transfer_fail__customer_refused.xml")
    assert (payload["FailReason"], payload["UserID"]) == ("customer_refused", "wangwu")


def test_chat_update_member_list_is_a_list() -> None:
    payload = load("change_external_chat.update__add_member.xml")
    assert payload["MemChangeList"] == ["Jack", "wmRose0000000000000000000000AAAA"]
    assert payload["UpdateDetail"] == "add_member"
    assert payload["JoinScene"] == "1"
    assert payload["MemChangeCnt"] == "2"
    assert payload["LastMemVer"] == "9c3f97c2ada667dfb5f6d03308d963e1"
    assert payload["CurMemVer"] == "71217227bbd112ecfe3a49c482195cb4"


def test_chat_update_single_member_is_still_a_list() -> None:
    payload = load("change_external_chat.update__del_member_single.xml")
    assert payload["MemChangeList"] == ["Jack"]
    assert payload["QuitScene"] == "0"


def test_chat_create_and_dismiss_carry_chat_id() -> None:
    for name in (
        "change_external_chat.create__basic.xml",
        "change_external_chat.dismiss__basic.xml",
    ):
        assert load(name)["ChatId"] == "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


def test_tag_create_fields() -> None:
    payload = load("change_external_tag.create__tag.xml")
    assert (payload["Id"], payload["TagType"], payload["StrategyId"]) == (
        "etm7wjCgAAiHSZbxSHvQtIDXmvi8ZM1A",
        "tag",
        "1",
    )


def test_tag_shuffle_with_empty_id_means_all_groups() -> None:
    """PROTOCOL §3.3: an empty Id on shuffle means the order of all groups changed."""
    payload = load("change_external_tag.shuffle__all_groups.xml")
    assert payload["Id"] == ""
    assert "TagType" not in payload


def test_msgaudit_notify_fields() -> None:
    payload = load("msgaudit_notify__basic.xml")
    assert payload["AgentID"] == "2000004"
    assert "ChangeType" not in payload
    assert occurred_at(payload) == 1700000789


def test_text_message_keeps_utf8_content() -> None:
    payload = load("message.text__multibyte.xml")
    assert payload["Content"] == "你好，企业微信 🙂"
    assert payload["MsgId"] == "7300000000000000001"


# --- vectors' plaintexts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plaintext", "name"),
    [
        (A2.plaintext, "message.text"),
        (B2.plaintext, "message.text"),
        (B3.plaintext, "message.text"),
        (C2.plaintext, "message.text"),
        (OWN1.plaintext, "change_external_contact.add_external_contact"),
        (OWN3.plaintext, "message.text"),
        (OWN4.plaintext, "msgaudit_notify"),
        (OWN5.plaintext, "change_external_chat.update"),
    ],
    ids=["A2", "B2", "B3", "C2", "own1", "own3", "own4", "own5"],
)
def test_vector_plaintexts_parse_to_names(plaintext: bytes, name: str) -> None:
    assert event_name(parse_event(plaintext)) == name


def test_xml_with_newlines_between_elements_b2() -> None:
    payload = parse_event(B2.plaintext)
    assert payload["Content"] == "hello"
    assert payload["MsgId"] == "4561255354251345929"
    assert payload["AgentID"] == "218"


def test_json_payload_own_vector_5_has_xml_shape() -> None:
    assert parse_event(OWN5.plaintext) == {
        "ToUserName": "wx49f0ab532d5d035a",
        "FromUserName": "sys",
        "CreateTime": "1700001000",
        "MsgType": "event",
        "Event": "change_external_chat",
        "ChatId": "wrAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "ChangeType": "update",
        "UpdateDetail": "add_member",
        "JoinScene": "3",
        "MemChangeCnt": "1",
    }
    assert occurred_at(parse_event(OWN5.plaintext)) == 1700001000


def test_json_big_msg_id_is_exact() -> None:
    """B3: MsgId 4561255354251345929 exceeds 2**53; it must not pass through a float."""
    assert parse_event(B3.plaintext)["MsgId"] == "4561255354251345929"


def test_json_scalars_and_nesting_are_normalised() -> None:
    payload = parse_event(b'{"MsgType":"event","Event":"x","A":true,"B":null,"C":[1,{"D":2.5}]}')
    assert payload["A"] == "true"
    assert payload["B"] == ""
    assert payload["C"] == ["1", {"D": "2.5"}]


def test_xml_nested_dicts_and_repeated_tags() -> None:
    payload = parse_event(
        b"<xml><MsgType>event</MsgType><Event>x</Event>"
        b"<Info><A>1</A><B>2</B></Info>"
        b"<Pics><item><Md5>a</Md5></item><item><Md5>b</Md5></item></Pics>"
        b"<Rec>r1</Rec><Rec>r2</Rec>"
        b"<Same><V>1</V><V>2</V></Same>"
        b"<Empty></Empty><SelfClosed/></xml>"
    )
    assert payload["Info"] == {"A": "1", "B": "2"}
    assert payload["Pics"] == [{"Md5": "a"}, {"Md5": "b"}]
    assert payload["Rec"] == ["r1", "r2"]
    assert payload["Same"] == ["1", "2"]
    assert payload["Empty"] == ""
    assert payload["SelfClosed"] == ""


def test_root_with_repeated_children_is_still_a_dict() -> None:
    assert parse_event(b"<xml><Item>a</Item><Item>b</Item></xml>") == {"Item": ["a", "b"]}


# --- event_name and occurred_at ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        ({"MsgType": "event", "Event": "msgaudit_notify"}, "msgaudit_notify"),
        (
            {"MsgType": "event", "Event": "change_external_tag", "ChangeType": "create"},
            "change_external_tag.create",
        ),
        (
            {"MsgType": "event", "Event": "change_external_chat", "ChangeType": ""},
            "change_external_chat",
        ),
        ({"MsgType": "image"}, "message.image"),
        ({"MsgType": " text "}, "message.text"),
        (
            {"InfoType": "change_external_contact", "ChangeType": "add_external_contact"},
            "change_external_contact.add_external_contact",
        ),
        ({"InfoType": "suite_ticket"}, "suite_ticket"),
    ],
    ids=[
        "no_change_type",
        "with_change_type",
        "empty_change_type",
        "image",
        "stripped",
        "suite_info_type",
        "suite_ticket",
    ],
)
def test_event_name(payload: Payload, name: str) -> None:
    assert event_name(payload) == name


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"MsgType": "event"},
        {"MsgType": "event", "Event": ""},
        {"Event": ["a", "b"]},
        {"MsgType": ""},
    ],
    ids=["empty", "event_without_name", "blank_event", "list_event", "blank_msg_type"],
)
def test_event_name_refuses_unnamed_payloads(payload: Payload) -> None:
    with pytest.raises(MalformedPayload) as caught:
        event_name(payload)
    assert caught.value.reason == "no_event_type"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"CreateTime": "1700000000"}, 1700000000),
        ({"CreateTime": " 1700000000\n"}, 1700000000),
        ({"TimeStamp": "1700000001"}, 1700000001),
        ({}, None),
        ({"CreateTime": ""}, None),
        ({"CreateTime": "abc"}, None),
        ({"CreateTime": "-5"}, None),
        ({"CreateTime": "１７"}, None),  # full-width digits: str.isdigit() would say yes
        ({"CreateTime": ["1", "2"]}, None),
        ({"CreateTime": "1" * 13}, None),
    ],
)
def test_occurred_at(payload: Payload, expected: int | None) -> None:
    assert occurred_at(payload) == expected


# --- hostile and malformed XML -------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><MsgType>text</MsgType><Content>&lol9;</Content></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]>
<xml><MsgType>text</MsgType></xml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://example.invalid/evil.dtd">
<xml><MsgType>text</MsgType></xml>"""

PLAIN_DTD = b"<!DOCTYPE xml><xml><MsgType>text</MsgType></xml>"


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, EXTERNAL_DTD, PLAIN_DTD],
    ids=["billion_laughs", "external_entity", "parameter_entity", "external_dtd", "plain_dtd"],
)
@pytest.mark.parametrize("parse", [parse_event, parse_envelope], ids=["event", "envelope"])
def test_dtd_and_entities_are_refused(body: bytes, parse: object) -> None:
    assert callable(parse)
    with pytest.raises(MalformedPayload) as caught:
        parse(body)
    assert caught.value.reason == "dtd_forbidden"


MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty"),
    ("whitespace", b"  \n ", "empty"),
    ("unclosed", b"<xml><MsgType>text</MsgType>", "bad_xml"),
    ("mismatched", b"<xml><A></B></xml>", "bad_xml"),
    ("not_xml", b"hello world", "bad_xml"),
    ("undefined_entity", b"<xml><A>&nope;</A></xml>", "bad_xml"),
    ("trailing_garbage", b"<xml></xml><xml></xml>", "bad_xml"),
    ("invalid_utf8", b"<xml><Content>\xff\xfe</Content></xml>", "bad_xml"),
    ("unknown_encoding", b'<?xml version="1.0" encoding="klingon"?><xml/>', "bad_xml"),
    ("binary_garbage", bytes(range(256)), "bad_xml"),
    ("wrong_root", b"<root><MsgType>text</MsgType></root>", "bad_root"),
    ("too_deep", b"<xml>" + b"<a>" * 10 + b"</a>" * 10 + b"</xml>", "too_deep"),
    (
        "too_many_elements",
        b"<xml>" + b"<a/>" * parsing.MAX_ELEMENTS + b"</xml>",
        "too_many_elements",
    ),
    ("too_large", b"<xml><A>" + b"x" * parsing.MAX_BYTES + b"</A></xml>", "too_large"),
    ("bad_json", b'{"MsgType": ', "bad_json"),
    ("json_nan", b'{"MsgType": NaN}', "bad_json"),
    ("json_invalid_utf8", b'{"MsgType": "\xff"}', "bad_json"),
    ("json_deep_recursion", b'{"a":' + b"[" * 100_000, "bad_json"),
    ("json_too_deep", b'{"a":' + b"[" * 10 + b"]" * 10 + b"}", "too_deep"),
    ("json_too_many", b'{"a":[' + b"1," * parsing.MAX_ELEMENTS + b"1]}", "too_many_elements"),
]


@pytest.mark.parametrize(
    ("body", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_event_maps_to_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_event(body)
    assert caught.value.reason == reason


def test_json_array_is_not_an_event() -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_event(b"  [1, 2]")
    assert caught.value.reason == "bad_xml"  # not starting with "{" means XML mode
    with pytest.raises(MalformedPayload) as caught:
        parse_envelope(b'{"encrypt": "x"} [')
    assert caught.value.reason == "bad_json"


def test_depth_limit_allows_wecom_nesting() -> None:
    """Approval-style events nest about 6 deep; the limit leaves room."""
    body = b"<xml>" + b"<a>" * (parsing.MAX_DEPTH - 1) + b"v" + b"</a>" * (parsing.MAX_DEPTH - 1)
    payload = parse_event(body + b"</xml>")
    assert isinstance(payload["a"], dict)


def test_element_limit_allows_a_large_member_list() -> None:
    items = b"".join(b"<Item>wm%05d</Item>" % i for i in range(2000))
    payload = parse_event(b"<xml><MemChangeList>" + items + b"</MemChangeList></xml>")
    member_list = payload["MemChangeList"]
    assert isinstance(member_list, list)
    assert len(member_list) == 2000
    assert member_list[-1] == "wm01999"


# --- envelope ----------------------------------------------------------------------------------


def test_envelope_xml_official_sample_a2() -> None:
    body = (
        b"<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n"
        b"<Encrypt><![CDATA[" + A2.encrypt.encode() + b"]]></Encrypt>\n"
        b"<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
    )
    assert parse_envelope(body) == Envelope(
        encrypt=A2.encrypt, to_user="ww1436e0e65a779aee", agent_id="1000002"
    )


def test_envelope_xml_without_agent_id() -> None:
    body = b"<xml><ToUserName>ww1</ToUserName><Encrypt>abc=</Encrypt></xml>"
    assert parse_envelope(body) == Envelope(encrypt="abc=", to_user="ww1", agent_id=None)


def test_envelope_json() -> None:
    body = (
        b'{"tousername": "wx49f0ab532d5d035a", "encrypt": "'
        + OWN5.encrypt.encode()
        + b'", "agentid": 218}'
    )
    assert parse_envelope(body) == Envelope(
        encrypt=OWN5.encrypt, to_user="wx49f0ab532d5d035a", agent_id="218"
    )


def test_envelope_json_minimal() -> None:
    assert parse_envelope(b' {"encrypt":"abc="}') == Envelope("abc=", None, None)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName>ww1</ToUserName></xml>",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><Encrypt><A>x</A></Encrypt></xml>",
        b"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
        b'{"tousername": "ww1"}',
        b'{"encrypt": ""}',
        b'{"encrypt": ["x"]}',
        b'{"Encrypt": "abc="}',
    ],
    ids=[
        "xml_absent",
        "xml_empty",
        "xml_nested",
        "xml_twice",
        "json_absent",
        "json_empty",
        "json_list",
        "json_wrong_case",
    ],
)
def test_envelope_without_encrypt(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_envelope(body)
    assert caught.value.reason == "missing_encrypt"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<xml>", "bad_xml"),
        (b"{", "bad_json"),
        (b"<Envelope><Encrypt>a</Encrypt></Envelope>", "bad_root"),
    ],
)
def test_envelope_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_envelope(body)
    assert caught.value.reason == reason


def test_malformed_payload_message_has_reason() -> None:
    error = MalformedPayload("bad_xml", "line 1")
    assert (str(error), error.reason, error.detail) == ("bad_xml: line 1", "bad_xml", "line 1")
