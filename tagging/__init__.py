"""Keyword tagging: pure rules, normalisation, matching, evaluation and backtests (no I/O)."""

from tagging.backtest import Backtest, BacktestReport, BacktestSample, StoredMessage, backtest
from tagging.engine import KeywordHit, RuleEngine, RuleMatch, matches_to_dict
from tagging.matcher import KeywordMatcher, compile_keywords, match_keywords
from tagging.normalize import normalize, normalize_with_offsets, normalize_with_spans
from tagging.rulebook import RuleBook
from tagging.rules import (
    Action,
    AddTag,
    Alert,
    CreateTicket,
    KeywordRule,
    Priority,
    RemoveTag,
    RuleId,
    Scope,
    SenderKind,
    Threshold,
    action_to_dict,
    rule_to_dict,
)
from tagging.threshold import fire_times, hits_in_window, threshold_fires, window_start
from tagging.validation import FieldError, RuleValidationError, parse_rule, validate_rule

__all__ = [
    "Action",
    "AddTag",
    "Alert",
    "Backtest",
    "BacktestReport",
    "BacktestSample",
    "CreateTicket",
    "FieldError",
    "KeywordHit",
    "KeywordMatcher",
    "KeywordRule",
    "Priority",
    "RemoveTag",
    "RuleBook",
    "RuleEngine",
    "RuleId",
    "RuleMatch",
    "RuleValidationError",
    "Scope",
    "SenderKind",
    "StoredMessage",
    "Threshold",
    "action_to_dict",
    "backtest",
    "compile_keywords",
    "fire_times",
    "hits_in_window",
    "match_keywords",
    "matches_to_dict",
    "normalize",
    "normalize_with_offsets",
    "normalize_with_spans",
    "parse_rule",
    "rule_to_dict",
    "threshold_fires",
    "validate_rule",
    "window_start",
]
