from __future__ import annotations

import hashlib
import hmac

import pytest

from archive.keys.blind_index import (
    BlindIndex,
    hash_filter_value,
    index_grams,
    query_grams,
)
from tagging.normalize import normalize
from tests.archive.keys import INDEX_KEY, KEK1

INDEX = BlindIndex(INDEX_KEY)


def _token(gram: str, key: bytes = INDEX_KEY) -> bytes:
    message = b"scrm.archive.blind-index.v1\x00" + gram.encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def _matches(text: str, keyword: str) -> bool:
    return INDEX.query_tokens(keyword) <= INDEX.index_tokens(text)


def test_grams_of_a_message() -> None:
    assert index_grams("我要退货 ok") == {
        "我",
        "要",
        "退",
        "货",
        "我要",
        "要退",
        "退货",
        "o",
        "k",
        "ok",
    }
    assert query_grams("要退货") == {"要退", "退货"}
    assert query_grams("退 货款") == {"退", "货款"}


def test_tokens_are_truncated_hmacs() -> None:
    assert INDEX.index_tokens("退货") == {_token("退"), _token("货"), _token("退货")}
    assert INDEX.query_tokens("退货") == {_token("退货")}
    assert len(_token("退货")) == 16


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("我想退货，可以吗", "退货"),
        ("我想退货，可以吗", "想退货"),
        ("请问 发票 怎么开", "发票 怎么"),
        ("价格太贵了", "贵"),
        ("Refund PLEASE", "refund"),
        ("Refund PLEASE", "d p"),
    ],
)
def test_query_tokens_are_a_subset_of_matching_text(text: str, keyword: str) -> None:
    assert normalize(keyword) in normalize(text)
    assert _matches(text, keyword)


@pytest.mark.parametrize(
    ("text", "keyword"), [("我想退款", "退货"), ("价格太贵了", "便宜"), ("货退", "退货")]
)
def test_non_matching_text_lacks_a_query_token(text: str, keyword: str) -> None:
    assert not _matches(text, keyword)


def test_one_character_keyword_uses_the_unigram() -> None:
    assert INDEX.query_tokens("贵") == {_token("贵")}
    assert _matches("太贵", "贵")
    assert not _matches("太便宜", "贵")


def test_normalisation_is_shared_with_tagging() -> None:
    assert INDEX.query_tokens("退貨") == INDEX.query_tokens("退货")  # Traditional
    assert INDEX.query_tokens("ＲＥＦＵＮＤ") == INDEX.query_tokens("refund")  # full-width
    assert _matches("我要退货", "退貨")
    assert _matches("我要退\u200b货", "退货")  # zero-width character inside the word
    assert _matches("please REFUND me", "ＲｅＦｕｎｄ")


def test_different_index_keys_give_different_tokens() -> None:
    other = BlindIndex(KEK1)
    assert other.query_tokens("退货") == {_token("退货", KEK1)}
    assert not other.index_tokens("我要退货") & INDEX.index_tokens("我要退货")


def test_empty_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match="would match every message"):
        INDEX.query_tokens(" \u200b ")


def test_repr_hides_the_key() -> None:
    assert repr(INDEX) == "BlindIndex(token_bytes=16)"
    assert INDEX_KEY.hex() not in repr(INDEX)


def test_hash_filter_value_is_keyed_and_separated_by_kind() -> None:
    customer = hash_filter_value(INDEX_KEY, "customer", "wmABC")
    expected = hmac.new(
        INDEX_KEY, b"scrm.archive.filter.v1\x00customer\x00wmABC", hashlib.sha256
    ).digest()
    assert customer == expected
    assert hash_filter_value(INDEX_KEY, "customer", "wmABC") == customer
    assert hash_filter_value(INDEX_KEY, "staff", "wmABC") != customer
    assert hash_filter_value(INDEX_KEY, "customer", "wmABD") != customer
    assert hash_filter_value(KEK1, "customer", "wmABC") != customer
    assert customer not in INDEX.index_tokens("wmABC")


def test_hash_filter_value_refuses_odd_kinds() -> None:
    with pytest.raises(ValueError, match="filter kind 'Customer\\\\x00' must match"):
        hash_filter_value(INDEX_KEY, "Customer\x00", "x")
