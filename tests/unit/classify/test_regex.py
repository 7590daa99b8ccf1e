"""One regular-expression dialect: RE2 validates ``|re`` values, matches them, and the index's
literals follow RE2's reading of them.

The right values follow the Sigma specification (appendix "Sigma Modifiers", "Regular
Expression": PCRE's ``.``, ``^ $``, ``* + ? {n,m}``, ``[a-z] [^a-z]``, ``()``, ``|``, the
sub-modifiers i, m, s; other metacharacters unsupported) and RE2's syntax
(https://github.com/google/re2/wiki/Syntax) where RE2 goes beyond that list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from socd.classify import RuleSet, regex
from socd.classify.regex import RegexError, check, searcher, set_searcher, source_of
from socd.classify.regex_literals import required_literals

Matches = Callable[..., bool]
WriteRule = Callable[..., Path]


def sel(item: dict[str, Any]) -> dict[str, Any]:
    return {"selection": item, "condition": "selection"}


def both(write_rule: WriteRule, detection: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether the rule matches the event, checked with the index and without: both agree."""
    rules, problems = RuleSet.load([write_rule(detection)])
    assert problems == []
    indexed = bool(rules.bind(None, indexed=True).match(event))
    plain = bool(rules.bind(None, indexed=False).match(event))
    assert indexed is plain
    return plain


# --------------------------------------------------------------------------- the example


def test_posix_class_means_digits(write_rule: WriteRule) -> None:
    """``pass[[:digit:]]+`` is "pass" and digits, as RE2 validated it: it matches pass1234,
    not ``pass:]`` (Python's re reads a class of ``[:digt`` then a ``]``)."""
    detection = sel({"CommandLine|re": "pass[[:digit:]]+"})
    assert both(write_rule, detection, {"CommandLine": "net user admin pass1234"})
    assert not both(write_rule, detection, {"CommandLine": "pass:]"})


# --------------------------------------------------------------------------- supported


@pytest.mark.parametrize(
    ("key", "pattern", "text", "expected"),
    [
        # the metacharacters the Sigma specification lists
        ("f|re", "a.c", "abc", True),  # wildcard
        ("f|re", "a.c", "ac", False),
        ("f|re", "^abc", "abcd", True),  # anchors
        ("f|re", "^abc", "xabc", False),
        ("f|re", "abc$", "xabc", True),
        ("f|re", "abc$", "abcx", False),
        ("f|re", "ab*c", "ac", True),  # quantifiers
        ("f|re", "ab+c", "ac", False),
        ("f|re", "ab+c", "abbbc", True),
        ("f|re", "ab?c", "abbc", False),
        ("f|re", "^ab{2,3}c$", "abbbc", True),
        ("f|re", "^ab{2,3}c$", "abbbbc", False),
        ("f|re", "^ab{2}c$", "abbc", True),
        ("f|re", "^ab{2,}c$", "abbbbbc", True),
        ("f|re", "^[a-z]+$", "abc", True),  # classes
        ("f|re", "^[a-z]+$", "abC", False),
        ("f|re", "^[^a-z]+$", "ABC", True),
        ("f|re", "^[^a-z]+$", "aBC", False),
        ("f|re", "^(ab)+$", "ababab", True),  # groups
        ("f|re", "^(ab)+$", "aba", False),
        ("f|re", "^(cmd|powershell)\\.exe$", "powershell.exe", True),  # alternation
        ("f|re", "^(cmd|powershell)\\.exe$", "pwsh.exe", False),
        # the sub-modifiers
        ("f|re", "^abc$", "ABC", False),  # case-sensitive by default
        ("f|re|i", "^abc$", "ABC", True),
        ("f|re", "^b$", "a\nb\nc", False),
        ("f|re|m", "^b$", "a\nb\nc", True),
        ("f|re", "a.c", "a\nc", False),
        ("f|re|s", "a.c", "a\nc", True),
        ("f|re|i|m|s", "^B.C$", "a\nb\nc", True),
        # RE2's syntax beyond the list, as community rules use it
        ("f|re", "pass[[:digit:]]+", "pass1234", True),
        ("f|re", "^[[:alpha:]]+$", "abc1", False),
        ("f|re", "\\d{3}", "port 443", True),
        ("f|re", "\\d", "\u0663", False),  # ASCII digits only (Python's \d takes Arabic-Indic)
        ("f|re", "^\\w+$", "caf\u00e9", False),  # ASCII word characters only
        ("f|re", "\\bcmd\\b", "run cmd now", True),
        ("f|re", "(?i)CMD", "cmd", True),
        ("f|re", "(?:ab)+c", "ababc", True),
        ("f|re", "(?P<x>ab)c", "abc", True),
        ("f|re", "(?<x>ab)c", "abc", True),  # Python's re refuses this form
        ("f|re", "a.*?c", "abbc", True),
        ("f|re", "\\x{41}", "A", True),
        ("f|re", "\\pL", "\u00e9", True),
        ("f|re", "\\Qa.b\\E", "a.b", True),
        ("f|re", "\\Qa.b\\E", "axb", False),
        ("f|re", "abc\\z", "abc", True),
        # where PCRE and RE2 differ on an accepted pattern, RE2 decides (documented)
        ("f|re", "abc$", "abc\n", False),
        ("f|re|m", "abc$", "abc\n", True),
    ],
)
def test_supported_patterns(
    write_rule: WriteRule, key: str, pattern: str, text: str, expected: bool
) -> None:
    """Each supported construct matches as the specification (then RE2) says, with and
    without the index."""
    assert both(write_rule, sel({key: pattern}), {"f": text}) is expected


# --------------------------------------------------------------------------- unsupported


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?=foo)bar", "lookahead"),
        ("foo(?!bar)", "negative lookahead"),
        ("(?<=foo)bar", "lookbehind"),
        ("(?<!foo)bar", "negative lookbehind"),
        ("(a)\\1", "backreference \\1"),
        ("(?P<x>a)(?P=x)", "backreference (?P=name)"),
        ("(?P<x>a)\\k<x>", "backreference \\k"),
        ("(?>ab)c", "atomic group"),
        ("a*+b", "possessive quantifier *+"),
        ("a++b", "possessive quantifier ++"),
        ("(a(?R)?b)", "recursion"),
        ("(a)(?(1)b|c)", "conditional"),
        ("(?|a|b)", "branch reset"),
        ("a(?#note)b", "comment"),
        ("(?x)a b", "inline flag (?x"),
        ("abc\\Z", "write \\z"),
        ("\\u0041", "write \\x{HHHH}"),
        ("\\G", "\\G"),
        ("a{,3}", "{0,3}"),
        ("a{1001}", "1000 at most"),
        ("*a", "nothing before it"),
        ("(ab", "missing )"),
    ],
)
def test_unsupported_patterns_are_refused_at_load(
    write_rule: WriteRule, pattern: str, reason: str
) -> None:
    """A pattern socd cannot match as written is refused when the rules load, with the file,
    the line of the value and a reason that names the construct."""
    path = write_rule(sel({"CommandLine|re": pattern}))
    rules, problems = RuleSet.load([path], strict=False)
    assert not rules.rules
    assert len(problems) == 1
    (problem,) = problems
    assert problem.file == str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert problem.line is not None and "CommandLine|re" in lines[problem.line - 1]
    assert reason in problem.message
    assert not re.search(r"b'(invalid|bad|missing|no |trailing|unexpected)", problem.message)


def test_refusal_reads_well_from_the_command_line(write_rule: WriteRule) -> None:
    """The line `rules validate` prints names the expression, the construct and the fix."""
    path = write_rule(sel({"CommandLine|re": "(?<!x)pass\\d+"}))
    _, (problem,) = RuleSet.load([path], strict=False)
    assert "(?<!x)pass\\d+" in problem.message
    assert "negative lookbehind (?<!...) is not supported" in problem.message
    assert "selection of its own" in problem.message


@pytest.mark.parametrize(("value", "reason"), [("(?!srv-0)srv-[0-9]+", "negative lookahead"),
                                               ("srv-[0-9]{,3}", "{0,3}")])
def test_placeholder_values_are_checked_too(
    write_rule: WriteRule, value: str, reason: str
) -> None:
    """|re|expand puts configured values into the expression: an unsupported one is refused
    at load like a pattern written in the rule, on the rule's line."""
    path = write_rule(sel({"host|re|expand": "^%Servers%$"}))
    rules, problems = RuleSet.load([path], strict=False, placeholders={"Servers": [value]})
    assert not rules.rules
    assert [p.file for p in problems] == [str(path)]
    assert problems[0].line is not None and reason in problems[0].message


@pytest.mark.parametrize(("value", "text", "expected"), [("srv-[[:digit:]]+", "srv-12", True),
                                                          ("srv-[[:digit:]]+", "srv-:]", False)])
def test_placeholder_values_are_re2_too(
    write_rule: WriteRule, value: str, text: str, expected: bool
) -> None:
    """A configured value means in the expression what RE2 reads in it."""
    path = write_rule(sel({"host|re|expand": "^%Servers%$"}))
    rules, problems = RuleSet.load([path], placeholders={"Servers": [value]})
    assert problems == []
    assert bool(rules.match({"host": text})) is expected


@pytest.mark.parametrize("pattern", ["a{,3}", "x{,10}y"])
def test_open_repetition_is_ambiguous(pattern: str) -> None:
    """``{,n}`` is text to RE2 but "at most n" to Python and new PCRE: refused."""
    with pytest.raises(RegexError, match="means different things"):
        check(pattern)


@pytest.mark.parametrize("pattern", ["\\{,3}", "[{,3}]", "[]{,3}]", "\\Q{,3}\\E", "a{0,3}"])
def test_open_repetition_only_where_it_is_one(pattern: str) -> None:
    """Escaped, in a class or quoted, ``{,3}`` is plain text and accepted."""
    check(pattern)


# --------------------------------------------------------------------------- matching


def test_flags_and_alternatives_make_one_source() -> None:
    """Sigma flags become RE2's inline flags; placeholder alternatives are grouped, so a flag
    or an anchor of one stays in it."""
    assert source_of(["a|b"], "si") == "(?is)a|b"
    assert source_of(["^a", "b$"]) == "(?:^a)|(?:b$)"
    assert searcher(source_of(["^a", "b$"]))("xxb")
    assert not searcher(source_of(["^a", "b$"]))("xax")


def test_lone_surrogate_in_a_pattern_is_refused() -> None:
    """A pattern cannot be UTF-8 with a lone surrogate (YAML refuses one already)."""
    with pytest.raises(RegexError, match="lone surrogate \\\\ud800"):
        check("a\ud800")


def test_search_takes_any_text() -> None:
    """Texts with characters of any plane, or a lone surrogate (JSON may carry one), are
    searched; a surrogate is one character."""
    assert searcher("a.c")("a\U0001f600c")
    assert searcher("a.c")("a\udc80c")
    assert not searcher("a..c")("a\udc80c")


SET_SOURCES = st.lists(st.sampled_from([
    "a+b", "^ab", "b$", "(?i)AB", "[[:digit:]]{2}", "\\bx\\b", "(?s)a.b", "^$", "s\\d*k",
    "(?i)sk", "x|y", "\u00e9",
]), min_size=1, max_size=6, unique=True)


@settings(max_examples=300, deadline=None)
@given(sources=SET_SOURCES, text=st.text(alphabet="abxyskSK\u017f\u212a1 \n\u00e9", max_size=8))
def test_set_search_finds_what_each_search_finds(sources: list[str], text: str) -> None:
    """One pass of an RE2 set finds exactly the expressions that match when each is
    searched on its own (the index runs literal-free expressions this way)."""
    expected = {i for i, source in enumerate(sources) if searcher(source)(text)}
    assert set(set_searcher(sources)(text)) == expected


class _FailingSet:
    """An RE2 set whose automaton ran out of memory: RE2 then reports no match at all."""

    def __init__(self, *args: Any) -> None:
        self._count = 0

    def Add(self, pattern: bytes) -> int:
        self._count += 1
        return self._count - 1

    def Compile(self) -> bool:
        return True

    def Match(self, data: bytes) -> list[int]:
        return []


def test_set_search_falls_back_when_the_set_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the set reports nothing (not even the pattern that always matches), each
    expression is searched on its own: a failing set never hides a match."""
    monkeypatch.setattr(regex._re2, "Set", _FailingSet)
    search_all = set_searcher(["a+b", "^x", "[[:digit:]]"])
    assert sorted(search_all("aab1")) == [0, 2]
    assert search_all("zzz") == []


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("pattern", "fold", "literals"),
    [
        ("\\\\windows\\\\system32\\\\[a-z]+\\.exe", False, ["\\windows\\system32\\"]),
        ("(foo|barbaz)x", False, ["barbaz", "foo"]),
        ("(?:abc){2,}", False, ["abc"]),
        ("ab?c", False, None),
        ("(?:abcd)?def", False, ["def"]),
        ("(?:abcd)?de", False, None),
        ("a|bcd", False, None),
        ("^.*$", False, None),
        # read as RE2 reads them
        ("[[:digit:]]abc", False, ["abc"]),  # Python's re would require "]abc"
        ("pass[[:digit:]]+", False, ["pass"]),
        ("\\Qa.b\\E+cd", False, ["a.b"]),
        ("\\x{41}BCD", False, ["abcd"]),
        ("[.]exe", False, [".exe"]),
        ("(?P<n>hello)|(?<m>world)", False, ["hello", "world"]),
        ("ab+cd", False, ["bcd"]),
        ("abcd?", False, ["abc"]),
        # case-insensitive: RE2 folds s with U+017F, which lowercases to itself: cut there
        ("(?i)PowerShell.*-enc", False, ["power"]),
        ("password", True, ["word"]),
        ("ab(?i)cdefs", False, ["cdef"]),
        # non-ASCII characters: lowercasing them may depend on their neighbours: cut there
        ("m\u1eadt kh\u1ea9u", False, ["t kh"]),
        ("\u03a3\u03a3\u03a3", False, None),
    ],
)
def test_required_literals(pattern: str, fold: bool, literals: list[str] | None) -> None:
    """The literals a regular expression cannot match without, as RE2 reads it."""
    assert required_literals(pattern, fold=fold) == literals


ATOMS = st.sampled_from([
    "a", "b", "s", "S", "k", "K", "\u00e9", "\u03c3", "\\.", ".", "\\d", "\\w", "\\s", "\\b",
    "[ab]", "[s]", "[.]", "[^a]", "[[:digit:]]", "[[:alpha:]]", "[a-c]", "[]a]", "\\x{73}",
    "\\QaS\\E", "^", "$", "{",
])
QUANTIFIERS = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "+?", "*?"])


ITEMS = st.builds(lambda a, q: a + q, ATOMS, QUANTIFIERS)
EXPRESSIONS = st.recursive(
    st.lists(ITEMS, min_size=1, max_size=4).map("".join),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map("|".join),
        st.lists(inner, min_size=2, max_size=3).map("".join),
        st.builds(lambda opening, body, q: opening + body + ")" + q,
                  st.sampled_from(["(", "(?:", "(?i:", "(?P<g>"]), inner, QUANTIFIERS),
    ),
    max_leaves=6,
)


TEXTS = st.text(alphabet="abskSK\u017f\u212a\u00e9\u00c9\u03c3\u03a3\u03c2.1 ]:{,2}",
                max_size=12)


@settings(max_examples=1000, deadline=None)
@given(pattern=EXPRESSIONS, fold=st.booleans(), text=TEXTS)
@example(pattern="s[[:digit:]]x", fold=False, text="s1x")
@example(pattern="sk", fold=True, text="\u017f\u212a")
@example(pattern="x\u03a3", fold=False, text="x\u03a3")
def test_literals_hold_in_every_lowercased_text_re2_matches(
    pattern: str, fold: bool, text: str
) -> None:
    """Whenever RE2 finds the expression in a text, the lowercased text holds one of the
    literals: the index may skip a rule on the literals and never miss a match."""
    source = source_of([pattern], "i" if fold else "")
    try:
        search = searcher(source)
    except RegexError:
        return  # a generated pattern RE2 refuses: nothing to index
    literals = required_literals(source, shortest=1)
    if literals is not None and search(text):
        assert any(literal in text.lower() for literal in literals), (literals, text)


def test_python_and_re2_read_these_differently() -> None:
    """The cases that made one dialect necessary: Python's re gives another answer."""
    with pytest.warns(FutureWarning):
        python = re.compile("pass[[:digit:]]+")
    assert python.search("pass:]") and not python.search("pass1234")
    assert searcher("pass[[:digit:]]+")("pass1234") and not searcher("pass[[:digit:]]+")("pass:]")
