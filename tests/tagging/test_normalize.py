"""Normalisation: one function for keywords, messages and the archive's blind index."""

import random

import pytest
from opencc import OpenCC

from tagging.normalize import (
    T2S_TABLE,
    _reference,
    normalize,
    normalize_with_offsets,
    normalize_with_spans,
    original_span,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width → half-width, case-folded
        ("Hello WORLD", "hello world"),
        ("過敏", "过敏"),  # Traditional → Simplified
        ("我對花生過敏，請注意！", "我对花生过敏,请注意!"),
        ("过\u200b敏", "过敏"),  # zero-width space
        ("过\u200c\u200d\u2060\ufeff\u00ad敏", "过敏"),
        ("㍿", "株式会社"),  # NFKC expansion
        ("ﬁ", "fi"),
        ("Straße", "strasse"),
        ("\u212a", "k"),  # Kelvin sign
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("e\u0301", "é"),  # composed
        ("e\u200b\u0301", "é"),  # zero-width removed before composing
        ("孩子起疹子了😀", "孩子起疹子了😀"),
        ("❤\ufe0f", "❤"),  # emoji presentation selector dropped  # already normal, emoji kept
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_t2s_table_agrees_with_opencc_per_character() -> None:
    converter = OpenCC("t2s")
    assert len(T2S_TABLE) > 4000
    for code, simplified in T2S_TABLE.items():
        # normalize() resolves chains (薴 → 苧 → 苎) that OpenCC applies one step at a time.
        assert normalize(converter.convert(chr(code))) == simplified, chr(code)


_POOLS = [
    "过敏疹子孩子吃喝玩乐客户服务",
    "過敏孩子們顧客服務請問這個東西",
    "ＡＢＣａｂｃ１２３，。！？　",
    "ABCabc xyz123,.!?",
    "\u0301\u0308\u0327\u3099",  # combining marks
    "\u200b\u200c\u200d\u2060\ufeff\u00ad",
    "😀👍🏻❤\ufe0f👨\u200d👩\u200d👧",
    "\u1100\u1161\u11a8가",  # Hangul jamo and syllable
    "㍿ﬁßİΣς\u212a①ǅ𐐀ΩᾼЖ",
]


def test_fast_path_agrees_with_reference_and_is_idempotent() -> None:
    alphabet = "".join(_POOLS)
    rng = random.Random(20240601)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        result = normalize(text)
        assert result == _reference(text), repr(text)
        assert normalize(result) == result, repr(text)


def test_every_character_agrees_with_reference_and_is_idempotent() -> None:
    for code in range(0x20000):  # the BMP and plane 1: case, compatibility, emoji, CJK
        if 0xD800 <= code < 0xE000:
            continue
        result = normalize(chr(code))
        assert result == _reference(chr(code)), hex(code)
        assert normalize(result) == result, hex(code)


@pytest.mark.parametrize(
    ("text", "keyword", "original"),
    [
        ("我過敏了", "过敏", "過敏"),
        ("我过\u200b敏了", "过敏", "过\u200b敏"),  # shorter than the original
        ("㍿过敏", "过敏", "过敏"),  # longer than the original
        ("㍿过敏", "株式", "㍿"),  # inside an expansion: the whole source character
        ("ＡＢ过敏ＣＤ", "b过敏c", "Ｂ过敏Ｃ"),
        ("ce\u0301過敏", "é过", "e\u0301過"),
        ("\u200b\u200b过敏", "过敏", "过敏"),
    ],
)
def test_spans_map_back_to_original(text: str, keyword: str, original: str) -> None:
    normalized, starts, ends = normalize_with_spans(text)
    position = normalized.index(keyword)
    start, end = original_span(starts, ends, position, position + len(keyword))
    assert text[start:end] == original


def test_offsets_have_one_entry_per_normalised_character() -> None:
    normalized, offsets = normalize_with_offsets("Ａ\u200b㍿過")
    assert normalized == "a株式会社过"
    assert offsets == [0, 2, 2, 2, 2, 3]


def test_spans_survive_composition_across_clusters() -> None:
    text = "x\u1100\u1161\u11a8y"  # conjoining jamo compose into one syllable
    normalized, starts, ends = normalize_with_spans(text)
    assert normalized == "x각y"
    assert list(zip(starts, ends, strict=True)) == [(0, 1), (1, 4), (4, 5)]
