"""How far a sensor's clock may be from socd's: the ``max_clock_skew`` of an input.

A sensor whose clock is wrong — a real-time clock reset to 1970 or 2000, a wrong year, a
zone set wrong — would otherwise file its threats in far-off monthly indices and put them
on top of every dashboard sorted by time. :mod:`socd.pipeline` keeps a threat's
``@timestamp`` only when it lies in ``[now - past, now + future]``; otherwise the sensor's
value moves to ``socd.sensor_timestamp`` and ``@timestamp`` becomes the time the message
reached Kafka (or, when that is out of the window too, the time socd read it), with a line
in ``socd.warnings``.

The defaults: ``future`` 1 hour — a clock a few minutes fast passes, while a zone error of
whole hours (local time written as UTC) or a wrong date does not; ``past`` 30 days — longer
than Kafka's default retention (7 days) plus the days a sensor or relay may buffer while a
link is down, so a backlog read after an outage keeps its own times, while a reset clock
does not pass. Widen ``past`` for an input that replays old data on purpose.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_SKEW = timedelta(days=36_500)
"""The widest skew either way (dates stay within the years datetime can hold)."""


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``30d``, ``2w`` or a number of seconds → timedelta.

    Raises ValueError (with the forms it takes) for anything else or a negative value.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)) is not None:
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        raise ValueError(f"{value!r} is not a duration; write one such as 90s, 15m, 1h or 30d")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative; a skew is a length of time")
    if seconds > MAX_SKEW.total_seconds():
        raise ValueError(f"{value!r} is more than {show_duration(MAX_SKEW)} (about 100 years)")
    return timedelta(seconds=seconds)


def show_duration(length: timedelta) -> str:
    """``timedelta(hours=1)`` → ``1h``: the largest unit that divides it."""
    seconds = length.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class ClockSkew(BaseModel):
    """``inputs[].max_clock_skew``: how far ``@timestamp`` may be ahead of socd's clock
    (``future``) or behind it (``past``). See the module's docstring for the defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    future: Duration = timedelta(hours=1)
    past: Duration = timedelta(days=30)
