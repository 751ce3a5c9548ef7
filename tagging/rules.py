"""Typed keyword rules: what an operator configures, frozen so compiled engines can share them."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

RuleId: TypeAlias = int | str


class Scope(StrEnum):
    """Whose messages a rule listens to."""

    CUSTOMER = "customer"
    STAFF = "staff"
    ANY = "any"


class SenderKind(StrEnum):
    """Who wrote a message: the external contact or our own staff member."""

    CUSTOMER = "customer"
    STAFF = "staff"


class Priority(StrEnum):
    """Ticket priorities, P0 most urgent."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


@dataclass(frozen=True, slots=True)
class Threshold:
    """Fire on the ``count``-th hit for one customer within ``window_days``."""

    count: int
    window_days: int


@dataclass(frozen=True, slots=True)
class AddTag:
    """Mark the customer with a WeCom corp tag, creating it in ``group`` if needed."""

    tag: str
    group: str | None = None
    type: str = field(default="add_tag", init=False)


@dataclass(frozen=True, slots=True)
class RemoveTag:
    """Remove a corp tag from the customer."""

    tag: str
    group: str | None = None
    type: str = field(default="remove_tag", init=False)


@dataclass(frozen=True, slots=True)
class CreateTicket:
    """Open a service ticket in ``category``."""

    category: str
    priority: Priority
    type: str = field(default="create_ticket", init=False)


@dataclass(frozen=True, slots=True)
class Alert:
    """Notify a channel (robot webhook, app chat, email) configured outside the engine."""

    channel: str
    type: str = field(default="alert", init=False)


Action: TypeAlias = AddTag | RemoveTag | CreateTicket | Alert


@dataclass(frozen=True, slots=True)
class KeywordRule:
    """A validated keyword rule; build it with ``parse_rule`` so it is always well formed."""

    id: RuleId
    name: str
    keywords_any: tuple[str, ...] = ()
    keywords_all: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    scope: Scope = Scope.CUSTOMER
    threshold: Threshold | None = None
    actions: tuple[Action, ...] = ()
    enabled: bool = True

    def listens_to(self, sender: SenderKind) -> bool:
        """Say whether messages from ``sender`` count for this rule."""
        return self.scope is Scope.ANY or self.scope.value == sender.value


def action_to_dict(action: Action) -> dict[str, Any]:
    """Render an action in the API's JSON shape, omitting unset optional fields."""
    if isinstance(action, AddTag | RemoveTag):
        data: dict[str, Any] = {"type": action.type, "tag": action.tag}
        if action.group is not None:
            data["group"] = action.group
        return data
    if isinstance(action, CreateTicket):
        return {"type": action.type, "category": action.category, "priority": str(action.priority)}
    return {"type": action.type, "channel": action.channel}


def rule_to_dict(rule: KeywordRule) -> dict[str, Any]:
    """Render a rule in the API's JSON shape; ``parse_rule`` accepts the result back."""
    threshold = None
    if rule.threshold is not None:
        threshold = {"count": rule.threshold.count, "window_days": rule.threshold.window_days}
    return {
        "id": rule.id,
        "name": rule.name,
        "keywords_any": list(rule.keywords_any),
        "keywords_all": list(rule.keywords_all),
        "exclude": list(rule.exclude),
        "scope": str(rule.scope),
        "threshold": threshold,
        "actions": [action_to_dict(action) for action in rule.actions],
        "enabled": rule.enabled,
    }
