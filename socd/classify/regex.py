"""socd's one regular-expression dialect: RE2, to validate ``|re`` values and to match them.

pySigma checks a rule's regular expressions with RE2 (google-re2); socd matches them with the
same engine, so a pattern means at run time what it meant when it was validated:
``pass[[:digit:]]+`` is ``pass`` and digits (a POSIX class, as in RE2 and PCRE), never
``pass`` and one of ``[:digt`` then ``]`` (what Python's ``re`` would read).

What is accepted, after the Sigma specification (appendix "Sigma Modifiers", section
"Regular Expression": the flavour is PCRE with ``.``, ``^ $``, ``* + ? {n,m}``, ``[a-z]
[^a-z]``, ``()`` and ``|``; the sub-modifiers ``i``, ``m``, ``s``):

* those metacharacters, with the meaning PCRE gives them, and the ``|re|i``, ``|re|m``,
  ``|re|s`` flags;
* RE2's other syntax, which community rules use: ``\\d \\w \\s \\b`` (ASCII, as in RE2),
  POSIX classes, ``\\x{…}``, ``\\pL``, ``(?:…)``, named groups, lazy quantifiers, the inline
  flags ``(?i) (?m) (?s) (?U)``;
* where RE2 and PCRE differ on a pattern both accept, RE2 decides: without ``m``, ``$`` is
  the end of the text only (not before a final newline), and ``{,n}`` is literal text.

The PCRE features that need backtracking (lookaround, backreferences, atomic groups,
possessive quantifiers, recursion, conditionals) and escapes RE2 does not know are refused
when the rule is loaded: :func:`check` raises :class:`RegexError` with the reason and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import re2  # type: ignore[import-untyped]
from re2 import _re2

TextSearch = Callable[[str], bool]
"""Whether a regular expression matches somewhere in a text."""

FLAGS = "ims"
"""The Sigma ``re`` sub-modifiers, in the letters of RE2's inline flags."""


class RegexError(re2.error):  # type: ignore[misc]
    """A regular expression socd's engine does not accept; the message says why and how to
    write it instead. An ``re2.error``, so pySigma reports it as an invalid expression."""


def source_of(patterns: Sequence[str], flags: Iterable[str] = ()) -> str:
    """One RE2 source for OR-linked patterns under Sigma flags (letters of :data:`FLAGS`)."""
    body = patterns[0] if len(patterns) == 1 else "|".join(f"(?:{p})" for p in patterns)
    letters = "".join(sorted(set(flags)))
    return f"(?{letters}){body}" if letters else body


def check(source: str) -> None:
    """Raise :class:`RegexError` when socd does not accept ``source``: RE2 refuses it, or it
    holds ``{,n}``, which RE2 (and PCRE before 10.43) reads as the text ``{,n}`` and Python and
    newer PCRE as "at most n": the Sigma specification lists only ``{n,m}``."""
    _compile(source)
    braces = _open_repetition(source)
    if braces is not None:
        raise RegexError(
            f"the repetition {braces} means different things to different engines (RE2 reads "
            f"it as the text {braces}): write {{0,{braces[2:-1]}}} for at most "
            f"{braces[2:-1]}, or \\{braces} for the text")


def searcher(source: str) -> TextSearch:
    """A test that ``source`` matches somewhere in a text (RE2, unanchored search).

    Raises :class:`RegexError` when RE2 does not accept the source. A text holding a lone
    surrogate (JSON can carry one) is searched with that code point as one character.
    """
    match = _compile(source).Match
    anywhere = _re2.RE2.Anchor.UNANCHORED

    def search(text: str) -> bool:
        try:
            data = text.encode()
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
        return match(anywhere, data, 0, len(data))[0][0] >= 0  # type: ignore[no-any-return]

    return search


_OPEN_REPETITION = re.compile(r"\{,\d+\}")


def _open_repetition(source: str) -> str | None:
    """The first ``{,n}`` outside brackets and escapes (None: there is none)."""
    at, end = 0, len(source)
    while at < end:
        char = source[at]
        if char == "\\":
            if source.startswith("Q", at + 1):
                close = source.find("\\E", at + 2)
                at = end if close < 0 else close + 2
            else:
                at += 2
        elif char == "[":
            at = _class_end(source, at + 1)
        elif char == "{" and (found := _OPEN_REPETITION.match(source, at)):
            return found.group()
        else:
            at += 1
    return None


def _class_end(source: str, at: int) -> int:
    """Where a bracketed class that opens before ``at`` ends (after its ``]``)."""
    if source.startswith("^", at):
        at += 1
    first = True
    while at < len(source):
        if source[at] == "]" and not first:
            return at + 1
        first = False
        if source[at] == "\\":
            at += 2
        elif source.startswith("[:", at) and (close := source.find(":]", at + 2)) >= 0:
            at = close + 2
        else:
            at += 1
    return at


def set_searcher(sources: Sequence[str]) -> Callable[[str], list[int]]:
    """Which of ``sources`` match somewhere in a text (their positions, in no order), found
    in one pass of an RE2 set instead of one search each.

    RE2 reports a set whose automaton ran out of memory as "no match"; a pattern that always
    matches is added to tell the two apart, and then each source is searched on its own.
    Raises :class:`RegexError` when RE2 does not accept a source.
    """
    searches = [searcher(source) for source in sources]
    regex_set = _re2.Set(_re2.RE2.Anchor.UNANCHORED, _OPTIONS)
    for source in sources:
        if regex_set.Add(source.encode()) < 0:  # pragma: no cover - each compiled above
            raise RegexError(f"RE2 cannot add {source!r} to a set")
    always = regex_set.Add(b"")
    if not regex_set.Compile():  # pragma: no cover - too large for one set: search each
        return lambda text: [i for i, search in enumerate(searches) if search(text)]
    match = regex_set.Match

    def search_all(text: str) -> list[int]:
        try:
            data = text.encode()
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
        found: list[int] = match(data)
        if always not in found:
            return [i for i, search in enumerate(searches) if search(text)]
        found.remove(always)
        return found

    return search_all


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error comes back as a RegexError
    options.never_capture = True  # a yes/no answer needs no groups: RE2 can use its DFA
    return options


_OPTIONS = _options()


def _compile(source: str) -> _re2.RE2:
    try:
        data = source.encode()
    except UnicodeEncodeError as error:
        code = ord(source[error.start])
        raise RegexError(
            f"it holds a lone surrogate \\u{code:04x}, which is not a character: remove it, "
            "or write the character the surrogate pair stood for") from None
    compiled = _re2.RE2(data, _OPTIONS)
    if not compiled.ok():
        message = compiled.error()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise RegexError(explain(str(message), source))
    return compiled


_PCRE_ONLY: tuple[tuple[str, str], ...] = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "the atomic group (?>...)"),
    ("(?(", "the conditional (?(...)...)"),
    ("(?|", "the branch reset group (?|...)"),
    ("(?R", "recursion (?R)"),
    ("(?&", "the subroutine call (?&name)"),
    ("(?P>", "the subroutine call (?P>name)"),
    ("(?P=", "the backreference (?P=name)"),
)
"""PCRE groups RE2 refuses: how they start, and what they are."""

_BACKTRACKING = (
    "RE2, the engine socd matches with (and pySigma validates with), never backtracks, so it has "
    "no lookaround, backreferences, atomic groups, recursion or conditionals: match the text "
    "itself, or put that condition in a selection of its own and combine the selections in "
    "the condition (and, and not)")

_ESCAPES: dict[str, str] = {
    "\\Z": "write \\z for the end of the text (or $)",
    "\\G": "it stands for the end of the previous match: remove it",
    "\\K": "it resets the start of the match: remove it",
    "\\R": "write (?:\\r\\n|\\n|\\r) for a line break",
    "\\X": "write . or \\pL for a character",
    "\\h": "write [ \\t] for horizontal space",
    "\\H": "write [^ \\t]",
    "\\e": "write \\x1b for the escape character",
    "\\c": "write the control character as \\xHH",
    "\\u": "write \\x{HHHH}",
    "\\U": "write \\x{HHHHHH}",
    "\\N": "write the character itself or \\x{HHHH}",
    "\\o": "write the character as \\x{HHHH}",
}
"""Escapes of PCRE or Python that RE2 refuses, and what to write instead."""


def explain(message: str, source: str = "") -> str:
    """A person's reading of RE2's error ``message`` (such as ``invalid perl operator: (?=``)
    about ``source``: which construct is refused, why, and what to write instead."""
    kind, _, fragment = message.partition(": ")
    if kind == "invalid perl operator":
        # RE2 quotes only the start of the group: read the rest of it in the source
        found = [source[at:at + 4] for at in range(len(source)) if fragment
                 and source.startswith(fragment, at)] or [fragment]
        for construct in found:
            for start, what in _PCRE_ONLY:
                if construct.startswith(start):
                    return f"{what} is not supported: {_BACKTRACKING}"
        if found[0].startswith("(?#"):
            return "the comment (?#...) is not supported by RE2: remove it"
        return (f"the group or inline flag {fragment} is not supported: RE2 knows (...), (?:...), "
                "(?P<name>...), (?<name>...) and the flags i, m, s and U, as (?i) or (?i:...); "
                "use the |re|i, |re|m and |re|s modifiers for the whole expression")
    if kind == "invalid escape sequence":
        if fragment[1:2].isdigit() or fragment[:2] in ("\\g", "\\k"):
            return f"the backreference {fragment} is not supported: {_BACKTRACKING}"
        advice = _ESCAPES.get(fragment[:2], "a backslash goes only before punctuation and "
                              "RE2's escapes (\\d \\w \\s \\b \\pL \\x{HH} \\t \\n ...)")
        return f"the escape {fragment} is not part of RE2's syntax: {advice}"
    if kind == "bad repetition operator" and len(fragment) >= 2 and fragment[-1] == "+":
        return (f"the possessive quantifier {fragment} is not supported: RE2 never backtracks, "
                f"so {fragment[:-1]} alone means the same: drop the last +")
    if kind == "bad repetition operator":
        return f"the repetition {fragment} repeats a repetition: put the inner one in (?:...)"
    if kind == "invalid repetition size":
        return f"the repetition {fragment} is larger than RE2 allows (1000 at most)"
    if kind == "no argument for repetition operator":
        return (f"the repetition {fragment} has nothing before it to repeat: write "
                f"\\{fragment} for the character itself")
    if message.startswith("pattern too large"):
        return "it is too large for RE2 (its compiled program passes the memory limit): simplify it"
    return f"RE2 does not accept it ({message})"
