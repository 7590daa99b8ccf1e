"""Clauses: the literal facts a compiled rule cannot match without, and how selective they are.

Compiling a rule also yields a *clause*: field atoms such as ``(Image, suffix, "\\reg.exe")``
or ``(EventID, num, 4688)``, at least one of which holds in every event the rule matches; a
rule whose detection is an ``and`` keeps up to :data:`KEPT` such clauses, all necessary, and
:mod:`socd.classify.index` files it under the atoms of the one or two it finds most selective.
The costs below estimate how selective an atom is, to pick clauses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Atom = tuple[str, Any]
"""(kind, key): kind is eq, num, prefix, suffix, contains, present or re (key: the regular
expression's RE2 source, its flags inline); text keys lowercased."""

FieldAtom = tuple[str, str, Any]
"""(field, kind, key)."""

Clause = tuple[FieldAtom, ...] | None
"""Alternatives, one of which holds whenever a node matches (None: nothing known)."""

Requirements = tuple[tuple[FieldAtom, ...], ...]
"""Clauses that must all hold for a rule to match (empty: nothing known)."""

ANYWHERE = ""
"""The field name of keyword atoms: they may hold in any value of the event."""


def atom_cost(kind: str, key: Any) -> float:
    """Roughly, the share of events with the field in which the atom holds."""
    if kind == "present":
        return 1.0
    if kind == "num":
        return 0.05
    if kind == "re":
        return 0.01  # an expression with no literal to look for: run once per value
    length = len(key)
    if not key.isascii():
        return 0.0005  # non-ASCII text is rare in logs
    if kind == "eq":
        return 0.001 if length >= 12 else 0.02
    if length >= 20:
        return 0.00005
    if length >= 12:
        return 0.0005
    if length >= 8:
        return 0.003
    if length >= 4:
        return 0.03
    return 0.3


def clause_cost(clause: Sequence[FieldAtom]) -> float:
    """How large a share of events a clause lets through (a relative figure)."""
    return min(1.0, sum(atom_cost(kind, key) for _, kind, key in clause))


def simplify(clause: Clause) -> Clause:
    """The clause, or only the presence of its fields when its atoms are too common to help.

    Every value atom implies that its field is present, so the swap keeps the clause necessary.
    """
    if clause is None or clause_cost(clause) < 1.0:
        return clause
    fields = tuple(dict.fromkeys(field for field, _, _ in clause))
    if ANYWHERE in fields:
        return None  # a keyword is "present" in every event
    return tuple((field, "present", "") for field in fields)


KEPT = 4
"""Necessary clauses kept per node, most selective first; the index picks among them."""


def ranked(clauses: Iterable[Clause]) -> tuple[tuple[FieldAtom, ...], ...]:
    """The :data:`KEPT` most selective of and-linked nodes' clauses (each is necessary)."""
    known = sorted({c for c in clauses if c}, key=lambda c: (clause_cost(c), len(c), c))
    return tuple(known[:KEPT])
