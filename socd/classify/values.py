"""Sigma values (pySigma types, modifiers already applied) compiled into value tests.

A *value test* takes one scalar of an event (str, int, float or bool; never a list or None)
and says whether it matches. The values of one detection item are OR-linked, so they are
compiled together into a single test: all plain case-insensitive strings share one lowercasing
of the event value and are checked with a set lookup, ``str.startswith``/``endswith`` on tuples
and ``in``; only genuinely wildcarded patterns become one regular expression (see
:mod:`socd.classify.patterns`). Numbers, booleans, regular expressions, CIDR networks,
comparisons and timestamp parts get tests of their own.

Each compiled group also yields *atoms* (see :mod:`socd.classify.clauses`): literal facts at
least one of which holds whenever the test matches, used to skip rules that cannot match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

from socd.classify.clauses import Atom
from socd.classify.fields import number_of, text_of
from socd.classify.patterns import TextSet, TextTest, any_of
from socd.classify.regex import RegexError, check, searcher, source_of
from socd.classify.regex_literals import required_literals

Test = Callable[[Any], bool]
"""A test on one scalar event value."""

Placeholders = Mapping[str, Sequence[str]]
"""Values for ``|expand`` placeholders: ``%name%`` becomes any of the listed patterns."""


class CompileError(Exception):
    """A detection value socd cannot compile; the message says what to change."""


_MAPPED = 0xFFFF << 32
"""IPv4 addresses as IPv6 (RFC 4291 section 2.5.5.2, ``::ffff:a.b.c.d``): the one 128-bit
space in which |cidr compares addresses."""


@lru_cache(maxsize=8192)
def _parse_ip(text: str) -> int | None:
    """The address as a number of the IPv6 space, IPv4 mapped into it (None: not an address).

    An IPv4 address and its IPv4-mapped IPv6 form (``::ffff:172.16.5.9``) are one address,
    as in Elasticsearch's ``ip`` type, which stores both as the same 16 bytes.
    """
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    return _in_ipv6(address)


def _in_ipv6(address: IPv4Address | IPv6Address) -> int:
    return int(address) | _MAPPED if address.version == 4 else int(address)


def _cidr_test(network: IPv4Network | IPv6Network) -> Test:
    """|cidr: the value is an address inside the network. IPv4 and IPv4-mapped IPv6 are the
    same addresses (an IPv4 network holds ``::ffff:172.16.5.9``); no other IPv6 address is
    in an IPv4 network. Leading and trailing spaces are ignored; other text never matches."""
    low = _in_ipv6(network.network_address)
    high = _in_ipv6(network.broadcast_address)

    def cidr_check(item: Any) -> bool:
        if type(item) is not str:
            return False
        number = _parse_ip(item)
        return number is not None and low <= number <= high

    return cidr_check


@dataclass(frozen=True, slots=True)
class ValueGroup:
    """OR-linked values of one detection item, compiled."""

    test: Test | None
    """The test on one scalar (None: no value can match a present scalar)."""
    null: bool
    """Whether a missing field (or null, or an empty list) matches."""
    atoms: tuple[Atom, ...] | None
    """(kind, key) literal facts, one of which holds for every matching scalar; None if the
    group can match a missing field."""
    folded: TextTest | None = None
    """When the group holds only case-insensitive strings: the test on a lowercased string."""
    equals: frozenset[str] | None = None
    """When the group is nothing but case-insensitive equality: the lowercased texts it
    accepts (a scalar matches when its lowercased text is one of them)."""
    substrings: bool = False
    """Whether the group is nothing but case-insensitive substrings: a scalar matches exactly
    when its lowercased text contains the key of one of the ``contains`` atoms."""


def compile_values(
    values: Sequence[SigmaType], placeholders: Placeholders, *, keyword: bool = False
) -> ValueGroup:
    """Compile OR-linked Sigma values into one :class:`ValueGroup`.

    ``keyword`` compiles field-less values: a string matches when it occurs anywhere in a value.
    """
    folded = TextSet()
    cased = TextSet()
    cased_atoms = TextSet()
    numbers: set[int | float] = set()
    others: list[Test] = []
    atoms: list[Atom] = []
    null = False
    pending = list(values)
    while pending:
        value = pending.pop(0)
        if isinstance(value, SigmaExpansion):
            pending[0:0] = value.values
        elif isinstance(value, SigmaNull):
            null = True
        elif isinstance(value, SigmaString):
            for parts in _expand(value, placeholders, keyword):
                if isinstance(value, SigmaCasedString):
                    cased.add(parts, fold=False)
                    cased_atoms.add(parts, fold=True)
                else:
                    folded.add(parts, fold=True)
        elif isinstance(value, SigmaTimestampPart):
            others.append(_timestamp_test(value))
            atoms.append(("present", ""))
        elif isinstance(value, SigmaNumber):
            numbers.add(value.number)
            atoms.append(("num", value.number))
        elif isinstance(value, SigmaBool):
            others.append(_bool_test(value.boolean))
            atoms.append(("eq", "true" if value.boolean else "false"))
        else:
            others.append(_typed_test(value, placeholders))
            atoms.extend(_typed_atoms(value))
    atoms.extend(folded.atoms)
    atoms.extend(cased_atoms.atoms)
    folded_test = folded.build()
    cased_test = cased.build()
    test = _group_test(folded_test, cased_test, frozenset(numbers), others)
    equals: frozenset[str] | None = None
    substrings = False
    if numbers or others or cased_test is not None:
        folded_test = None
    elif not null and folded.only_equal():
        equals = frozenset(folded.equal)
    elif not null:
        substrings = folded.only_contains()
    if null:
        group_atoms: tuple[Atom, ...] | None = None
    elif any(kind == "present" for kind, _ in atoms):
        group_atoms = (("present", ""),)
    else:
        group_atoms = tuple(dict.fromkeys(atoms))
    return ValueGroup(test, null, group_atoms, folded_test, equals, substrings)


def _expand(
    value: SigmaString, placeholders: Placeholders, keyword: bool
) -> list[list[str | SpecialChars]]:
    """The wildcard patterns of a string: placeholders replaced, keywords made unanchored."""
    strings = [value]
    if value.contains_placeholder():
        strings = value.replace_placeholders(_placeholder_values(placeholders))
    out: list[list[str | SpecialChars]] = []
    for string in strings:
        parts: list[str | SpecialChars] = []
        for part in string.s:
            if isinstance(part, Placeholder):  # pragma: no cover - replaced above
                raise CompileError(f"placeholder %{part.name}% has no value")
            parts.append(part)
        if keyword:
            star = SpecialChars.WILDCARD_MULTI
            parts = [star, *parts, star]
        out.append(parts)
    return out


def _placeholder_values(placeholders: Placeholders) -> Callable[[Placeholder], Any]:
    def values(placeholder: Placeholder) -> Any:
        try:
            found = placeholders[placeholder.name]
        except KeyError:
            raise CompileError(
                f"placeholder %{placeholder.name}% has no values: define it in the rules "
                "placeholders, or remove the |expand modifier"
            ) from None
        for item in found:
            yield SigmaString(str(item))

    return values


def _group_test(
    folded: TextTest | None, cased: TextTest | None, numbers: frozenset[int | float],
    others: list[Test],
) -> Test | None:
    if folded is not None and cased is None and not numbers and not others:
        return _folded_test(folded)
    if numbers and folded is None and cased is None and not others:
        return _numbers_test(numbers)
    checks: list[Test] = []
    if folded is not None:
        checks.append(_folded_test(folded))
    if cased is not None:
        cased_test = cased

        def cased_check(value: Any) -> bool:
            text = text_of(value)
            return text is not None and cased_test(text)

        checks.append(cased_check)
    if numbers:
        checks.append(_numbers_test(numbers))
    checks.extend(others)
    return any_of(checks)  # type: ignore[no-any-return]


def _folded_test(folded: TextTest) -> Test:
    def folded_check(value: Any) -> bool:
        if type(value) is str:
            return folded(value.lower())
        text = text_of(value)
        return text is not None and folded(text.lower())

    return folded_check


def _numbers_test(numbers: frozenset[int | float]) -> Test:
    def numbers_check(value: Any) -> bool:
        if type(value) is int:
            return value in numbers
        number = number_of(value)
        return number is not None and number in numbers

    return numbers_check


def _bool_test(expected: bool) -> Test:
    word = "true" if expected else "false"

    def bool_check(value: Any) -> bool:
        if type(value) is bool:
            return value is expected
        return type(value) is str and value.lower() == word

    return bool_check


_COMPARE: Mapping[CompareOperators, Callable[[Any, Any], bool]] = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}

_REGEX_FLAGS: Mapping[SigmaRegularExpressionFlag, str] = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}
"""The Sigma ``re`` sub-modifiers as RE2's inline flags."""


def _typed_atoms(value: SigmaType) -> list[Atom]:
    """A regular expression's literals (or the expression itself: the index then runs it
    once per distinct value); for other typed values, the field's presence."""
    if isinstance(value, SigmaRegularExpression) and not value.regexp.contains_placeholder():
        source = source_of([str(value.regexp)], _flags(value))
        literals = required_literals(source)
        if literals:
            return [("contains", text) for text in literals]
        return [("re", source)]
    return [("present", "")]


def _flags(value: SigmaRegularExpression) -> str:
    """The expression's sub-modifiers as RE2's inline flag letters."""
    return "".join(sorted(_REGEX_FLAGS[flag] for flag in value.flags))


def _typed_test(value: SigmaType, placeholders: Placeholders) -> Test:
    """Tests for the typed values: regular expressions, CIDR networks and comparisons."""
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value, placeholders)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value.network)
    if isinstance(value, SigmaCompareExpression):
        compare = _COMPARE[value.op]
        limit = value.number.number

        def compare_check(item: Any) -> bool:
            if type(item) is int:
                return compare(item, limit)
            number = number_of(item)
            return number is not None and compare(number, limit)

        return compare_check
    raise CompileError(f"values of type {type(value).__name__} are not supported by socd")


def _regex_test(value: SigmaRegularExpression, placeholders: Placeholders) -> Test:
    """A test that the expression (RE2, see :mod:`socd.classify.regex`) matches somewhere in
    the value's text; placeholders give OR-linked expressions."""
    patterns = [str(value.regexp)]
    if value.regexp.contains_placeholder():
        patterns = [str(s) for s in value.regexp.replace_placeholders(
            _placeholder_values(placeholders))]
    source = source_of(patterns, _flags(value))
    try:
        if value.regexp.contains_placeholder():
            check(source)  # the placeholders' values were not validated with the rule
        search = searcher(source)
    except RegexError as error:
        raise CompileError(f"regular expression {patterns[0]!r} is invalid: {error}") from None
    needles = required_literals(source, shortest=1)
    if needles is None:

        def regex_check(item: Any) -> bool:
            text = text_of(item)
            return text is not None and search(text)

        return regex_check
    required = tuple(needles)

    def regex_prechecked(item: Any) -> bool:
        # a text whose lowercased form holds none of the literals the expression needs cannot
        # match (see socd.classify.regex_literals): checking that is cheaper than a search
        text = text_of(item)
        if text is None:
            return False
        lowered = text.lower()
        for needle in required:
            if needle in lowered:
                return search(text)
        return False

    return regex_prechecked


_TIME_PARTS: Mapping[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda t: t.minute,
    TimestampPart.HOUR: lambda t: t.hour,
    TimestampPart.DAY: lambda t: t.day,
    TimestampPart.WEEK: lambda t: t.isocalendar().week,
    TimestampPart.MONTH: lambda t: t.month,
    TimestampPart.YEAR: lambda t: t.year,
}


def _timestamp_test(value: SigmaTimestampPart) -> Test:
    part = _TIME_PARTS[value.timestamp_part]
    expected = value.number

    def timestamp_check(item: Any) -> bool:
        moment = _parse_time(item)
        return moment is not None and part(moment) == expected

    return timestamp_check


def _parse_time(item: Any) -> datetime | None:
    if type(item) is str:
        try:
            return datetime.fromisoformat(item.strip())
        except ValueError:
            return None
    if type(item) is int or type(item) is float:
        seconds = item / 1000 if abs(item) > 100_000_000_000 else item
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
