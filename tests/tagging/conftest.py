"""Build rules the way the API will: from JSON, through validation."""

from collections.abc import Callable
from typing import Any

import pytest

from tagging import KeywordRule, parse_rule

RuleFactory = Callable[..., KeywordRule]


@pytest.fixture
def make_rule() -> RuleFactory:
    """Return a factory: ``make_rule(keywords_any=[...], ...)`` with sensible defaults."""
    counter = iter(range(1, 1_000_000))

    def factory(**fields: Any) -> KeywordRule:
        data: dict[str, Any] = {
            "name": fields.pop("name", "rule"),
            "actions": fields.pop("actions", [{"type": "add_tag", "tag": "t"}]),
            **fields,
        }
        return parse_rule(data, fields.pop("id", next(counter)))

    return factory
