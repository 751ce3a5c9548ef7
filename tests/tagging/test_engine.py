"""Rule evaluation: any/all/exclude, scope, overlaps, positions in the original text."""

import pytest

from tagging import RuleEngine, SenderKind, matches_to_dict
from tests.tagging.conftest import RuleFactory


def _hits(engine: RuleEngine, text: str, sender: str = "customer") -> list[tuple[str, int, int]]:
    return [
        (hit.keyword, hit.start, hit.end)
        for match in engine.evaluate(text, sender)
        for hit in match.keywords
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我不过敏", []),  # the only 过敏 lies inside 不过敏
        ("我不过敏但是孩子过敏", [("过敏", 8, 10)]),  # the second one is outside
        ("过敏", [("过敏", 0, 2)]),
        ("一切正常", []),
    ],
)
def test_exclude_only_discounts_occurrences_inside_it(
    make_rule: RuleFactory, text: str, expected: list[tuple[str, int, int]]
) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏"], exclude=["不过敏"])])
    assert _hits(engine, text) == expected


def test_exclude_applies_to_all_of_keywords(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_all=["退款"], exclude=["不退款"])])
    assert _hits(engine, "我不退款") == []
    assert _hits(engine, "我不退款，我要退款") == [("退款", 7, 9)]


def test_exclude_phrase_not_containing_the_keyword_changes_nothing(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏"], exclude=["测试"])])
    assert _hits(engine, "测试：过敏") == [("过敏", 3, 5)]


def test_overlapping_keywords_are_all_found(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏", "敏感", "过敏感"])])
    assert _hits(engine, "过敏感") == [("过敏", 0, 2), ("过敏感", 0, 3), ("敏感", 1, 3)]


def test_overlapping_keywords_of_different_rules(make_rule: RuleFactory) -> None:
    allergy = make_rule(name="allergy", keywords_any=["过敏"])
    sensitive = make_rule(name="sensitive", keywords_any=["敏感"])
    matches = RuleEngine([allergy, sensitive]).evaluate("皮肤过敏感", "customer")
    assert [(m.rule.name, m.keywords[0].start) for m in matches] == [
        ("allergy", 2),
        ("sensitive", 3),
    ]


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("退款", False),  # all-of needs both
        ("退款 发票", False),  # any-of needs one of 投诉/差评
        ("投诉：退款和发票", True),
        ("差评", False),
    ],
)
def test_any_and_all_together(make_rule: RuleFactory, text: str, fires: bool) -> None:
    engine = RuleEngine([make_rule(keywords_any=["投诉", "差评"], keywords_all=["退款", "发票"])])
    assert bool(engine.evaluate(text, "customer")) is fires


def test_all_only_rule(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_all=["发票", "抬头"])])
    assert _hits(engine, "发票抬头写错了") == [("发票", 0, 2), ("抬头", 2, 4)]
    assert _hits(engine, "发票写错了") == []


def test_all_of_keyword_excluded_everywhere_blocks(make_rule: RuleFactory) -> None:
    engine = RuleEngine(
        [make_rule(keywords_any=["投诉"], keywords_all=["退款"], exclude=["不退款"])]
    )
    assert _hits(engine, "投诉，但不退款") == []


@pytest.mark.parametrize(
    ("scope", "sender", "fires"),
    [
        ("customer", SenderKind.CUSTOMER, True),
        ("customer", "staff", False),
        ("staff", "staff", True),
        ("staff", "customer", False),
        ("any", "customer", True),
        ("any", SenderKind.STAFF, True),
    ],
)
def test_scope(make_rule: RuleFactory, scope: str, sender: str, fires: bool) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏"], scope=scope)])
    assert bool(engine.evaluate("过敏", sender)) is fires


def test_unknown_sender_is_refused(make_rule: RuleFactory) -> None:
    with pytest.raises(ValueError, match="sender"):
        RuleEngine([make_rule(keywords_any=["过敏"])]).evaluate("过敏", "robot")


def test_single_character_and_emoji_keywords(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["赞", "👍", "❤️"])])
    assert _hits(engine, "好👍赞赞") == [("👍", 1, 2), ("赞", 2, 3), ("赞", 3, 4)]
    assert _hits(engine, "爱你❤️") == [("❤️", 2, 3)]  # the dropped selector is not part of it
    assert _hits(engine, "爱你❤") == [("❤️", 2, 3)]  # the selector is not significant


def test_positions_refer_to_the_original_text(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏", "abc"])])
    text = "㍿\u200bＡＢＣ孩子過\u200b敏"
    hits = _hits(engine, text)
    assert hits == [("abc", 2, 5), ("过敏", 7, 10)]
    assert [text[start:end] for _, start, end in hits] == ["ＡＢＣ", "過\u200b敏"]


def test_keywords_are_normalised_like_messages(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["過敏", "ＶＩＰ"])])
    assert _hits(engine, "vip客户过敏") == [("ＶＩＰ", 0, 3), ("過敏", 5, 7)]


def test_disabled_rules_are_not_compiled(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["过敏"], enabled=False)])
    assert engine.rules == ()
    assert engine.evaluate("过敏", "customer") == []


def test_one_automaton_holds_every_keyword_once(make_rule: RuleFactory) -> None:
    rules = [
        make_rule(keywords_any=["过敏", "疹子"], exclude=["不过敏"]),
        make_rule(keywords_any=["过敏"]),
    ]
    assert RuleEngine(rules).keyword_count == 3


def test_api_answer_shape(make_rule: RuleFactory) -> None:
    rule = make_rule(
        id=7,
        name="过敏预警",
        keywords_any=["过敏"],
        actions=[{"type": "create_ticket", "category": "food_safety", "priority": "P0"}],
    )
    answer = matches_to_dict(RuleEngine([rule]).evaluate("宝宝吃了以后有点过敏", "customer"))
    assert answer == {
        "matches": [
            {
                "rule_id": 7,
                "rule": "过敏预警",
                "keywords": [{"keyword": "过敏", "start": 8, "end": 10}],
                "actions": [{"type": "create_ticket", "category": "food_safety", "priority": "P0"}],
            }
        ]
    }


def test_keyword_set_is_sorted_unique_and_positionless(make_rule: RuleFactory) -> None:
    engine = RuleEngine([make_rule(keywords_any=["b", "a", "n"])])
    [match] = engine.evaluate("banana", "customer")
    assert len(match.keywords) == 6  # positions stay for the caller-supplied dry run
    assert match.keyword_set == ["a", "b", "n"]
