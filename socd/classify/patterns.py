"""Wildcard string patterns compiled into text tests: str methods first, a regex last.

A :class:`TextSet` collects OR-linked patterns for one text (lowercased unless case matters):
equality becomes a set lookup, prefixes and suffixes one ``startswith``/``endswith`` on a tuple,
substrings ``in`` (or, for long lists, set lookups by length and prefix), ``a*b`` a bounded
prefix-and-suffix check; only patterns with ``?`` or several inner ``*`` share one regular
expression. It also records the atoms (:mod:`socd.classify.clauses`) the index uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.types import SpecialChars

from socd.classify.clauses import Atom

TextTest = Callable[[str], bool]
"""A test on the text of one event value."""


@dataclass
class TextSet:
    """OR-linked string patterns matched against one text (lowercased or as is)."""

    equal: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    bounded: list[tuple[str, str]] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    anything: bool = False
    atoms: list[Atom] = field(default_factory=list)

    def add(self, parts: list[str | SpecialChars], fold: bool) -> None:
        """Add one wildcard pattern (plain text parts and wildcards)."""
        parts = _collapse(parts, fold)
        star = SpecialChars.WILDCARD_MULTI
        shape = tuple(p if isinstance(p, SpecialChars) else "" for p in parts)
        text = [p for p in parts if isinstance(p, str)]
        if shape == ():
            self._literal("equal", "")
        elif shape == ("",):
            self._literal("equal", text[0])
        elif shape == (star,):
            self.anything = True
            self.atoms.append(("present", ""))
        elif shape == ("", star):
            self._literal("prefixes", text[0])
        elif shape == (star, ""):
            self._literal("suffixes", text[0])
        elif shape == (star, "", star):
            self._literal("contains", text[0])
        elif shape == ("", star, ""):
            self.bounded.append((text[0], text[1]))
            longer = text[0] if len(text[0]) >= len(text[1]) else text[1]
            self.atoms.append(("prefix", text[0]) if longer is text[0] else ("suffix", text[1]))
        else:
            self.patterns.append("".join(_regex_part(p) for p in parts))
            literal = max(text, key=len, default="")
            self.atoms.append(("contains", literal) if literal else ("present", ""))

    def _literal(self, kind: str, text: str) -> None:
        if kind == "equal":
            self.equal.add(text)
            self.atoms.append(("eq", text))
            return
        getattr(self, kind).append(text)
        if not text:
            self.anything = True
        self.atoms.append(({"prefixes": "prefix", "suffixes": "suffix"}.get(kind, kind), text))

    def only_equal(self) -> bool:
        """Whether the set holds equalities and nothing else."""
        return bool(self.equal) and not (
            self.prefixes or self.suffixes or self.contains or self.bounded or self.patterns
            or self.anything)

    def only_contains(self) -> bool:
        """Whether the set is substrings and nothing else (each atom is then its whole test)."""
        return bool(self.contains) and all(self.contains) and not (
            self.equal or self.prefixes or self.suffixes or self.bounded or self.patterns
            or self.anything)

    def build(self) -> TextTest | None:
        """One test for the whole set (None when the set is empty)."""
        if self.anything:
            return _always
        checks: list[TextTest] = []
        if self.equal:
            checks.append(frozenset(self.equal).__contains__)
        if self.prefixes:
            prefixes = tuple(self.prefixes)
            checks.append(lambda s: s.startswith(prefixes))
        if self.suffixes:
            suffixes = tuple(self.suffixes)
            checks.append(lambda s: s.endswith(suffixes))
        if self.contains:
            checks.append(_contains_any(tuple(self.contains)))
        if self.bounded:
            checks.append(_bounded_any(tuple(self.bounded)))
        if self.patterns:
            source = "|".join(f"(?:{p})" for p in self.patterns)
            fullmatch = re.compile(source, re.DOTALL).fullmatch
            checks.append(lambda s: fullmatch(s) is not None)
        return any_of(checks)  # type: ignore[no-any-return]


def _collapse(parts: list[str | SpecialChars], fold: bool) -> list[str | SpecialChars]:
    """Merge adjacent text parts, drop repeated ``*`` and lowercase the text when folding."""
    out: list[str | SpecialChars] = []
    for part in parts:
        if isinstance(part, str):
            part = part.lower() if fold else part
            if out and isinstance(out[-1], str):
                out[-1] += part
                continue
        elif part is SpecialChars.WILDCARD_MULTI and out and out[-1] is part:
            continue
        out.append(part)
    return out


def _regex_part(part: str | SpecialChars) -> str:
    if part is SpecialChars.WILDCARD_MULTI:
        return ".*"
    if part is SpecialChars.WILDCARD_SINGLE:
        return "."
    return re.escape(str(part))


def _always(_: str) -> bool:
    return True


def _contains_any(needles: tuple[str, ...]) -> TextTest:
    if len(needles) == 1:
        needle = needles[0]
        return lambda s: needle in s
    if len(needles) >= _MANY_NEEDLES:
        return _contains_many(needles)
    return _contains_loop(needles)


def _contains_loop(needles: tuple[str, ...]) -> TextTest:
    def contains_any(s: str) -> bool:
        for needle in needles:
            if needle in s:
                return True
        return False

    return contains_any


_MANY_NEEDLES = 24
"""From this many substrings, grouping them by length and prefix pays off."""

_SUBSTRING_LOOKUP = 100
"""From this many needles of one length, looking up every substring of the text that long
beats searching for each needle."""


def _contains_many(needles: tuple[str, ...]) -> TextTest:
    """A test for a long list of substrings (hash lists, character lists).

    A text without any needle's first character fails at once. Needles of one length are then
    looked up as a set: at each occurrence of their common prefix when they share one,
    otherwise among all the text's substrings of that length.
    """
    firsts = frozenset(n[0] for n in needles if n)
    if "" in needles:
        return _always
    by_length: dict[int, set[str]] = {}
    for needle in needles:
        by_length.setdefault(len(needle), set()).add(needle)
    checks: list[TextTest] = []
    rest: list[str] = []
    for length, bucket in sorted(by_length.items()):
        check = _same_length(length, frozenset(bucket))
        if check is None:
            rest.extend(sorted(bucket))
        else:
            checks.append(check)
    if rest:
        checks.append(_contains_loop(tuple(rest)))
    check_any = any_of(checks)

    def contains_many(s: str) -> bool:
        return not firsts.isdisjoint(s) and bool(check_any(s))

    return contains_many


def _same_length(length: int, bucket: frozenset[str]) -> TextTest | None:
    """A set lookup for needles of one length (None: searching for each is cheaper)."""
    if length == 1:
        return lambda s: not bucket.isdisjoint(s)
    if len(bucket) < 4:
        return None
    head = _common_prefix(bucket)
    if len(head) >= 2:

        def at_prefix(s: str) -> bool:
            position = s.find(head)
            while position >= 0:
                if s[position:position + length] in bucket:
                    return True
                position = s.find(head, position + 1)
            return False

        return at_prefix
    if len(bucket) < _SUBSTRING_LOOKUP:
        return None

    def substrings(s: str) -> bool:
        return not bucket.isdisjoint(s[i:i + length] for i in range(len(s) - length + 1))

    return substrings


def _common_prefix(words: frozenset[str]) -> str:
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def _bounded_any(pairs: tuple[tuple[str, str], ...]) -> TextTest:
    def bounded_any(s: str) -> bool:
        for head, tail in pairs:
            if len(s) >= len(head) + len(tail) and s.startswith(head) and s.endswith(tail):
                return True
        return False

    return bounded_any


def any_of(checks: Sequence[Callable[[Any], bool]]) -> Any:
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) or second(v)
    items = tuple(checks)

    def any_of(v: Any) -> bool:
        for check in items:
            if check(v):
                return True
        return False

    return any_of
