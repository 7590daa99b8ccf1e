"""The report's data model: plain figures, no Elasticsearch and no wording.

Two words (defined in every format of the report, both languages):

- a **threat** (*mối nguy hại*) is one event classified high-risk or critical;
- an **alert** (*cảnh báo*) is one document in ``<prefix>-alerts*``. A suppressed alert (one
  per rule, input, key and time window) stands for ``socd.suppression.docs_count`` threats;
  a document without ``socd.suppression`` (a rule not suppressed, and every document indexed
  before suppression existed) stands for exactly one. Every figure below counts threats,
  the sum of ``docs_count`` with a missing one counted as 1; :attr:`Counts.alerts` says how
  many documents they made.

What counts (the rules :mod:`socd.report.query` asks Elasticsearch to apply). An operator's
handling (``socd.status``) is set on the alert, so it applies to every threat it stands for:

- a threat counts unless an operator closed its alert as a false positive
  (``socd.status: closed`` and ``socd.status_reason: false_positive``): that is a false
  alarm, counted apart (:attr:`Report.false_positives`) and nowhere else;
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
    handled ones (blocked by the sensor, or closed by an operator); ``suppressed``: the
    threats that made no alert of their own (counted in the alert of an earlier threat of
    the same key and window), so that :attr:`alerts` = ``threats - suppressed``. 0 when
    nothing was suppressed: then every threat is one alert."""

    threats: int = 0
    critical: int = 0
    high_risk: int = 0
    handled: int = 0
    suppressed: int = 0

    @property
    def alerts(self) -> int:
        """The alert documents these threats made: ``threats - suppressed``."""
        return self.threats - self.suppressed

    @property
    def not_handled(self) -> int:
        """Threats not yet handled: open or acknowledged, and not blocked."""
        return self.threats - self.handled


@dataclass(frozen=True)
class Ranked:
    """One entry of a top list: a field's value and its number of threats (not of alert
    documents: an alert of ``docs_count`` 250 weighs 250)."""

    key: str
    threats: int


@dataclass(frozen=True)
class Week:
    """The counts of one span of :meth:`Period.weeks <socd.report.period.Period.weeks>`:
    threats by class and the alerts they made (``handled`` is not counted by week: 0)."""

    period: Period
    counts: Counts


@dataclass(frozen=True)
class Report:
    """The figures of one period and of the previous period of the same length.

    ``by_layer`` has every key of :data:`LAYERS`; the top lists are ordered by threats,
    most first, at most ``top`` long (those with the same count by key).
    ``false_positives`` and ``previous_false_positives`` are the threats of each period
    whose alert was closed as a false positive: left out of every other figure; the
    ``suppressed_`` ones are those of them that made no alert of their own (as in
    :class:`Counts`)."""

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
    suppressed_false_positives: int = 0
    previous_suppressed_false_positives: int = 0

    @property
    def false_positive_alerts(self) -> int:
        """The alert documents closed as false positives in this period."""
        return self.false_positives - self.suppressed_false_positives

    @property
    def previous_false_positive_alerts(self) -> int:
        """The alert documents closed as false positives in the previous period."""
        return self.previous_false_positives - self.previous_suppressed_false_positives


def change(now: int, before: int) -> float | None:
    """The change from ``before`` to ``now`` in percent (``+25.0``, ``-50.0``); None when
    ``before`` is 0 (no figure to compare with)."""
    if before == 0:
        return None
    return (now - before) * 100.0 / before
