"""The index that lets an event meet only the rules that can match it.

Each rule is filed under the atoms of one or two of its clauses (:mod:`socd.classify.clauses`;
each is necessary, the most selective are chosen, and atoms that a fifth of the rules need are
judged to select nothing); the rules whose chosen clauses all hold for an event are its
candidates, evaluated in full. Rules without a clause are always candidates. The index only
narrows the set: it never decides a match.

Per field, presence, numbers and equality are dict lookups, and a few prefixes, suffixes and
substrings are checked one by one; a field with many of them gets an Aho-Corasick automaton
(ahocorasick-rs) run over its values: the cost hardly grows with the number of rules.
Keyword atoms, which may hold in any value, are one automaton over every value of the event.
Regular expressions with no literal to look for are run by the index itself. What the
automata and expressions found is remembered per value (bounded, see :class:`_Recent`):
image paths, hashes and command lines come back again and again. When the rules name few
fields the index fetches just those; otherwise it walks the event once.

When most rules need one value of a field (``EventID``, once a pipeline has turned their
logsources into conditions), :class:`PartitionedIndex` gives each value its own index.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

from ahocorasick_rs import BytesAhoCorasick, Implementation

from socd.classify.clauses import ANYWHERE, FieldAtom, Requirements, atom_cost
from socd.classify.fields import MEMO, MISSING, make_getter, parse_number, text_of
from socd.classify.regex import set_searcher

_DFA_PATTERNS = 2000
"""Automata of up to this many patterns are built as DFAs: the fastest to run, but their size
grows with the patterns; larger ones are contiguous NFAs (as fast on these sizes, measured)."""

_REMEMBERED = 4096
_REMEMBERED_LENGTH = 512
"""Per field, the results of up to twice this many texts of at most this length are kept, in
two generations (when the newer is full, the older is forgotten): memory stays bounded
whatever the traffic, and texts that keep coming back stay."""

_OWN_SET = 16
"""From this many prefix, suffix and substring atoms, a field's go to an automaton."""

_FEW_FIELDS = 12
"""Up to this many fields, fetching each beats walking the whole event."""

_SEPARATORS = str.maketrans("\x01\x02", "  ")
"""Values are written for the automata as ``\\x01value\\x02``: they must not contain the
separators."""

_SECOND_WORTH = 0.5
"""A second clause is worth checking only when it lets through at most this share."""

_SHARED = 8
_COMMON = 0.2
"""An atom that at least :data:`_SHARED` rules and this share of the rules need selects
nothing worth an index: atoms every rule of a log source needs (the channel a pipeline adds)."""

Rules = list[int]


def _chosen(requirements: Sequence[Requirements]) -> list[Requirements]:
    """For each rule, its one or two most selective clauses (of those it keeps).

    Selectivity is :func:`~socd.classify.clauses.atom_cost`, raised for atoms many rules share.
    """
    needed: Counter[FieldAtom] = Counter()
    for clauses in requirements:
        needed.update({atom for clause in clauses for atom in clause})
    total = max(len(requirements), 1)

    def cost(clause: tuple[FieldAtom, ...]) -> float:
        share = 0.0
        for atom in clause:
            count = needed[atom]
            own = atom_cost(atom[1], atom[2])
            share += 1.0 if count >= _SHARED and count >= _COMMON * total else own
        return min(1.0, share)

    chosen: list[Requirements] = []
    for clauses in requirements:
        if len(clauses) < 2:
            chosen.append(clauses)
            continue
        ordered = sorted(clauses, key=cost)
        if cost(ordered[1]) <= _SECOND_WORTH:
            chosen.append((ordered[0], ordered[1]))
        else:
            chosen.append((ordered[0],))
    return chosen


def _pattern(kind: str, key: str) -> str:
    """The literal a text atom looks for in values written as ``\\x01value\\x02``."""
    literal = key.translate(_SEPARATORS)
    if kind == "eq":
        return "\x01" + literal + "\x02"
    if kind == "prefix":
        return "\x01" + literal
    if kind == "suffix":
        return literal + "\x02"
    return literal


class _TextSet:
    """An Aho-Corasick automaton of text atoms; each pattern leads to the rules filed under it."""

    __slots__ = ("_find", "_recent", "_rules")

    def __init__(self, atoms: Mapping[tuple[str, str], Rules]) -> None:
        patterns: dict[str, Rules] = {}
        for (kind, key), rules in atoms.items():
            patterns.setdefault(_pattern(kind, key), []).extend(rules)
        small = len(patterns) <= _DFA_PATTERNS
        automaton = BytesAhoCorasick(
            [p.encode("utf-8", "surrogatepass") for p in patterns],
            implementation=Implementation.DFA if small else Implementation.ContiguousNFA)
        self._find = automaton.find_matches_as_indexes
        self._rules = tuple(patterns.values())
        self._recent = _Recent()
        """What was found for recent texts: values repeat (an image path, a hash), and a
        lookup is far cheaper than a search."""

    def add_matches(self, texts: list[str], out: set[int]) -> None:
        """Add the rules whose atom holds in one of the (lowercased) texts."""
        written = "\x01" + "\x02\x01".join(texts) + "\x02"
        if written.count("\x01") != len(texts) or written.count("\x02") != len(texts):
            written = "\x01" + "\x02\x01".join(t.translate(_SEPARATORS) for t in texts) + "\x02"
        rules = self._rules
        data = written.encode("utf-8", "surrogatepass")
        for position in {found[0] for found in self._find(data, True)}:
            out.update(rules[position])

    def add_text(self, text: str, out: set[int]) -> None:
        """:meth:`add_matches` for one text (remembered when not too long)."""
        recent = self._recent
        found = recent.newer.get(text)
        if found is None:
            found = recent.recall(text)
            if found is None:
                found = recent.keep(text, self._search([text])[0])
        if found:
            out.update(found)

    def add_texts(self, texts: list[str], out: set[int]) -> None:
        """:meth:`add_text` for each text; the ones not remembered searched in one pass."""
        recent = self._recent
        unknown: list[str] = []
        for text in texts:
            found = recent.newer.get(text)
            if found is None:
                found = recent.recall(text)
                if found is None:
                    unknown.append(text)
                    continue
            if found:
                out.update(found)
        if unknown:
            for text, found in zip(unknown, self._search(unknown), strict=True):
                recent.keep(text, found)
                if found:
                    out.update(found)

    def _search(self, texts: list[str]) -> list[tuple[int, ...]]:
        """The rules each text's atoms lead to, found in one pass of the automaton over the
        texts written one after the other (a match belongs to the text it starts in: no
        pattern spans a separator)."""
        parts = [("\x01" + (t.translate(_SEPARATORS) if "\x01" in t or "\x02" in t else t)
                  + "\x02").encode("utf-8", "surrogatepass") for t in texts]
        rules = self._rules
        if len(parts) == 1:
            slots: set[int] = set()
            for position in {match[0] for match in self._find(parts[0], True)}:
                slots.update(rules[position])
            return [tuple(slots)]
        starts = list(accumulate((len(part) for part in parts[:-1]), initial=0))
        found: list[set[int]] = [set() for _ in parts]
        for position, start, _ in self._find(b"".join(parts), True):
            found[bisect_right(starts, start) - 1].update(rules[position])
        return [tuple(slots) for slots in found]


class _Expressions:
    """Regular expressions without a literal to look for (``CommandLine|re: ...``; RE2 sources
    with their flags inline, see :mod:`socd.classify.regex`): each is run on a value once,
    and what they found is remembered for the values that come back."""

    __slots__ = ("_recent", "_rules", "_search")

    def __init__(self, expressions: Mapping[str, Rules]) -> None:
        self._search = set_searcher(list(expressions))  # all of them in one pass
        self._rules = tuple(tuple(rules) for rules in expressions.values())
        self._recent = _Recent()

    def add(self, value: Any, out: set[int]) -> None:
        """Add the rules whose expression finds a match in the value (as text, unchanged)."""
        text = value if type(value) is str else text_of(value)
        if text is None:
            return
        recent = self._recent
        found = recent.newer.get(text)
        if found is None:
            found = recent.recall(text)
            if found is None:
                rules = self._rules
                found = recent.keep(text, tuple(
                    slot for position in self._search(text) for slot in rules[position]))
        if found:
            out.update(found)


class _Recent:
    """What was found for recent texts, in two generations of at most :data:`_REMEMBERED`
    texts each: when the newer is full it becomes the older, and the older is forgotten;
    a text found in the older moves back to the newer."""

    __slots__ = ("newer", "older")

    def __init__(self) -> None:
        self.newer: dict[str, tuple[int, ...]] = {}
        self.older: dict[str, tuple[int, ...]] = {}

    def recall(self, text: str) -> tuple[int, ...] | None:
        """What was found for ``text`` in the older generation (kept again), or None."""
        found = self.older.get(text)
        if found is not None:
            self.keep(text, found)
        return found

    def keep(self, text: str, found: tuple[int, ...]) -> tuple[int, ...]:
        """Remember ``found`` for ``text`` (unless the text is too long); returns ``found``."""
        if len(text) <= _REMEMBERED_LENGTH:
            if len(self.newer) >= _REMEMBERED:
                self.older = self.newer
                self.newer = {}
            self.newer[text] = found
        return found


class _FieldAtoms:
    """The atoms filed under one field (or under :data:`ANYWHERE`)."""

    __slots__ = ("equal", "equal_only", "expressions", "few", "numbers", "present", "texts",
                 "texts_only")

    def __init__(self) -> None:
        self.present: Rules = []
        self.numbers: dict[Any, Rules] = {}
        self.equal: dict[str, Rules] = {}
        self.texts: _TextSet | None = None
        self.few: tuple[tuple[str, str, Rules], ...] = ()
        self.expressions: _Expressions | None = None
        self.texts_only = False
        """Only the automaton is filed: probing a value is writing down its text."""
        self.equal_only = False
        """Only equality (and presence) atoms are filed: probing a string is one lookup."""

    def build(self, others: dict[tuple[str, str], Rules],
              expressions: dict[str, Rules]) -> None:
        if len(others) >= _OWN_SET:
            self.texts = _TextSet(others)
        else:
            self.few = tuple((kind, key, rules) for (kind, key), rules in others.items())
        if expressions:
            self.expressions = _Expressions(expressions)
        plain = self.expressions is None
        self.texts_only = plain and self.texts is not None and not (
            self.present or self.numbers or self.equal or self.few)
        self.equal_only = plain and self.texts is None and not (self.numbers or self.few)

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
        if self.expressions is not None:
            self.expressions.add(value, out)
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
        requirements = _chosen(requirements)
        first_fields = {field for clauses in requirements if clauses for field, _, _ in clauses[0]}
        if ANYWHERE not in first_fields and len(first_fields) <= _FEW_FIELDS:
            # few fields: fetching them is cheap; second clauses would only add fields to fetch
            requirements = [clauses[:1] for clauses in requirements]
        always: Rules = []
        two: set[int] = set()
        fields: dict[str, _FieldAtoms] = {}
        others: dict[str, dict[tuple[str, str], Rules]] = {}
        expressions: dict[str, dict[str, Rules]] = {}
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
                    elif kind == "re":
                        expressions.setdefault(field, {}).setdefault(key, []).append(slot)
                    else:
                        others.setdefault(field, {}).setdefault((kind, key), []).append(slot)
        for field, atoms in fields.items():
            atoms.build(others.get(field, {}), expressions.get(field, {}))
        self._always = tuple(always)
        self._two = frozenset(two)
        self._anywhere = fields.pop(ANYWHERE, None)
        self._fields = fields
        self._getters: tuple[tuple[str, Callable[[Mapping[str, Any]], Any], _FieldAtoms], ...]
        self._getters = ()
        if self._anywhere is None and len(fields) <= _FEW_FIELDS:
            self._getters = tuple((f, make_getter(f), a) for f, a in fields.items())

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
        """Probe every value of the event: top-level scalars on the spot (the common case),
        nested objects and lists through :func:`_flatten`."""
        fields = self._fields
        anywhere = self._anywhere
        everything: list[str] | None = [] if anywhere is not None else None
        keywords_only = anywhere is not None and anywhere.texts_only
        nested: list[tuple[str, Any]] | None = None
        for name, value in event.items():
            kind = type(value)
            if kind is str:
                text = value.lower()
            elif kind is int or kind is float or kind is bool:
                text = _lower_text(value)
            else:
                if value is not None:
                    if nested is None:
                        nested = []
                    nested.append((name, value))
                continue
            if type(name) is not str:
                name = str(name)
            atoms = fields.get(name)
            if atoms is not None:
                if atoms.present:
                    out.update(atoms.present)
                if atoms.texts_only:
                    atoms.texts.add_text(text, out)  # type: ignore[union-attr]
                elif atoms.equal_only:
                    found = atoms.equal.get(text)
                    if found:
                        out.update(found)
                else:
                    atoms.probe_text(value, text, out, None)
                    if atoms.texts is not None:
                        atoms.texts.add_text(text, out)
            if keywords_only:
                everything.append(text)  # type: ignore[union-attr]
            elif anywhere is not None:
                anywhere.probe_text(value, text, out, everything)
        if nested is not None:
            self._walk_nested(nested, out, everything)
        if everything and anywhere is not None and anywhere.texts is not None:
            anywhere.texts.add_texts(everything, out)
        if everything is not None and MEMO.event is event:
            MEMO.texts = everything  # what keyword rules match on: every text, lowercased

    def _walk_nested(
        self, items: list[tuple[str, Any]], out: set[int], everything: list[str] | None
    ) -> None:
        """:meth:`_walk` for objects and lists (at the top level: their names)."""
        fields = self._fields
        anywhere = self._anywhere
        keywords_only = anywhere is not None and anywhere.texts_only
        by_field: dict[str, tuple[_FieldAtoms, list[str]]] = {}
        for name, value in _flatten(dict(items)):
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


_PARTITION_MIN = 64
"""Rule sets smaller than this are not partitioned."""


class PartitionedIndex:
    """Rules split by the value of one field that most of them require, each part indexed.

    A pipeline that fits rules to their log sources (see :mod:`socd.classify.pipelines`)
    gives most of them a clause such as ``EventID = 1``: the rules of other event ids can
    never match an event whose id is 1. Such a field is found among the rules' clauses (the
    one that leaves the fewest rules per event); an event meets the :class:`RuleIndex` of the
    rules that require its value, plus those that require no value of that field. Parts are
    built when an event first needs them.
    """

    __slots__ = ("_by_key", "_get", "_loose", "_parts", "_requirements", "field")

    def __init__(self, requirements: Sequence[Requirements], field: str,
                 by_key: Mapping[tuple[str, Any], list[int]], loose: list[int]) -> None:
        self.field = field
        self._get = make_getter(field)
        self._requirements = requirements
        self._by_key = by_key
        self._loose = loose
        self._parts: dict[frozenset[tuple[str, Any]], tuple[RuleIndex, tuple[int, ...]]] = {}

    @classmethod
    def build(cls, requirements: Sequence[Requirements]) -> PartitionedIndex | None:
        """The partitioned index, or None when no field splits the rules well."""
        if len(requirements) < _PARTITION_MIN:
            return None
        by_field: dict[str, dict[tuple[str, Any], list[int]]] = {}
        for rule, clauses in enumerate(requirements):
            for clause in clauses:
                fields = {field for field, _, _ in clause}
                if len(fields) != 1 or ANYWHERE in fields:
                    continue
                if any(kind not in ("eq", "num") for _, kind, _ in clause):
                    continue
                keys = by_field.setdefault(next(iter(fields)), {})
                for atom in dict.fromkeys((kind, key) for _, kind, key in clause):
                    keys.setdefault(atom, []).append(rule)
        total = len(requirements)
        best: tuple[float, str] | None = None
        for field, keys in by_field.items():
            covered = len({rule for rules in keys.values() for rule in rules})
            if covered * 2 < total or len(keys) < 2:
                continue
            per_event = sum(len(rules) ** 2 for rules in keys.values()) / covered
            cost = per_event + total - covered
            if cost < total * 0.75 and (best is None or cost < best[0]):
                best = (cost, field)
        if best is None:
            return None
        field = best[1]
        parts = {atom: sorted(set(rules)) for atom, rules in by_field[field].items()}
        partitioned = {rule for rules in parts.values() for rule in rules}
        loose = [rule for rule in range(total) if rule not in partitioned]
        return cls(requirements, field, parts, loose)

    def candidates(self, event: Mapping[str, Any]) -> list[int]:
        """The rules (positions, ascending) that may match ``event``."""
        value = self._get(event)
        keys: frozenset[tuple[str, Any]] = _keys_of(value)
        part = self._parts.get(keys)
        if part is None:
            part = self._part(keys)
        index, positions = part
        return [positions[i] for i in index.candidates(event)]

    def _part(self, keys: frozenset[tuple[str, Any]]) -> tuple[RuleIndex, tuple[int, ...]]:
        chosen = set(self._loose)
        for key in keys:
            chosen.update(self._by_key.get(key, ()))
        positions = tuple(sorted(chosen))
        field = self.field
        requirements = []
        for rule in positions:
            clauses = self._requirements[rule]
            # a clause on the field alone holds for every event of this part: drop it
            requirements.append(tuple(c for c in clauses if any(
                f != field or kind not in ("eq", "num") for f, kind, _ in c)))
        part = self._parts[keys] = (RuleIndex(requirements), positions)
        if len(self._parts) > _MAX_PARTS:
            self._parts.pop(next(iter(self._parts)))
        return part


_MAX_PARTS = 256
"""Parts kept built; past that the oldest goes (events with many distinct values)."""


def _keys_of(value: Any) -> frozenset[tuple[str, Any]]:
    """The (kind, key) equality atoms that hold for a field's value (empty: none can)."""
    if type(value) is list:
        found: set[tuple[str, Any]] = set()
        for item in _scalars(value):
            found |= _keys_of(item)
        return frozenset(found)
    text = _lower_text(value)
    if text is None:
        return frozenset()
    kind = type(value)
    number = value if kind is int or kind is float else (
        parse_number(text) if kind is str else None)
    if number is None:
        return frozenset(((("eq", text)),))
    return frozenset((("eq", text), ("num", number)))
