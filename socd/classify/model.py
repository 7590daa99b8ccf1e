"""The values that classification hands to the rest of socd: rule metadata and verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from socd.state.suppress import Suppression

ThreatClass = Literal["critical", "high-risk"]
"""The two classes socd counts as threats."""

LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
"""Sigma rule levels, least severe first."""

LEVEL_RANK: Mapping[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
"""Severity of each Sigma level: a higher number is more severe."""

_CLASS_OF_LEVEL: Mapping[str, ThreatClass] = {"critical": "critical", "high": "high-risk"}


def threat_class_of(level: str) -> ThreatClass | None:
    """The class a rule of ``level`` gives the events it matches (None: not a threat)."""
    return _CLASS_OF_LEVEL.get(level)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What socd knows about one loaded rule, apart from its compiled detection."""

    id: str
    title: str
    level: str
    """The rule's level as written: informational, low, medium, high or critical."""
    threat_class: ThreatClass | None
    layer: int | None
    """``socd.layer``: the 4-layer model layer (1..4) that overrides the input's."""
    share: bool | None
    """``socd.share``: whether matches are shared with the national centre."""
    source: str
    """The file the rule came from."""
    logsource: Mapping[str, str] = field(hash=False)
    """The logsource keys (product, category, service) the rule names, lowercased."""
    suppress: Suppression | Literal[False] | None = None
    """``socd.suppress``: one alert per key and window for the rule's threats; False: never
    suppressed (not even by the input's default); None: the input's default."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one event."""

    threat_class: ThreatClass
    rule: RuleInfo
    """The winner: the most severe matching rule; ties go to the first in load order."""
    rule_ids: tuple[str, ...]
    """Every matching rule id, the winner first, then by severity and load order."""
