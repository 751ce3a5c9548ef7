"""Hot swap: a new rule set is installed whole; a held snapshot keeps its old answers."""

import threading

from tagging import RuleBook
from tests.tagging.conftest import RuleFactory


def _names(book_or_engine: object, text: str) -> list[str]:
    return [m.rule.name for m in book_or_engine.evaluate(text, "customer")]  # type: ignore[attr-defined]


def test_held_snapshot_keeps_old_results_after_replace(make_rule: RuleFactory) -> None:
    book = RuleBook([make_rule(name="old", keywords_any=["过敏"])])
    snapshot = book.engine
    book.replace([make_rule(name="new", keywords_any=["退款"])])
    assert _names(snapshot, "过敏 退款") == ["old"]
    assert _names(book, "过敏 退款") == ["new"]
    assert book.version == 1


def test_empty_book_matches_nothing(make_rule: RuleFactory) -> None:
    book = RuleBook()
    assert book.evaluate("过敏", "customer") == []
    book.replace([make_rule(keywords_any=["过敏"])])
    assert len(book.evaluate("过敏", "customer")) == 1


def test_readers_never_see_half_a_rule_set(make_rule: RuleFactory) -> None:
    # Each generation's rules all share one marker; a reader must see one generation only.
    def generation(n: int) -> list:
        return [make_rule(name=f"g{n}", keywords_any=[f"词{i}"]) for i in range(200)]

    text = " ".join(f"词{i}" for i in range(200))
    book = RuleBook(generation(0))
    mixed: list[set[str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            names = set(_names(book.engine, text))
            if len(names) != 1:
                mixed.append(names)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1, 20):
        book.replace(generation(n))
    stop.set()
    reader.join()
    assert mixed == []
    assert set(_names(book, text)) == {"g19"}
