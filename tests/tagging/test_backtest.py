"""Backtest: what a rule would have done over stored messages, with thresholds in time order."""

from tagging import Backtest, StoredMessage, backtest, parse_rule
from tagging.threshold import DAY_MS
from tests.tagging.conftest import RuleFactory

MESSAGES = [
    StoredMessage("m4", "alice", "customer", 5 * DAY_MS, "又过敏了"),  # out of order on purpose
    StoredMessage("m1", "alice", "customer", 0, "孩子过敏"),
    StoredMessage("m2", "bob", "customer", 0, "我不过敏"),
    StoredMessage("m3", "bob", "staff", DAY_MS, "过敏的话请就医"),
    StoredMessage("m5", "carol", "customer", 0, "過敏"),
    StoredMessage("m6", "carol", "customer", 30 * DAY_MS, "过敏"),
    StoredMessage("m7", "dave", "customer", 0, "谢谢"),
]


def test_counts_matches_customers_and_threshold_fires(make_rule: RuleFactory) -> None:
    rule = make_rule(
        keywords_any=["过敏"], exclude=["不过敏"], threshold={"count": 2, "window_days": 7}
    )
    report = backtest(rule, MESSAGES)
    assert report.messages_scanned == 7
    assert report.messages_matched == 4  # m4, m1, m5, m6 (m2 excluded, m3 is staff)
    assert report.customers_matched == 2  # alice, carol
    assert report.customers_fired == 1  # only alice had two hits within 7 days
    assert report.fires == 1


def test_samples_are_capped_and_positioned(make_rule: RuleFactory) -> None:
    report = backtest(make_rule(keywords_any=["过敏"]), MESSAGES, sample_limit=2)
    assert [s.msgid for s in report.samples] == ["m4", "m1"]
    assert report.samples[0].to_dict()["keywords"] == [{"keyword": "过敏", "start": 1, "end": 3}]
    assert report.customers_fired == 3  # no threshold or exclude: alice, bob, carol


def test_draft_and_disabled_rules_run(make_rule: RuleFactory) -> None:
    rule = make_rule(keywords_any=["过敏"], exclude=["不过敏"], scope="any", enabled=False)
    report = backtest(rule, MESSAGES)
    assert report.messages_matched == 5  # staff message m3 counts now
    assert report.customers_matched == 3


def test_progress_is_reported(make_rule: RuleFactory) -> None:
    seen: list[int] = []
    messages = [("m", "c", "customer", i, "x") for i in range(25)]
    backtest(make_rule(keywords_any=["过敏"]), messages, progress=seen.append, progress_every=10)
    assert seen == [10, 20, 25]


def test_report_renders_for_the_api(make_rule: RuleFactory) -> None:
    report = backtest(make_rule(keywords_any=["谢谢"]), MESSAGES)
    summary = {
        "messages_scanned": 7,
        "messages_matched": 1,
        "customers_matched": 1,
        "customers_fired": 1,
        "fires": 1,
        "keywords": ["谢谢"],
    }
    assert report.summary() == summary  # what the admin API answers: no text, no positions
    assert report.to_dict() == {  # a reviewer's answer
        **summary,
        "samples": [
            {
                "msgid": "m7",
                "customer": "dave",
                "time_ms": 0,
                "text": "谢谢",
                "keywords": [{"keyword": "谢谢", "start": 0, "end": 2}],
            }
        ],
    }


def test_summary_holds_the_keyword_set_only(make_rule: RuleFactory) -> None:
    rule = make_rule(keywords_any=["过", "敏", "谢"])
    summary = backtest(rule, MESSAGES).summary()
    assert summary["keywords"] == ["敏", "谢", "过"]  # a set: no positions, no counts, no order
    assert "samples" not in summary


def test_incremental_backtest_matches_the_one_shot_run() -> None:

    rule = parse_rule(
        {
            "name": "r",
            "keywords_any": ["退款"],
            "threshold": {"count": 2, "window_days": 1},
            "actions": [{"type": "alert", "channel": "c"}],
        },
        1,
    )
    day = 86_400_000
    messages = [
        ("m1", "wmA", "customer", 0, "我要退款"),
        ("m2", "wmB", "customer", 10, "你好"),
        ("m3", "wmA", "customer", day // 2, "退款呢"),
        ("m4", "wmB", "customer", 3 * day, "退款"),
    ]
    run = Backtest(rule)
    run.feed(messages[:2])
    run.feed(messages[2:])
    assert run.report() == backtest(rule, messages)
    report = run.report()
    assert (report.messages_scanned, report.messages_matched) == (4, 3)
    assert (report.customers_matched, report.customers_fired, report.fires) == (2, 1, 1)
