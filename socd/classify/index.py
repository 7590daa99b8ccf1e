"""The index that lets an event meet only the rules that can match it.

Each rule is filed under the atoms of its clauses (:mod:`socd.classify.clauses`; at most two,
both necessary); the rules whose clauses all hold for an event are its candidates, evaluated
in full. Rules without a clause are always candidates. The index only narrows the set: it
never decides a match.

Per field, presence, numbers and equality are dict lookups, and a few prefixes, suffixes and
substrings are checked one by one; a field with many of them gets an RE2 set matched once over
all its values (an automaton: the cost hardly grows with the number of rules). Keyword atoms,
which may hold in any value, are one RE2 set over the whole event. When the rules name few
fields the index fetches just those; otherwise it walks the event once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import re2  # type: ignore[import-untyped]

from socd.classify.clauses import ANYWHERE, Requirements
from socd.classify.fields import MEMO, MISSING, make_getter, parse_number

_RE2_MEMORY = 16 << 20
"""Memory budget of each RE2 set: its program, and its automaton, built lazily within it. A
set that would not fit is split."""

_OWN_SET = 16
"""From this many prefix, suffix and substring atoms, a field's are matched by an RE2 set."""

_FEW_FIELDS = 12
"""Up to this many fields, fetching each beats walking the whole event."""

_SEPARATORS = str.maketrans("\x01\x02", "  ")
"""Values are written for RE2 as ``\\x01value\\x02``: they must not contain the separators."""

Rules = list[int]


def _pattern(kind: str, key: str) -> str:
    """The RE2 pattern of a text atom over values written as ``\\x01value\\x02``."""
    literal: str = re2.escape(key.translate(_SEPARATORS))
    if kind == "eq":
        return "\x01" + literal + "\x02"
    if kind == "prefix":
        return "\x01" + literal
    if kind == "suffix":
        return literal + "\x02"
    return literal


class _TextSet:
    """RE2 sets of text atoms; each pattern leads to the rules filed under it."""

    __slots__ = ("_sets",)

    def __init__(self, atoms: Mapping[tuple[str, str], Rules]) -> None:
        patterns: dict[str, Rules] = {}
        for (kind, key), rules in atoms.items():
            patterns.setdefault(_pattern(kind, key), []).extend(rules)
        self._sets = _compile_sets(list(patterns.items()))

    def add_matches(self, texts: list[str], out: set[int]) -> None:
        """Add the rules whose atom holds in one of the (lowercased) texts."""
        written = "\x01" + "\x02\x01".join(texts) + "\x02"
        if written.count("\x01") != len(texts) or written.count("\x02") != len(texts):
            written = "\x01" + "\x02\x01".join(t.translate(_SEPARATORS) for t in texts) + "\x02"
        data = written.encode("utf-8", "replace")
        for match, rules in self._sets:
            found = match(data)
            if found:
                for position in found:
                    out.update(rules[position])


def _compile_sets(
    patterns: list[tuple[str, Rules]]
) -> list[tuple[Callable[[bytes], list[int]], tuple[Rules, ...]]]:
    """One RE2 set for the patterns, or several if one would exceed the memory budget."""
    options = re2.Options()
    options.max_mem = _RE2_MEMORY
    matcher = re2.Set.SearchSet(options)
    try:
        for pattern, _ in patterns:
            matcher.Add(pattern)
        matcher.Compile()
    except re2.error:
        if len(patterns) == 1:  # a literal too large for any set: its rules are candidates
            return [(_always_first, (patterns[0][1],))]
        half = len(patterns) // 2
        return _compile_sets(patterns[:half]) + _compile_sets(patterns[half:])
    return [(matcher._set.Match, tuple(rules for _, rules in patterns))]


def _always_first(_: bytes) -> list[int]:
    return [0]


class _FieldAtoms:
    """The atoms filed under one field (or under :data:`ANYWHERE`)."""

    __slots__ = ("equal", "equal_only", "few", "numbers", "present", "texts", "texts_only")

    def __init__(self) -> None:
        self.present: Rules = []
        self.numbers: dict[Any, Rules] = {}
        self.equal: dict[str, Rules] = {}
        self.texts: _TextSet | None = None
        self.few: tuple[tuple[str, str, Rules], ...] = ()
        self.texts_only = False
        """Only the RE2 set is filed: probing a value is writing down its text."""
        self.equal_only = False
        """Only equality (and presence) atoms are filed: probing a string is one lookup."""

    def build(self, others: dict[tuple[str, str], Rules]) -> None:
        if len(others) >= _OWN_SET:
            self.texts = _TextSet(others)
        else:
            self.few = tuple((kind, key, rules) for (kind, key), rules in others.items())
        self.texts_only = self.texts is not None and not (
            self.present or self.numbers or self.equal or self.few)
        self.equal_only = self.texts is None and not (self.numbers or self.few)

    def probe(self, value: Any, out: set[int], texts: list[str] | None) -> None:
        """Add the rules whose atom holds for one scalar; its text goes to ``texts``."""
        text = _lower_text(value)
        if text is not None:
            self.probe_text(value, text, out, texts)

    def probe_text(
        self, value: Any, text: str, out: set[int], texts: list[str] | None
    ) -> None:
        """:meth:`probe` with the lowercased text of the scalar already worked out."""
        if self.numbers:
            kind = type(value)
            number = value if kind is int or kind is float else (
                parse_number(text) if kind is str else None)
            if number is not None:
                found = self.numbers.get(number)
                if found:
                    out.update(found)
        if self.equal:
            found = self.equal.get(text)
            if found:
                out.update(found)
        for atom, key, rules in self.few:
            if atom == "contains":
                hit = key in text
            elif atom == "prefix":
                hit = text.startswith(key)
            elif atom == "suffix":
                hit = text.endswith(key)
            else:
                hit = text == key
            if hit:
                out.update(rules)
        if texts is not None:
            texts.append(text)


def _lower_text(value: Any) -> str | None:
    """The lowercased text of a scalar, as value tests see it (None: not a scalar)."""
    kind = type(value)
    if kind is str:
        return value.lower()  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else str(value)
    if kind is bool:
        return "true" if value else "false"
    return None


class RuleIndex:
    """Candidate rules (by position) for an event.

    Atoms are filed under *slots*: slot ``2 * rule + k`` stands for the rule's clause ``k``
    (a rule has at most two). A rule is a candidate when every one of its clauses holds.
    """

    __slots__ = ("_always", "_anywhere", "_fields", "_getters", "_two")

    def __init__(self, requirements: Sequence[Requirements]) -> None:
        first_fields = {field for clauses in requirements if clauses for field, _, _ in clauses[0]}
        if ANYWHERE not in first_fields and len(first_fields) <= _FEW_FIELDS:
            # few fields: fetching them is cheap; second clauses would only add fields to fetch
            requirements = [clauses[:1] for clauses in requirements]
        always: Rules = []
        two: set[int] = set()
        fields: dict[str, _FieldAtoms] = {}
        others: dict[str, dict[tuple[str, str], Rules]] = {}
        for rule, clauses in enumerate(requirements):
            if not clauses:
                always.append(rule)
                continue
            if len(clauses) > 1:
                two.add(rule)
            for number, clause in enumerate(clauses[:2]):
                slot = 2 * rule + number
                for field, kind, key in dict.fromkeys(clause):
                    atoms = fields.get(field)
                    if atoms is None:
                        atoms = fields[field] = _FieldAtoms()
                    if kind == "present":
                        atoms.present.append(slot)
                    elif kind == "num":
                        atoms.numbers.setdefault(key, []).append(slot)
                    elif kind == "eq" and field != ANYWHERE:
                        atoms.equal.setdefault(key, []).append(slot)
                    else:
                        others.setdefault(field, {}).setdefault((kind, key), []).append(slot)
        for field, atoms in fields.items():
            atoms.build(others.get(field, {}))
        self._always = tuple(always)
        self._two = frozenset(two)
        self._anywhere = fields.pop(ANYWHERE, None)
        self._fields = fields
        self._getters: tuple[tuple[str, Callable[[Mapping[str, Any]], Any], _FieldAtoms], ...]
        self._getters = ()
        if self._anywhere is None and len(fields) <= _FEW_FIELDS:
            self._getters = tuple((f, make_getter(f), a) for f, a in fields.items())

    @property
    def always(self) -> Sequence[int]:
        """Rules that are candidates for every event."""
        return self._always

    def candidates(self, event: Mapping[str, Any]) -> list[int]:
        """The rules (positions, ascending) that may match ``event``."""
        slots: set[int] = set()
        if self._getters:
            self._fetch(event, slots)
        elif self._fields or self._anywhere is not None:
            self._walk(event, slots)
        two = self._two
        if not two:
            found = {slot >> 1 for slot in slots}
            found.update(self._always)
            return sorted(found)
        rules = set(self._always)
        for slot in slots:
            if not slot & 1:
                rule = slot >> 1
                if rule not in two or slot + 1 in slots:
                    rules.add(rule)
        return sorted(rules)

    def _fetch(self, event: Mapping[str, Any], out: set[int]) -> None:
        cache = MEMO.fields if MEMO.event is event else None
        for field, get, atoms in self._getters:
            value = get(event)
            if type(value) is str and atoms.equal_only:  # the common case, inlined
                lowered = value.lower()
                if cache is not None:
                    cache[field] = (value, lowered)
                found = atoms.equal.get(lowered)
                if found:
                    out.update(found)
                if atoms.present:
                    out.update(atoms.present)
                continue
            if cache is not None:
                cache[field] = (value, value.lower() if type(value) is str else None)
            if value is MISSING or value is None:
                continue
            if type(value) is list:
                if not value:
                    continue
                texts: list[str] | None = [] if atoms.texts is not None else None
                for item in _scalars(value):
                    atoms.probe(item, out, texts)
                if texts:
                    atoms.texts.add_matches(texts, out)  # type: ignore[union-attr]
            else:
                text = _lower_text(value)  # None for objects: only their presence counts
                if text is not None:
                    if atoms.texts is not None:
                        texts = []
                        atoms.probe_text(value, text, out, texts)
                        atoms.texts.add_matches(texts, out)
                    else:
                        atoms.probe_text(value, text, out, None)
            if atoms.present:
                out.update(atoms.present)

    def _walk(self, event: Mapping[str, Any], out: set[int]) -> None:
        fields = self._fields
        anywhere = self._anywhere
        everything: list[str] | None = [] if anywhere is not None else None
        keywords_only = anywhere is not None and anywhere.texts_only
        by_field: dict[str, tuple[_FieldAtoms, list[str]]] = {}
        for name, value in _flatten(event):
            atoms = fields.get(name)
            if value is _CONTAINER:
                if atoms is not None and atoms.present:
                    out.update(atoms.present)
                continue
            if atoms is None and anywhere is None:
                continue
            text = _lower_text(value)
            if text is None:
                continue
            if atoms is not None:
                if atoms.present:
                    out.update(atoms.present)
                texts: list[str] | None = None
                if atoms.texts is not None:
                    entry = by_field.get(name)
                    if entry is None:
                        entry = by_field[name] = (atoms, [])
                    texts = entry[1]
                atoms.probe_text(value, text, out, texts)
            if keywords_only:
                everything.append(text)  # type: ignore[union-attr]
            elif anywhere is not None:
                anywhere.probe_text(value, text, out, everything)
        for atoms, texts in by_field.values():
            if texts:
                atoms.texts.add_matches(texts, out)  # type: ignore[union-attr]
        if everything and anywhere is not None and anywhere.texts is not None:
            anywhere.texts.add_matches(everything, out)
        if everything is not None and MEMO.event is event:
            MEMO.texts = everything  # what keyword rules match on: every text, lowercased


class _Container:
    """Marks a name whose value is an object (present, but not a scalar)."""


_CONTAINER = _Container()


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, scalar) pairs, list elements one by one; objects also as a container."""
    for key, value in obj.items():
        if value is None:
            continue
        name = prefix + key if type(key) is str else prefix + str(key)
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool:
            yield name, value
        elif kind is list:
            for item in _scalars(value, containers=True):
                if isinstance(item, Mapping):
                    yield name, _CONTAINER
                    yield from _flatten(item, name + ".")
                else:
                    yield name, item
        elif isinstance(value, Mapping):
            yield name, _CONTAINER
            yield from _flatten(value, name + ".")


def _scalars(items: Iterable[Any], *, containers: bool = False) -> Iterator[Any]:
    for item in items:
        if item is None:
            continue
        if isinstance(item, list):
            yield from _scalars(item, containers=containers)
        elif containers or not isinstance(item, Mapping):
            yield item
