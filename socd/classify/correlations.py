"""Correlation rules resolved after loading: references, aliases and conditions checked.

A correlation rule names the rules it counts by ``id`` or ``name``; they may sit in any file
of the set, and may be correlations themselves. Every problem (a reference to no loaded rule,
a type or condition socd cannot evaluate as events arrive) is collected with its file and
line, like any other rule problem. What resolves becomes a
:class:`~socd.classify.correlate.Correlation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
)

from socd.classify.correlate import Correlation, Kind
from socd.classify.fields import make_getter
from socd.classify.load import LoadedRule
from socd.errors import Problem

KINDS: tuple[Kind, ...] = ("event_count", "value_count", "temporal", "temporal_ordered")
"""The correlation types socd evaluates."""

_OPEN_ENDED = {SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT}


class _Invalid(Exception):
    """A problem with one key of a correlation rule."""

    def __init__(self, key: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.key = key


def resolve_correlations(
    correlations: Sequence[LoadedRule], names: Mapping[str, str], problems: list[Problem]
) -> list[Correlation]:
    """Resolve correlation rules against the loaded rules (``names``: id or name → id).

    Correlations that do not resolve are left out and their problems appended.
    """
    known = dict(names)
    failed = bool(problems)  # some rule may not have loaded: a reference to it fails too
    for loaded in correlations:
        known.setdefault(loaded.info.id, loaded.info.id)
        if loaded.sigma.name:
            known.setdefault(str(loaded.sigma.name), loaded.info.id)
    out: list[Correlation] = []
    for loaded in correlations:
        try:
            out.append(_resolve(loaded, known, failed))
        except _Invalid as error:
            problems.append(Problem(loaded.info.source, str(error),
                                    line=_line(loaded, error.key), key=".".join(error.key)))
    valid = {c.info.id for c in out}
    by_id = {c.info.id: c for c in correlations}
    every = set(by_id)
    changed = True
    while changed:  # a correlation counting a dropped correlation is dropped too
        changed = False
        for correlation in list(out):
            broken = [i for i in correlation.inputs if i in every and i not in valid]
            if broken:
                problems.append(Problem(
                    correlation.info.source,
                    f"counts correlation {broken[0]}, which did not load: fix that one first",
                    line=_line(by_id[correlation.info.id], ("correlation", "rules")),
                    key="correlation.rules"))
                out.remove(correlation)
                valid.discard(correlation.info.id)
                changed = True
    return out


def _line(loaded: LoadedRule, key: tuple[str, ...]) -> int | None:
    for end in range(len(key), 0, -1):
        line = loaded.lines.get(key[:end])
        if line is not None:
            return line
    return min(loaded.lines.values(), default=None)


def _resolve(loaded: LoadedRule, known: Mapping[str, str], failed: bool = False
             ) -> Correlation:
    rule = loaded.sigma
    assert isinstance(rule, SigmaCorrelationRule)
    kind = str(rule.type)
    if kind not in KINDS:
        raise _Invalid(("correlation", "type"),
                       f"correlation type {kind} is not supported by socd: use "
                       f"{', '.join(KINDS)}")
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition) or rule.rules is None:
        raise _Invalid(("correlation", "condition"),
                       "extended (boolean) correlation conditions are not supported by socd: "
                       "list the rules under 'rules' and give a count condition")
    inputs: list[str] = []
    for reference in rule.rules:
        target = known.get(reference.reference)
        if target is None:
            raise _Invalid(("correlation", "rules"), (
                f"no loaded rule has the id or name '{reference.reference}': "
                + ("if it is a rule with a problem listed here, fixing that problem fixes "
                   "this one; otherwise check the reference" if failed else
                   "check the reference (and that the rule itself loads)")))
        if target == loaded.info.id:
            raise _Invalid(("correlation", "rules"), "a correlation cannot count itself")
        inputs.append(target)
    if len(set(inputs)) != len(inputs):
        raise _Invalid(("correlation", "rules"), "a rule is listed twice under 'rules'")
    threshold = _threshold(condition, kind, len(inputs))
    aliases = {alias.alias: {ref.reference: field for ref, field in alias.mapping.items()}
               for alias in rule.aliases}
    group_fields: list[tuple[str, ...]] = []
    for reference, target in zip(rule.rules, inputs, strict=True):
        fields = []
        for group in rule.group_by or []:
            mapping = aliases.get(group)
            if mapping is None:
                fields.append(group)
                continue
            field = mapping.get(reference.reference) or mapping.get(target)
            if field is None:
                raise _Invalid(("correlation", "aliases", group),
                               f"alias '{group}' names no field for rule "
                               f"'{reference.reference}': add one")
            fields.append(field)
        group_fields.append(tuple(fields))
    value_field: str | None = None
    if kind == "value_count":
        if not isinstance(condition.fieldref, str):
            raise _Invalid(("correlation", "condition", "field"),
                           "value_count needs one 'field' whose distinct values are counted")
        value_field = condition.fieldref
    seconds = float(rule.timespan.seconds)
    if seconds <= 0:
        raise _Invalid(("correlation", "timespan"), "the timespan must be longer than 0s")
    definition = repr((loaded.info.id, loaded.info.level, kind, seconds, threshold,
                       tuple(inputs), tuple(group_fields), value_field))
    return Correlation(
        info=loaded.info, kind=kind,
        seconds=seconds, threshold=threshold, inputs=tuple(inputs),
        group_by=tuple(tuple(make_getter(f) for f in fields) for fields in group_fields),
        value=make_getter(value_field) if value_field is not None else None,
        definition=definition,
    )


def _threshold(condition: SigmaCorrelationCondition, kind: str, rules: int) -> int:
    """The count at which a correlation fires, from its condition."""
    if condition.op not in _OPEN_ENDED:
        raise _Invalid(("correlation", "condition"),
                       f"condition '{condition.op.name.lower()}' can only be decided when a "
                       "window closes; socd decides as events arrive: use gte or gt")
    count = condition.count
    if condition.op is SigmaCorrelationConditionOperator.GT:
        threshold = math.floor(count) + 1
    else:
        threshold = math.ceil(count)
    threshold = max(1, threshold)
    if kind == "temporal_ordered":
        return rules
    if kind == "temporal" and threshold > rules:
        raise _Invalid(("correlation", "condition"),
                       f"temporal correlation of {rules} rules can never see {threshold} of "
                       "them: lower the count")
    return threshold
