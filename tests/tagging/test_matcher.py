"""The bare matcher: one automaton, every occurrence, overlapping ones included."""

import pytest

from tagging import KeywordMatcher, compile_keywords, match_keywords


def test_scan_reports_every_overlapping_occurrence() -> None:
    matcher = KeywordMatcher({"过敏": "a", "敏感": "b", "过敏感": "c", "感": "d"})
    assert sorted(matcher.scan("过敏感过敏")) == [
        (0, 2, "a"),
        (0, 3, "c"),
        (1, 3, "b"),
        (2, 3, "d"),
        (3, 5, "a"),
    ]


def test_empty_matcher_finds_nothing() -> None:
    matcher: KeywordMatcher[str] = KeywordMatcher({})
    assert len(matcher) == 0
    assert matcher.scan("过敏") == []
    assert matcher.contains_any("过敏") is False


def test_empty_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        KeywordMatcher({"": 1})


def test_compile_keywords_normalises_and_merges() -> None:
    matcher = compile_keywords(["過敏", "过敏", "ＶＩＰ", "\u200b"])
    assert len(matcher) == 2
    assert match_keywords(matcher, "VIP 客戶過敏") == {"过敏", "vip"}
    assert matcher.contains_any("vip") is True
    assert matcher.contains_any("正常") is False


@pytest.mark.parametrize(
    "text",
    [
        "过敏感过敏",  # only 3-byte characters
        "a过敏感b过敏",  # mixed widths
        "😀过敏感😀过敏",  # 4-byte characters
        "über过敏感ß过敏",  # 2-byte characters
    ],
)
def test_positions_are_characters_whatever_the_utf8_width(text: str) -> None:
    matcher = KeywordMatcher({"过敏": "a", "敏感": "b"})
    found = sorted(matcher.scan(text))
    assert [text[start:end] for start, end, _ in found] == ["过敏", "敏感", "过敏"]
    assert matcher.payloads(text) == {"a", "b"}


def test_ascii_text_and_keywords() -> None:
    matcher = KeywordMatcher({"vip": 1, "ip": 2})
    assert sorted(matcher.scan("a vip")) == [(2, 5, 1), (3, 5, 2)]
