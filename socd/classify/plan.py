"""The matcher of a small rule set: each field fetched once, rules found by one lookup.

For tens of rules (the shipped set), the general index (:mod:`socd.classify.index`) and the
rules' predicates fetch the same few fields over and over. A :class:`Plan` works from the
rules flattened into :data:`~socd.classify.compile.Terms` instead: per event it fetches every
field the rules name once, into a list; a conjunction with a plain equality term (``rule.category:
apt_c2``) is filed under the texts that term accepts, so one dict lookup per such field finds
the conjunctions that can hold, and only their other terms are tested. Conjunctions without
an equality term are tested on every event, and a rule that does not flatten (keywords, field
references) keeps its predicate on the event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from socd.classify.compile import Predicate, Terms, ValueTest
from socd.classify.fields import MEMO, MISSING, make_getter, text_of

Check = Callable[[list[Any]], bool]
"""The rest of a conjunction, tested on the fetched values (None: nothing left to test)."""

Entry = tuple[int, Check | None]
"""A rule (position) and the rest of one of its conjunctions."""

LIMIT = 64
"""Rule sets up to this size are matched with a plan (larger ones with the index)."""


class Plan:
    """Matches an event against rules given as flattened terms (or predicates)."""

    __slots__ = ("_always", "_dispatch", "_getters", "_predicates")

    def __init__(self, terms: Sequence[Terms | None], predicates: Sequence[Predicate]) -> None:
        slots: dict[str, int] = {}
        dispatch: dict[int, dict[str, list[Entry]]] = {}
        always: list[tuple[int, Check | None]] = []
        fallback: list[tuple[int, Predicate]] = []
        for rule, alternatives in enumerate(terms):
            if alternatives is None:
                fallback.append((rule, predicates[rule]))
                continue
            for conjunction in alternatives:
                key = next((term for term in conjunction if term[2]), None)
                rest = [(slots.setdefault(term[0], len(slots)), term[1])
                        for term in conjunction if term is not key]
                entry = (rule, _check(rest))
                if key is None:
                    always.append(entry)
                    continue
                table = dispatch.setdefault(slots.setdefault(key[0], len(slots)), {})
                for text in key[2] or ():
                    table.setdefault(text, []).append(entry)
        self._getters = tuple(make_getter(field) for field in slots)
        self._dispatch = tuple(dispatch.items())
        self._always = tuple(always)
        self._predicates = tuple(fallback)

    def matching(self, event: Mapping[str, Any]) -> list[int]:
        """Positions (ascending) of the rules that match ``event``."""
        values = [get(event) for get in self._getters]
        matched: list[int] = []
        for slot, table in self._dispatch:
            value = values[slot]
            if type(value) is str:
                entries = table.get(value.lower())
                if entries is not None:
                    for rule, check in entries:
                        if check is None or check(values):
                            matched.append(rule)
            elif value is not MISSING and value is not None:
                for text in _texts(value):
                    for rule, check in table.get(text, ()):
                        if check is None or check(values):
                            matched.append(rule)
        for rule, check in self._always:
            if check is None or check(values):
                matched.append(rule)
        if self._predicates:
            memo = MEMO
            memo.event = event
            memo.fields = {}
            memo.texts = None
            try:
                matched.extend(rule for rule, predicate in self._predicates if predicate(event))
            finally:
                memo.event = memo.texts = None
        if len(matched) > 1:
            return sorted(set(matched))
        return matched


def _texts(value: Any) -> list[str]:
    """The lowercased texts an equality term compares (a list: each of its scalars)."""
    items = value if type(value) is list else (value,)
    out = []
    for item in items:
        text = text_of(item)
        if text is not None:
            out.append(text.lower())
    return out


def _check(tests: list[tuple[int, ValueTest]]) -> Check | None:
    """One closure testing every (slot, test) of a conjunction."""
    if not tests:
        return None
    if len(tests) == 1:
        ((slot, test),) = tests
        return lambda values: test(values[slot])
    if len(tests) == 2:
        (one, first), (two, second) = tests
        return lambda values: first(values[one]) and second(values[two])
    pairs = tuple(tests)

    def check_all(values: list[Any]) -> bool:
        for slot, test in pairs:
            if not test(values[slot]):
                return False
        return True

    return check_all
