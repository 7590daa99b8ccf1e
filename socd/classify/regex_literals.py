"""Literal text that a regular expression cannot match without, for the rule index."""

from __future__ import annotations

from typing import Any

try:
    import re._constants as _sre  # type: ignore[import-not-found]
    import re._parser as _parser  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - other Python versions lay the parser out differently
    _parser = None

_MIN_LITERAL = 3
"""Shorter literals select too little to be worth indexing."""


def required_literals(source: str, shortest: int = _MIN_LITERAL) -> list[str] | None:
    """Lowercased strings, one of which occurs in every text the expression matches.

    None when no such literal is found, when one would be shorter than ``shortest``, or when
    the expression cannot be analysed.
    """
    if _parser is None:
        return None
    try:
        tree = _parser.parse(source)
        found = _alternatives(list(tree))
    except Exception:  # the analysis is an optimisation: never fail because of it
        return None
    if not found or any(len(text) < shortest for text in found):
        return None
    return sorted({text.lower() for text in found})


def _alternatives(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The best set of alternatives found in a sequence: each run of literals is required;
    a branch gives the alternatives of its branches."""
    options: list[list[str]] = []
    run: list[str] = []
    for op, arg in items:
        if op is _sre.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            options.append(["".join(run)])
            run = []
        inner: list[str] | None = None
        if op is _sre.SUBPATTERN:
            inner = _alternatives(list(arg[-1]))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and arg[0] >= 1:
            inner = _alternatives(list(arg[2]))
        elif op is _sre.BRANCH:
            branches = [_alternatives(list(branch)) for branch in arg[1]]
            if all(branches):
                inner = [text for branch in branches if branch for text in branch]
        if inner:
            options.append(inner)
    if run:
        options.append(["".join(run)])
    if not options:
        return None
    return max(options, key=lambda texts: min(len(t) for t in texts) - len(texts))
