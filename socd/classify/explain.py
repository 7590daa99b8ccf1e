"""Why a rule matched an event: its selections, and the fields whose values matched.

Behind ``socd rules test --explain``; never on the daemon's hot path. Each detection of the
rule (``selection``, ``filter``…) is compiled on its own and evaluated on the event, and so is
each field test inside it. A rule matches through its condition, so a selection may be false
and the rule still match (``selection and not filter``: the filter is false).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.rule import SigmaRule

from socd.classify.compile import compile_node
from socd.classify.fields import MISSING, iter_scalars, make_getter
from socd.classify.load import read_rules
from socd.classify.values import Placeholders

Explanation = dict[str, Any]
"""``{"selections": {name: bool}, "fields": [{"selection", "field", "value"}]}``."""


def _identifier(node: Any) -> str | None:
    for parent in node.parent_chain():
        identifier = getattr(parent, "identifier", None)
        if isinstance(identifier, str):
            return identifier
    return None


def explain(rule: SigmaRule, event: Mapping[str, Any],
            placeholders: Placeholders | None = None) -> Explanation:
    """Which detections of ``rule`` hold for ``event``, and which field tests matched."""
    values = placeholders or {}
    selections: dict[str, bool] = {}
    fields: list[dict[str, Any]] = []
    seen: set[tuple[str | None, str | None]] = set()
    for condition in rule.detection.parsed_condition:
        tree = condition.parse()
        pending: list[tuple[Any, str | None]] = [(tree, None)]
        while pending:
            node, above = pending.pop()
            name = _identifier(node)
            if name is not None and name != above:  # the top node of a detection
                held = compile_node(node, values).predicate(event)
                selections[name] = selections.get(name, False) or held
            if isinstance(node, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
                field = node.field if isinstance(node, ConditionFieldEqualsValueExpression) \
                    else None
                if (name, field) not in seen and compile_node(node, values).predicate(event):
                    seen.add((name, field))
                    fields.append({"selection": name, "field": field,
                                   "value": _value(node, field, event, values)})
            pending.extend((child, name) for child in reversed(getattr(node, "args", [])))
    return {"selections": selections, "fields": fields}


def _value(node: Any, field: str | None, event: Mapping[str, Any],
           placeholders: Placeholders) -> Any:
    """The event's value of the field (for a keyword: the first value it matched)."""
    if field is not None:
        value = make_getter(field)(event)
        return None if value is MISSING else value
    test = compile_node(node, placeholders).predicate
    for value in iter_scalars(event):
        if value is not None and test({"": value}):
            return value
    return None


class Explainer:
    """Explanations by rule id, reading each rule's file again when first needed."""

    def __init__(self, placeholders: Placeholders | None = None) -> None:
        self._placeholders = placeholders
        self._rules: dict[str, SigmaRule] = {}
        self._read: set[str] = set()

    def __call__(self, source: str, rule_id: str,
                 event: Mapping[str, Any]) -> Explanation | None:
        """The explanation of rule ``rule_id`` from file ``source`` (None: not a detection)."""
        if source not in self._read:
            self._read.add(source)
            loaded, _ = read_rules([Path(source)])
            for rule in loaded:
                if isinstance(rule.sigma, SigmaRule):
                    self._rules.setdefault(rule.info.id, rule.sigma)
        sigma = self._rules.get(rule_id)
        return explain(sigma, event, self._placeholders) if sigma is not None else None
