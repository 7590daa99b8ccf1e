"""How socd sets pySigma up to parse its rules."""

from __future__ import annotations

import re
from typing import Any, cast

import re2  # type: ignore[import-untyped]
from sigma.modifiers import SigmaWideModifier, modifier_mapping, reverse_modifier_mapping
from sigma.policy import SigmaPolicy
from sigma.policy.regex_engine import RE2RegexEngine, RegexPattern

from socd.classify.regex import check, source_of

# The Sigma specification names utf16le as an alias of wide; pySigma's registry may lack it.
if "utf16le" not in modifier_mapping:
    modifier_mapping["utf16le"] = SigmaWideModifier
    reverse_modifier_mapping.setdefault(SigmaWideModifier.__name__, "wide")


class _QuietRE2(RE2RegexEngine):
    """pySigma's RE2 check of regular expressions, with socd's own reasons
    (:mod:`socd.classify.regex`: the engine socd matches with), and without RE2 logging
    errors to stderr: the error comes back as a problem anyway."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _QuietRE2:
        return self  # stateless; pySigma deep-copies detections (and the policy they carry)

    def compile(self, pattern: str, flags: int = 0) -> RegexPattern:
        flag_letters = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s"}
        source = source_of([pattern], (v for k, v in flag_letters.items() if flags & k))
        check(source)
        options = re2.Options()
        options.log_errors = False
        return cast(RegexPattern, re2.compile(source, options))


POLICY = SigmaPolicy(regex_engine=_QuietRE2())
"""How pySigma parses socd's rules: its default (RE2-checked regular expressions), quietly."""
