"""Literal text that a regular expression cannot match without, for the rule index.

The expression is read as RE2 reads it (the engine socd matches with, see
:mod:`socd.classify.regex`; syntax: https://github.com/google/re2/wiki/Syntax), by a small
parser that knows only what it needs and gives up (None) on anything else: no literal is
then used, and the index runs the expression itself.

The literals are meant for lowercased text (the index lowercases every value). So that
"the expression matches" always implies "the lowercased text contains one of them", each
literal keeps only ASCII characters (Python's lowercasing of other characters depends on
their neighbours, as the Greek final sigma does), and under case-insensitive matching no
``s``: RE2 folds ``s`` with ``ſ`` (U+017F), which lowercases to itself. (``k`` folds with
the Kelvin sign, which lowercases to ``k``: no harm.) A literal is cut at such characters
and its longest piece kept.
"""

from __future__ import annotations

import re

_MIN_LITERAL = 3
"""Shorter literals select too little to be worth indexing."""

_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
"""RE2's counted repetition; a ``{`` that does not start one is a literal character."""

_FOLD_FLAG = re.compile(r"\(\?[imsU]*i")
"""An inline flag group that turns case-insensitive matching on (read loosely: a false
alarm only cuts literals shorter)."""

_ESCAPED = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_CLASS_ESCAPES = frozenset("dDsSwWpPC")
_ANCHOR_ESCAPES = frozenset("bBAz")

Options = list[str]
"""Alternatives, one of which occurs in every text a part of the expression matches."""


class _GiveUp(Exception):
    """The parser met something it does not handle."""


def required_literals(
    source: str, *, fold: bool = False, shortest: int = _MIN_LITERAL
) -> list[str] | None:
    """Lowercased ASCII strings, one of which occurs in the lowercased text of every text the
    RE2 expression ``source`` matches; ``fold``: it matches case-insensitively.

    None when no such literal is found, when one would be shorter than ``shortest``, or when
    the expression cannot be analysed.
    """
    fold = fold or _FOLD_FLAG.search(source) is not None
    try:
        parser = _Parser(source, fold)
        found = parser.alternation()
        if parser.at < len(source):
            return None  # an unbalanced ")": RE2 refuses it anyway
    except (_GiveUp, IndexError):
        return None
    if not found or any(len(text) < shortest for text in found):
        return None
    return sorted(set(found))


class _Parser:
    """A reader of RE2 syntax that keeps, for each part, the literals it requires."""

    def __init__(self, source: str, fold: bool) -> None:
        self.source = source
        self.at = 0
        self.fold = fold

    def alternation(self) -> Options | None:
        """``a|b|…`` up to a closing ``)`` or the end: a literal of each branch, or None."""
        branches = [self.sequence()]
        while self.at < len(self.source) and self.source[self.at] == "|":
            self.at += 1
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        if all(branches):
            return [text for branch in branches if branch for text in branch]
        return None

    def sequence(self) -> Options | None:
        """Concatenated items: each run of literal characters is required, and so is what a
        group (repeated at least once) requires; the most selective of these is kept."""
        options: list[Options] = []
        run: list[str] = []

        def flush() -> None:
            piece = self._piece("".join(run))
            if piece:
                options.append([piece])
            run.clear()

        source = self.source
        while self.at < len(source) and source[self.at] not in "|)":
            kind, value = self.item()
            least = self.repetition()
            if kind == "chars":
                if least is None:
                    run.extend(value)
                    continue
                if least == 0:  # the repeated (last) character may be absent
                    run.extend(value[:-1])
                    flush()
                    continue
                run.extend(value)  # its first copy follows the run,
                flush()
                run.append(value[-1])  # and its last copy precedes what comes next
                continue
            flush()
            if kind == "group" and value and (least is None or least >= 1):
                options.append(value)
        flush()
        if not options:
            return None
        return max(options, key=lambda texts: min(len(t) for t in texts) - len(texts))

    def item(self) -> tuple[str, list[str]]:
        """One item: ``("chars", characters)``, ``("group", literals)`` or ``("other", [])``
        (a class, ``.``, an anchor, a flag group)."""
        source = self.source
        char = source[self.at]
        self.at += 1
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_class()
        if char == "\\":
            return self.escape()
        if char in ".^$":
            return "other", []
        if char in "*+?":
            raise _GiveUp  # nothing to repeat: RE2 refuses it
        return "chars", [char]

    def group(self) -> tuple[str, list[str]]:
        source = self.source
        if source.startswith("?", self.at):
            self.at += 1
            if source.startswith(("<=", "<!"), self.at):
                raise _GiveUp  # lookbehind: RE2 refuses it
            if source.startswith(("P<", "<"), self.at):
                end = source.index(">", self.at)
                self.at = end + 1
            else:
                end = self.at
                while source[end] in "imsU-":
                    end += 1
                if source[end] == ")":  # (?flags): applies to the rest of the group
                    self.at = end + 1
                    return "other", []
                if source[end] != ":":
                    raise _GiveUp
                self.at = end + 1
        inner = self.alternation()
        if not source.startswith(")", self.at):
            raise _GiveUp
        self.at += 1
        return "group", inner or []

    def char_class(self) -> tuple[str, list[str]]:
        """A bracketed class: a literal only when it is one character (``[.]``)."""
        source = self.source
        negated = source.startswith("^", self.at)
        if negated:
            self.at += 1
        members: list[str | None] = []  # a character, or None for anything wider
        first = True
        while True:
            char = source[self.at]
            if char == "]" and not first:
                self.at += 1
                break
            first = False
            if source.startswith("[:", self.at):
                self.at = source.index(":]", self.at + 2) + 2
                members.append(None)
                continue
            self.at += 1
            if char == "\\":
                kind, value = self.escape(in_class=True)
                members.append(value[0] if kind == "chars" else None)
            elif char == "-" and members and source[self.at] != "]":
                members.append(None)  # a range
            else:
                members.append(char)
        if not negated and len(members) == 1 and members[0] is not None:
            return "chars", [members[0]]
        return "other", []

    def escape(self, *, in_class: bool = False) -> tuple[str, list[str]]:
        source = self.source
        char = source[self.at]
        self.at += 1
        if char in _ESCAPED:
            return "chars", [_ESCAPED[char]]
        if char == "x":
            if source.startswith("{", self.at):
                end = source.index("}", self.at)
                code, self.at = source[self.at + 1:end], end + 1
            else:
                code, self.at = source[self.at:self.at + 2], self.at + 2
            return "chars", [chr(int(code, 16))]
        if char in "pP":
            if source.startswith("{", self.at):
                self.at = source.index("}", self.at) + 1
            else:
                self.at += 1
            return "other", []
        if char in _CLASS_ESCAPES:
            return "other", []
        if char in _ANCHOR_ESCAPES and not in_class:
            return "other", []
        if char == "Q" and not in_class:
            end = source.find("\\E", self.at)
            end = len(source) if end < 0 else end
            text = source[self.at:end]
            if "\\" in text or not text:
                raise _GiveUp
            self.at = min(end + 2, len(source))
            return "chars", list(text)
        if char.isascii() and not char.isalnum():
            return "chars", [char]  # escaped punctuation is itself
        raise _GiveUp  # octal, and anything else rare

    def repetition(self) -> int | None:
        """The least count of a repetition operator at this point (None: there is none)."""
        source = self.source
        if self.at >= len(source):
            return None
        char = source[self.at]
        if char in "*?":
            least = 0
            self.at += 1
        elif char == "+":
            least = 1
            self.at += 1
        elif char == "{" and (counted := _REPEAT.match(source, self.at)):
            least = int(counted.group(1))
            self.at = counted.end()
        else:
            return None
        if source.startswith("?", self.at):
            self.at += 1  # lazy: the same text can match
        if self.at < len(source) and source[self.at] in "*+?{" and (
                source[self.at] != "{" or _REPEAT.match(source, self.at)):
            raise _GiveUp  # a repeated repetition: RE2 refuses it
        return least

    def _piece(self, text: str) -> str:
        """The longest part of a run that stays a literal of the lowercased text."""
        pieces = re.split(r"[^\x00-\x7f]" if not self.fold else r"[^\x00-\x7f]|[sS]", text)
        return max(pieces, key=len).lower() if pieces else ""
