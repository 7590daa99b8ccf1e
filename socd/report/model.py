"""The report's data model: plain figures, no Elasticsearch and no wording.

What counts (the rules :mod:`socd.report.query` asks Elasticsearch to apply):

- a **threat** is a threat document of the period, unless an operator closed it as a false
  positive (``socd.status: closed`` and ``socd.status_reason: false_positive``): that is a
  false alarm, counted apart (:attr:`Report.false_positives`) and nowhere else;
- a threat is **handled** (*đã xử lý*) when the sensor blocked it (``event.type`` holds
  ``denied``) or an operator closed it (``socd.status: closed``, any other reason:
  ``true_positive``, ``benign``, ``duplicate``). An ``acknowledged`` threat is being handled,
  not handled: it stays *not yet handled*, as in Kibana's saved search "Threats not yet
  handled" and ``socd alerts list``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from socd.report.period import Period

LAYERS = ("1", "2", "3", "4")
"""The layers of the 4-layer model (Directive 14/CT-TTg), as the json keys name them."""


@dataclass(frozen=True)
class Counts:
    """Threats, of them the critical and high-risk ones (socd.class), and of them the
    handled ones (blocked by the sensor, or closed by an operator)."""

    threats: int = 0
    critical: int = 0
    high_risk: int = 0
    handled: int = 0

    @property
    def not_handled(self) -> int:
        """Threats not yet handled: open or acknowledged, and not blocked."""
        return self.threats - self.handled


@dataclass(frozen=True)
class Ranked:
    """One entry of a top list: a field's value and its number of threats."""

    key: str
    threats: int


@dataclass(frozen=True)
class Week:
    """The counts of one span of :meth:`Period.weeks <socd.report.period.Period.weeks>`:
    threats by class only (``handled`` is not counted by week: 0)."""

    period: Period
    counts: Counts


@dataclass(frozen=True)
class Report:
    """The figures of one period and of the previous period of the same length.

    ``by_layer`` has every key of :data:`LAYERS`; the top lists are ordered by threats,
    most first, at most ``top`` long (those with the same count by key).
    ``false_positives`` and ``previous_false_positives`` are the documents of each period
    closed as false positives: left out of every other figure."""

    period: Period
    timezone: str
    counts: Counts
    by_layer: dict[str, Counts]
    previous_period: Period
    previous: Counts
    categories: list[Ranked] = field(default_factory=list)
    signatures: list[Ranked] = field(default_factory=list)
    sensors: list[Ranked] = field(default_factory=list)
    sources: list[Ranked] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    false_positives: int = 0
    previous_false_positives: int = 0


def change(now: int, before: int) -> float | None:
    """The change from ``before`` to ``now`` in percent (``+25.0``, ``-50.0``); None when
    ``before`` is 0 (no figure to compare with)."""
    if before == 0:
        return None
    return (now - before) * 100.0 / before
