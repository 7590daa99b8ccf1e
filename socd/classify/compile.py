"""A rule's condition tree (parsed by pySigma) compiled into one predicate on events.

Each node becomes a closure: and/or/not call their children; a leaf fetches its field once and
applies the compiled value test (see :mod:`socd.classify.values`). Sibling leaves of an ``or``
on the same field are merged into one leaf, so a list of values costs one field lookup and one
lowercasing. Nothing walks the tree per event.

Every compiled node also carries a *clause* for the index: a set of field atoms at least one of
which holds whenever the node matches (None when no such literal fact is known); an ``and``
keeps its most selective clauses (up to four), all of which must hold; an ``or`` combines its
children's best clauses into one and their second ones into another.

A node made of field tests alone (and, or, not over fields; no keywords, no field
references) also comes flattened into :data:`Terms`, alternatives of conjunctions of tests on
fetched field values, so that a small rule set can fetch each field of an event once and test
the values (see :mod:`socd.classify.plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaExists, SigmaFieldReference, SigmaString, SigmaType

from socd.classify.clauses import ANYWHERE, Clause, Requirements, ranked, simplify
from socd.classify.fields import MEMO as memo
from socd.classify.fields import MISSING, iter_scalars, lowered_texts, make_getter, text_of
from socd.classify.patterns import TextTest
from socd.classify.values import CompileError, Placeholders, ValueGroup, compile_values

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled detection: does this event match?"""

ValueTest = Callable[[Any], bool]
"""A test on a field's fetched value: :data:`MISSING`, None, a scalar, a list or an object."""

Term = tuple[str, ValueTest, frozenset[str] | None]
"""(field, test on its value, the lowercased texts it accepts when it is plain equality)."""

Terms = tuple[tuple[Term, ...], ...]
"""A node as alternatives (or) of conjunctions (and) of field tests."""

_MAX_ALTERNATIVES = 8
"""A node that would flatten into more alternatives than this is not flattened."""


class LocatedCompileError(CompileError):
    """A compile error with the detection (and field) it comes from."""

    def __init__(self, message: str, detection: str | None, field: str | None) -> None:
        super().__init__(message)
        self.detection = detection
        self.field = field


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled node: its predicate and the clause the index may use."""

    predicate: Predicate
    clause: Clause
    folded: TextTest | None = None
    """For a leaf of case-insensitive strings only: its test on the lowercased text."""
    more: Requirements = ()
    """Other clauses that must hold too (from other and-linked nodes), most selective first."""
    exact: bool = False
    """Whether ``clause`` holding is the node matching (the index then decides it alone): a
    keyword leaf of plain substrings."""
    terms: Terms | None = None
    """The node flattened (None: it names no field, or would flatten into too much)."""

    @property
    def requirements(self) -> Requirements:
        """The clauses that must all hold when the node matches."""
        return (self.clause, *self.more) if self.clause else self.more


def compile_rule(rule: SigmaRule, placeholders: Placeholders) -> Compiled:
    """Compile a rule's detection; its conditions (if several) are OR-linked.

    Raises pySigma's errors for a condition it cannot parse and :class:`LocatedCompileError`
    for a value socd cannot compile.
    """
    parts: list[Compiled] = []
    for condition in rule.detection.parsed_condition:
        tree = condition.parse()
        if tree is None:
            raise LocatedCompileError("the condition selects no detection", None, None)
        parts.append(_compile(tree, placeholders))
    return _either(parts)


def compile_node(node: Any, placeholders: Placeholders) -> Compiled:
    """Compile one node of a parsed condition tree (a whole detection, or one field test)."""
    return _compile(node, placeholders)


def _compile(node: Any, placeholders: Placeholders) -> Compiled:
    if isinstance(node, ConditionOR):
        return _compile_or(node.args, placeholders)
    if isinstance(node, ConditionAND):
        return _compile_and(node.args, placeholders)
    if isinstance(node, ConditionNOT):
        child = _compile(node.args[0], placeholders)
        inner = child.predicate
        return Compiled(lambda event: not inner(event), None, terms=_not_terms(child.terms))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_leaf(node.field, [node.value], node, placeholders)
    if isinstance(node, ConditionValueExpression):
        return _keyword_leaf([node.value], node, placeholders)
    raise LocatedCompileError(
        f"condition element {type(node).__name__} is not supported", None, None
    )


def _compile_or(args: Sequence[Any], placeholders: Placeholders) -> Compiled:
    """An ``or``: leaves on the same field (and keyword leaves) are merged first."""
    by_field: dict[str, tuple[Any, list[SigmaType]]] = {}
    keywords: tuple[Any, list[SigmaType]] | None = None
    slots: list[Any] = []  # a node, or ("field", name) / ("keywords",) placeholders
    for arg in args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and not isinstance(
            arg.value, (SigmaExists, SigmaFieldReference)
        ):
            if arg.field not in by_field:
                by_field[arg.field] = (arg, [])
                slots.append(("field", arg.field))
            by_field[arg.field][1].append(arg.value)
        elif isinstance(arg, ConditionValueExpression):
            if keywords is None:
                keywords = (arg, [])
                slots.append(("keywords",))
            keywords[1].append(arg.value)
        else:
            slots.append(arg)
    children: list[Compiled] = []
    for slot in slots:
        if isinstance(slot, tuple) and slot[0] == "field":
            first, values = by_field[slot[1]]
            children.append(_field_leaf(slot[1], values, first, placeholders))
        elif isinstance(slot, tuple):
            assert keywords is not None
            children.append(_keyword_leaf(keywords[1], keywords[0], placeholders))
        else:
            children.append(_compile(slot, placeholders))
    return _either(children)


def _compile_and(args: Sequence[Any], placeholders: Placeholders) -> Compiled:
    """An ``and``: case-insensitive string leaves on one field (``|all``) share one fetch."""
    by_field: dict[str, list[Any]] = {}
    for arg in args:
        if (isinstance(arg, ConditionFieldEqualsValueExpression)
                and type(arg.value) is SigmaString and "." not in arg.field):
            by_field.setdefault(arg.field, []).append(arg)
    children: list[Compiled] = []
    merged: set[int] = set()
    for arg in args:
        if id(arg) in merged:
            continue
        group = by_field.get(getattr(arg, "field", ""), [])
        if len(group) > 1 and arg is group[0]:
            leaves = [_field_leaf(a.field, [a.value], a, placeholders) for a in group]
            children.append(_all_on_field(arg.field, leaves))
            merged.update(id(a) for a in group)
        else:
            children.append(_compile(arg, placeholders))
    clause, more = _conjunction(children)
    return Compiled(_all(children), clause, more=more,
                    terms=_and_terms([c.terms for c in children]))


def _all_on_field(field: str, leaves: list[Compiled]) -> Compiled:
    """Several string values that must all match one (plain) field: lowercase it once."""
    tests = [leaf.folded for leaf in leaves]
    slow = _all(leaves)
    clause, more = _conjunction(leaves)
    terms = _and_terms([leaf.terms for leaf in leaves])
    if any(test is None for test in tests):
        return Compiled(slow, clause, more=more, terms=terms)
    folded = tuple(t for t in tests if t is not None)

    def all_leaf(event: Mapping[str, Any]) -> bool:
        value = event.get(field)
        if type(value) is str:
            text = value.lower()
            for test in folded:
                if not test(text):
                    return False
            return True
        return slow(event)  # lists and other types: each value on its own

    return Compiled(all_leaf, clause, more=more, terms=terms)


def _conjunction(children: Sequence[Compiled]) -> tuple[Clause, Requirements]:
    """The best clause of and-linked nodes, and the next ones (any of theirs is necessary)."""
    kept = ranked(c for child in children for c in (child.clause, *child.more))
    return (kept[0], kept[1:]) if kept else (None, ())


def _either(children: Sequence[Compiled]) -> Compiled:
    if len(children) == 1:
        return children[0]
    # One clause of each child is necessary for the union: the children's best clauses make
    # one, their second ones (or the best again) another; the index may use both.
    best: Clause = ()
    other: Clause = ()
    for child in children:
        if child.clause is None or best is None or other is None:
            best = other = None
            continue
        best += child.clause
        other += child.more[0] if child.more else child.clause
    kept = ranked([simplify(best), simplify(other)])
    return Compiled(_any(children), kept[0] if kept else None, more=kept[1:],
                    terms=_or_terms([c.terms for c in children]))


def _or_terms(children: Sequence[Terms | None]) -> Terms | None:
    out: Terms = ()
    for child in children:
        if child is None:
            return None
        out += child
    return out if len(out) <= _MAX_ALTERNATIVES else None


def _and_terms(children: Sequence[Terms | None]) -> Terms | None:
    out: Terms = ((),)
    for child in children:
        if child is None:
            return None
        out = tuple(mine + theirs for mine in out for theirs in child)
        if len(out) > _MAX_ALTERNATIVES:
            return None
    return out


def _not_terms(child: Terms | None) -> Terms | None:
    """not (a and b) or (c) = (not a or not b) and not c."""
    if child is None:
        return None
    return _and_terms([tuple(((field, _negated(test), None),) for field, test, _ in conjunction)
                       for conjunction in child])


def _negated(test: ValueTest) -> ValueTest:
    return lambda value: not test(value)


def _all(children: Sequence[Compiled]) -> Predicate:
    preds = tuple(c.predicate for c in children)
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        first, second = preds
        return lambda event: first(event) and second(event)
    if len(preds) == 3:
        one, two, three = preds
        return lambda event: one(event) and two(event) and three(event)

    def all_of(event: Mapping[str, Any]) -> bool:
        for pred in preds:
            if not pred(event):
                return False
        return True

    return all_of


def _any(children: Sequence[Compiled]) -> Predicate:
    preds = tuple(c.predicate for c in children)
    if len(preds) == 2:
        first, second = preds
        return lambda event: first(event) or second(event)

    def any_of(event: Mapping[str, Any]) -> bool:
        for pred in preds:
            if pred(event):
                return True
        return False

    return any_of


def _where(node: Any) -> str | None:
    """The detection (search identifier) a leaf of the condition tree comes from."""
    for parent in node.parent_chain():
        identifier = getattr(parent, "identifier", None)
        if isinstance(identifier, str):
            return identifier
    return None


def _field_leaf(
    field: str, values: list[SigmaType], node: Any, placeholders: Placeholders
) -> Compiled:
    try:
        if len(values) == 1 and isinstance(values[0], SigmaExists):
            return _exists_leaf(field, values[0].exists)
        if len(values) == 1 and isinstance(values[0], SigmaFieldReference):
            return _fieldref_leaf(field, values[0])
        group = compile_values(values, placeholders)
    except LocatedCompileError:
        raise
    except CompileError as error:
        raise LocatedCompileError(str(error), _where(node), field) from None
    clause: Clause = None
    if group.atoms is not None:
        clause = simplify(tuple((field, kind, key) for kind, key in group.atoms))
    predicate, on_value = _value_leaf(field, group)
    return Compiled(predicate, clause, group.folded,
                    terms=(((field, on_value, group.equals),),))


def _null_value(value: Any) -> bool:
    """Whether a fetched value is what a ``null`` value matches."""
    if value is MISSING or value is None:
        return True
    return type(value) is list and (not value or None in value)


def _value_leaf(field: str, group: ValueGroup) -> tuple[Predicate, ValueTest]:
    """The leaf's predicate on events, and its test on the field's fetched value."""
    test = group.test
    null_ok = group.null
    if test is None:
        get_null = make_getter(field)
        return (lambda event: _null_value(get_null(event))), _null_value

    def on_list(items: list[Any]) -> bool:
        if not items:
            return null_ok
        for item in items:
            if item is None:
                if null_ok:
                    return True
            elif test(item):
                return True
        return False

    folded = group.folded
    on_value = _on_value(test, folded, null_ok, on_list)
    if "." not in field and folded is not None:

        def text_leaf(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                if len(value) > _LONG and memo.event is event:
                    return folded(_lowered(field, value))
                return folded(value.lower())
            if value is None:
                return null_ok
            if type(value) is list:
                return on_list(value)
            return test(value)

        return text_leaf, on_value

    if "." not in field:

        def plain_leaf(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if value is None:
                return null_ok
            if type(value) is list:
                return on_list(value)
            return test(value)

        return plain_leaf, on_value

    get = make_getter(field)

    def dotted_leaf(event: Mapping[str, Any]) -> bool:
        if memo.event is event:  # fetch (and lowercase) once per event
            cache = memo.fields
            entry = cache.get(field)
            if entry is None:
                value = get(event)
                entry = cache[field] = (value, value.lower() if type(value) is str else None)
            value, text = entry
            if text is not None and folded is not None:
                return folded(text)
        else:
            value = get(event)
        if value is MISSING or value is None:
            return null_ok
        if type(value) is list:
            return on_list(value)
        return test(value)

    return dotted_leaf, on_value


def _on_value(
    test: ValueTest, folded: TextTest | None, null_ok: bool, on_list: ValueTest
) -> ValueTest:
    if folded is not None:

        def text_value(value: Any) -> bool:
            if type(value) is str:
                return folded(value.lower())
            if value is MISSING or value is None:
                return null_ok
            if type(value) is list:
                return on_list(value)
            return test(value)

        return text_value

    def any_value(value: Any) -> bool:
        if value is MISSING or value is None:
            return null_ok
        if type(value) is list:
            return on_list(value)
        return test(value)

    return any_value


_LONG = 24
"""Strings longer than this are lowercased once per event (shorter ones cost less to redo)."""


def _lowered(field: str, value: str) -> str:
    """``value.lower()``, worked out once per event for field ``field`` (memo active)."""
    cache = memo.fields
    entry = cache.get(field)
    if entry is not None and entry[0] is value and entry[1] is not None:
        return entry[1]
    text = value.lower()
    cache[field] = (value, text)
    return text


def _present(value: Any) -> bool:
    """Whether a field has a value: not missing, not null, not a list of nothing but nulls."""
    if value is MISSING or value is None:
        return False
    if type(value) is list:
        return any(item is not None for item in value)
    return True


def _exists_leaf(field: str, exists: bool) -> Compiled:
    get = make_getter(field)
    if exists:
        return Compiled(lambda event: _present(get(event)), ((field, "present", ""),),
                        terms=(((field, _present, None),),))
    return Compiled(lambda event: not _present(get(event)), None,
                    terms=(((field, _negated(_present), None),),))


def _fieldref_leaf(field: str, ref: SigmaFieldReference) -> Compiled:
    get = make_getter(field)
    get_other = make_getter(ref.field)
    starts, ends = ref.starts_with, ref.ends_with

    def related(text: str, other: str) -> bool:
        if starts and ends:
            return other in text
        if starts:
            return text.startswith(other)
        if ends:
            return text.endswith(other)
        return text == other

    def fieldref_leaf(event: Mapping[str, Any]) -> bool:
        value, other = get(event), get_other(event)
        if type(value) is str and type(other) is str:  # the common case
            return related(value.lower(), other.lower())
        mine = _texts(value)
        if not mine:
            return False
        others = _texts(other)
        return any(related(a, b) for a in mine for b in others)

    return Compiled(fieldref_leaf, ((field, "present", ""),))


def _texts(value: Any) -> list[str]:
    items = value if type(value) is list else [value]
    texts = [text_of(item) for item in items]
    return [t.lower() for t in texts if t is not None]


def _keyword_leaf(values: list[SigmaType], node: Any, placeholders: Placeholders) -> Compiled:
    try:
        group = compile_values(values, placeholders, keyword=True)
    except CompileError as error:
        raise LocatedCompileError(str(error), _where(node), None) from None
    test = group.test
    if test is None:
        raise LocatedCompileError("a keyword cannot be null", _where(node), None)
    folded = group.folded

    def keyword_leaf(event: Mapping[str, Any]) -> bool:
        if folded is not None and memo.event is event:  # the event's texts, lowercased once
            texts = memo.texts
            if texts is None:
                texts = memo.texts = lowered_texts(event)
            for text in texts:
                if folded(text):
                    return True
            return False
        for value in iter_scalars(event):
            if value is not None and test(value):
                return True
        return False

    clause: Clause = None
    if group.atoms is not None and all(kind != "re" for kind, _ in group.atoms):
        clause = tuple((ANYWHERE, kind, key) for kind, key in group.atoms)
    # the index writes values with separators turned into spaces: a substring without a
    # space is found there exactly where it is in the value
    exact = clause is not None and group.substrings and all(
        kind == "contains" and not {" ", "\x01", "\x02"} & set(key)
        for kind, key in group.atoms or ())
    return Compiled(keyword_leaf, clause, exact=exact)
