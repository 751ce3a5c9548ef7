"""dedupe_key: retries collapse, distinct events in one second do not (PROTOCOL §1.7)."""

from __future__ import annotations

import hashlib

import pytest

from callbacks.crypto import CallbackCrypto
from callbacks.dedupe import dedupe_key
from callbacks.parsing import Payload, parse_event
from tests.callbacks.vectors import B3, OWN1, OWN3, OWN4


def key_of(plaintext: bytes) -> str:
    return dedupe_key(plaintext, parse_event(plaintext))


def test_retry_with_fresh_random_prefix_has_the_same_key() -> None:
    """A WeCom retry re-encrypts the same plaintext: different Encrypt, same key."""
    crypto = CallbackCrypto(OWN1.token, OWN1.encoding_aes_key, OWN1.receive_id)
    first = crypto.encrypt(OWN1.plaintext, random_prefix=b"a" * 16)
    retry = crypto.encrypt(OWN1.plaintext, random_prefix=b"b" * 16)
    assert first == OWN1.encrypt
    assert first != retry
    assert key_of(crypto.decrypt(first)) == key_of(crypto.decrypt(retry))


def test_event_key_is_sha256_of_plaintext() -> None:
    expected = "sha256:" + hashlib.sha256(OWN1.plaintext).hexdigest()
    assert key_of(OWN1.plaintext) == expected
    assert len(expected) == len("sha256:") + 64


def test_events_in_the_same_second_from_sys_differ() -> None:
    """Two adds for one member in one second, differing only in ExternalUserID (WxJava #3002)."""
    second = OWN1.plaintext.replace(
        b"wmAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", b"wmBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
    )
    assert second != OWN1.plaintext
    first_payload, second_payload = parse_event(OWN1.plaintext), parse_event(second)
    # WeCom's suggested key (FromUserName + CreateTime) would collide here.
    assert (first_payload["FromUserName"], first_payload["CreateTime"]) == (
        second_payload["FromUserName"],
        second_payload["CreateTime"],
    )
    assert key_of(OWN1.plaintext) != key_of(second)


def test_message_is_keyed_on_msg_id() -> None:
    assert key_of(OWN3.plaintext) == "msg:7300000000000000001"


def test_json_message_is_keyed_on_exact_msg_id() -> None:
    assert key_of(B3.plaintext) == "msg:4561255354251345929"


def test_same_msg_id_with_other_bytes_is_the_same_message() -> None:
    """MsgId is WeCom's documented message dedupe key; formatting differences do not matter."""
    reformatted = OWN3.plaintext.replace(b"<xml>", b"<xml>\n")
    assert key_of(reformatted) == key_of(OWN3.plaintext) == "msg:7300000000000000001"


def test_event_without_msg_id_uses_hash() -> None:
    assert key_of(OWN4.plaintext) == "sha256:" + hashlib.sha256(OWN4.plaintext).hexdigest()


@pytest.mark.parametrize(
    "payload",
    [{"MsgId": ""}, {"MsgId": "  "}, {"MsgId": ["1", "2"]}, {"MsgId": "a b"}, {"MsgId": "x" * 129}],
    ids=["empty", "blank", "list", "space_inside", "too_long"],
)
def test_unusable_msg_id_falls_back_to_hash(payload: Payload) -> None:
    assert dedupe_key(b"raw", payload) == "sha256:" + hashlib.sha256(b"raw").hexdigest()
