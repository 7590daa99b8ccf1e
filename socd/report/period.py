"""Report periods: calendar days in ``report.timezone``, both dates inclusive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """The days ``first`` to ``last`` (both included) as calendar days of a time zone."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"--to {self.last.isoformat()} is before --from "
                             f"{self.first.isoformat()}: give a --to on or after --from")

    @property
    def days(self) -> int:
        """The number of calendar days, 1 or more."""
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same number of days that ends the day before ``first``."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)

    def weeks(self) -> list[Period]:
        """The period cut into 7-day spans from ``first``; the last may be shorter."""
        spans = []
        first = self.first
        while first <= self.last:
            spans.append(Period(first, min(first + timedelta(days=6), self.last)))
            first += timedelta(days=7)
        return spans

    def utc_bounds(self, zone: str) -> tuple[datetime, datetime]:
        """``(start, end)`` in UTC: local midnight at the start of ``first`` and local
        midnight at the end of ``last`` (the start of the next day), so that a threat at
        ``t`` is in the period when ``start <= t < end``. A midnight that a daylight-saving
        change skips or repeats resolves as :mod:`zoneinfo` does (``fold=0``)."""
        tz = ZoneInfo(zone)
        start = datetime.combine(self.first, time(0), tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def parse_day(value: str) -> date:
    """``YYYY-MM-DD`` → a date. Raises ValueError naming the expected form."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date: give YYYY-MM-DD, "
                         "for example 2020-06-30") from None
