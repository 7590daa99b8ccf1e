"""The compiled string tests agree with a plain reference implementation."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SpecialChars

from socd.classify.patterns import TextSet

STAR, ONE = SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE
PART = st.one_of(st.sampled_from([STAR, ONE]), st.text(alphabet="abAB.\\", min_size=1, max_size=3))
PATTERN = st.lists(PART, max_size=5)
TEXT = st.text(alphabet="abAB.\\x", max_size=8)


def _reference(parts: list[str | SpecialChars], text: str, fold: bool) -> bool:
    source = "".join(
        re.escape(p.lower() if fold else p) if isinstance(p, str) else ".*" if p is STAR else "."
        for p in parts
    )
    return re.fullmatch(source, text.lower() if fold else text, re.DOTALL) is not None


@settings(max_examples=500, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=4), text=TEXT, fold=st.booleans())
def test_text_set_matches_like_a_wildcard_regex(
    patterns: list[list[str | SpecialChars]], text: str, fold: bool
) -> None:
    """Any OR-set of wildcard patterns matches exactly the texts a full regex match accepts."""
    text_set = TextSet()
    for parts in patterns:
        text_set.add(list(parts), fold=fold)
    test = text_set.build()
    assert test is not None
    expected = any(_reference(parts, text, fold) for parts in patterns)
    assert test(text.lower() if fold else text) is expected


NEEDLE = st.text(alphabet="ab-=xy\u00e9", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(needles=st.lists(NEEDLE, min_size=24, max_size=150, unique=True),
       prefix=st.sampled_from(["", "md5=", "q"]),
       text=st.text(alphabet="ab-=xy\u00e9m5dq", max_size=40))
def test_long_substring_lists(needles: list[str], prefix: str, text: str) -> None:
    """Long substring lists (grouped by length and common prefix) match like ``any(n in s)``."""
    text_set = TextSet()
    for needle in needles:
        text_set.add([STAR, prefix + needle, STAR], fold=False)
    test = text_set.build()
    assert test is not None
    assert test(text) is any(prefix + n in text for n in needles)


def test_atoms_record_the_literal_facts() -> None:
    """Each pattern leaves the atom the index files it under."""
    text_set = TextSet()
    cases: list[list[str | SpecialChars]] = [
        ["exact"], ["pre", STAR], [STAR, "suf"], [STAR, "mid", STAR], ["head", STAR, "t"],
        ["a", ONE, "longest", STAR], [STAR],
    ]
    for parts in cases:
        text_set.add(parts, fold=True)
    assert text_set.atoms == [
        ("eq", "exact"), ("prefix", "pre"), ("suffix", "suf"), ("contains", "mid"),
        ("prefix", "head"), ("contains", "longest"), ("present", ""),
    ]
