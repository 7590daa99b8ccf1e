"""Date-and-time texts that are not ISO-8601: the forms of ArcSight CEF's date fields and of
the syslog header, zone names and offsets, and Java date patterns (LEEF's ``devTimeFormat``).

Sources: "Implementing ArcSight CEF", appendix A (Date Formats) allows, for its date fields
(``rt``, ``start``, ``end``, ``deviceCustomDate1``/``2``, ``fileCreateTime`` …), epoch
milliseconds and ``MMM dd [yyyy] HH:mm:ss[.SSS] [zzz]``; the patterns are Java
``SimpleDateFormat`` ones, whose ``zzz`` reads a zone abbreviation (``PST``), a GMT offset
(``GMT-07:00``) or an RFC 822 offset (``-0700``). IBM's LEEF guide ("Custom event date
format") gives ``devTime`` with a ``devTimeFormat`` that is a ``SimpleDateFormat`` pattern
(suggested: ``MMM dd yyyy HH:mm:ss``, ``.SSS``, ``.SSS z``), or epoch seconds or
milliseconds without one.

A zone text is read by :class:`Zones`, in this order:

1. an offset written out: ``Z``, ``UTC``/``GMT``/``UT`` alone or followed by ``±h``,
   ``±hh``, ``±hh:mm`` or ``±hhmm``, or a bare ``±hh:mm``/``±hhmm``/``±hh``;
2. an abbreviation the input's own time zone uses (tz database names: ``CST`` for an input
   in ``Asia/Shanghai`` is +08:00, ``IST`` in ``Europe/Dublin`` is +01:00);
3. :data:`ZONE_ABBREVIATIONS`, which resolves the ambiguous ones (see there);
4. a tz database name (``Asia/Ho_Chi_Minh``, ``Europe/Berlin``).

Anything else is refused (``ValueError``), never guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

MONTHS: dict[str, int] = {}
for _number, _name in enumerate(("january", "february", "march", "april", "may", "june",
                                 "july", "august", "september", "october", "november",
                                 "december"), start=1):
    MONTHS[_name] = MONTHS[_name[:3]] = _number
MONTHS["sept"] = 9
_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
               "Nov", "Dec")

ZONE_ABBREVIATIONS: dict[str, int] = {
    # universal and European
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60,
    "BST": 60,     # ambiguous: British Summer Time; not Bangladesh (+06:00)
    "IST": 330,    # ambiguous: India; not Irish (+01:00) nor Israel (+02:00) Standard Time
    "CET": 60, "CEST": 120, "MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
    # the Americas
    "EST": -300, "EDT": -240,
    "CST": -360,   # ambiguous: US Central; not China (+08:00) nor Cuba (-05:00)
    "CDT": -300,
    "MST": -420,   # ambiguous: US Mountain; not Malaysia (+08:00)
    "MDT": -360,
    "PST": -480,   # ambiguous: US Pacific; not Philippine Standard Time (+08:00)
    "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600,
    "AST": -240,   # ambiguous: Atlantic; not Arabia (+03:00)
    "ADT": -180, "NST": -210, "NDT": -150, "BRT": -180, "ART": -180, "CLT": -240,
    "COT": -300, "PET": -300,
    # Asia, Oceania, Africa
    "ICT": 420, "WIB": 420, "WITA": 480, "WIT": 540, "PHT": 480, "SGT": 480, "MYT": 480,
    "HKT": 480, "JST": 540, "KST": 540, "PKT": 300, "NPT": 345,
    "GST": 240,    # ambiguous: Gulf; not South Georgia (-02:00)
    "AWST": 480, "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720,
    "NZDT": 780, "SAST": 120, "CAT": 120, "EAT": 180, "WAT": 60,
}
"""Zone abbreviation → UTC offset in minutes. An ambiguous one means the zone Java and the
tz database write it for in most device logs (as Java's own parser reads ``CST``, ``IST``
and ``PST``); an input whose ``timezone`` uses the abbreviation itself reads its own meaning
first (rule 2 of the module's docstring). Devices that can should write an offset."""

_OFFSET = re.compile(r"(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d\d))?", re.IGNORECASE).fullmatch
_TZ_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)+").fullmatch
_FIXED: dict[int, tzinfo] = {0: UTC}


def fixed_zone(minutes: int) -> tzinfo:
    """The tzinfo of a fixed UTC offset in minutes (shared instances)."""
    zone = _FIXED.get(minutes)
    if zone is None:
        zone = _FIXED[minutes] = timezone(timedelta(minutes=minutes))
    return zone


def _abbreviations_of(zone: tzinfo) -> dict[str, tzinfo]:
    """The alphabetic abbreviations a zone uses this year (winter and summer) → offset."""
    found: dict[str, tzinfo] = {}
    year = datetime.now(UTC).year
    for month in (1, 7):
        moment = datetime(year, month, 15, 12, tzinfo=UTC).astimezone(zone)
        name, offset = moment.tzname(), moment.utcoffset()
        if name and name.isalpha() and offset is not None:
            found.setdefault(name.upper(), fixed_zone(int(offset.total_seconds()) // 60))
    return found


class Zones:
    """Zone texts → tzinfo for one input; ``default`` is the zone of texts without one."""

    def __init__(self, default: tzinfo) -> None:
        self.default = default
        self._local = _abbreviations_of(default)
        self._cache: dict[str, tzinfo] = {}

    def __call__(self, text: str) -> tzinfo:
        """The zone ``text`` names (rules in the module's docstring); ValueError if none."""
        zone = self._cache.get(text)
        if zone is None:
            zone = self._read(text)
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[text] = zone
        return zone

    def _read(self, text: str) -> tzinfo:
        upper = text.upper()
        if upper in ("Z", "UTC", "GMT", "UT"):
            return UTC
        match = _OFFSET(text)
        if match is not None:
            hours, minutes = int(match[2]), int(match[3] or 0)
            if hours > 18 or minutes > 59:
                raise ValueError(f"{text!r} is not a UTC offset (at most ±18:00)")
            total = hours * 60 + minutes
            return fixed_zone(-total if match[1] == "-" else total)
        zone = self._local.get(upper)
        if zone is not None:
            return zone
        minutes_east = ZONE_ABBREVIATIONS.get(upper)
        if minutes_east is not None:
            return fixed_zone(minutes_east)
        if _TZ_NAME(text) is not None:
            try:
                return ZoneInfo(text)
            except (KeyError, ValueError, OSError):  # not found (a KeyError), not a zone
                pass
        raise ValueError(f"unknown time zone {text!r}")


# -- CEF and syslog dates ----------------------------------------------------------------------

_TEXT_DATE = re.compile(
    r"(?P<month>[A-Za-z]{3,9}) +(?P<day>\d{1,2})(?: +(?P<year>\d{4}))? +"
    r"(?P<hour>\d{1,2}):(?P<minute>\d\d):(?P<second>\d\d)(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?: +(?P<zone>\S+))?").fullmatch
"""``MMM dd [yyyy] HH:mm:ss[.SSS] [zone]``: CEF's forms, and the RFC 3164 ``MMM d HH:mm:ss``."""

_ISO_AND_ZONE = re.compile(
    r"(?P<local>\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?) +(?P<zone>\S+)").fullmatch
"""An ISO-8601 local time followed by a zone text (CEF ``dtz``, LEEF ``devTimeFormat``)."""


def parse_text_date(text: str, zones: Zones) -> datetime | None:
    """A CEF or syslog date, or an ISO local time with a zone text, as an aware datetime;
    None when ``text`` has neither form. ValueError when it has one but does not fit (an
    unknown month or zone, 25:00, 31 February)."""
    match = _TEXT_DATE(text)
    if match is not None:
        month = MONTHS.get(match["month"].lower())
        if month is None:
            raise ValueError(f"{match['month']!r} is not a month")
        zone = zones(match["zone"]) if match["zone"] else zones.default
        fraction = match["fraction"]
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        day, hour = int(match["day"]), int(match["hour"])
        minute, second = int(match["minute"]), int(match["second"])
        try:
            if match["year"] is None:
                return nearest_past_year(month, day, hour, minute, second, micro, zone)
            return datetime(int(match["year"]), month, day, hour, minute, second, micro,
                            tzinfo=zone)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date: {exc}") from None
    match = _ISO_AND_ZONE(text)
    if match is not None:
        return datetime.fromisoformat(match["local"]).replace(tzinfo=zones(match["zone"]))
    return None


def nearest_past_year(month: int, day: int, hour: int, minute: int, second: int, micro: int,
                      zone: tzinfo) -> datetime:
    """A date written without a year (syslog, CEF): the latest year that does not put it more
    than a day ahead of now, so a clock a little fast still gets this year."""
    now = datetime.now(zone)
    for year in (now.year, now.year - 1, now.year - 2, now.year - 3, now.year - 4):
        try:  # (-2 … -4: only 29 February goes back that far)
            candidate = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        except ValueError:
            if month == 2 and day == 29:
                continue
            raise
        if candidate <= now + timedelta(days=1):
            return candidate
    raise ValueError(f"{_MONTH_ABBR[month]} {day:02d} has no recent year")


def with_zone(text: str, zone: str) -> str:
    """``text`` with ``zone`` appended when it is a date without one (CEF's ``dtz``: the
    device's zone for its dates); any other text, epoch times included, unchanged."""
    match = _TEXT_DATE(text)
    if match is not None:
        return text if match["zone"] else f"{text} {zone}"
    if len(text) > 10 and text[4] == "-":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is None:
            return f"{text} {zone}"
    return text


# -- Java date patterns ------------------------------------------------------------------------

_ZONE_TEXT = r"(?:(?:GMT|UTC|UT)?[+-]\d{1,2}(?::?\d\d)?|[A-Za-z][A-Za-z0-9_/+-]*)"
_NUMERIC = {"y": 4, "M": 2, "L": 2, "d": 2, "H": 2, "k": 2, "K": 2, "h": 2, "m": 2, "s": 2,
            "S": 9, "D": 3, "u": 1}
"""Numeric pattern letters → most digits they read (when not next to another number)."""
_TEXT = {
    "G": r"(?:AD|BC)", "a": r"(?:[AaPp][Mm])", "E": r"[A-Za-z]{2,9}\.?",
    "z": _ZONE_TEXT, "Z": _ZONE_TEXT, "X": r"(?:Z|[+-]\d\d(?::?\d\d)?)",
}


class JavaPattern:
    """A ``java.text.SimpleDateFormat`` pattern, compiled for reading dates.

    Letters read: ``G y M L d H k K h a m s S E D u z Z X``; text in quotes (``'T'``, ``''``
    for a quote) and other characters are literal, a space matches one or more spaces. ``M``
    three or more times reads a month name, short or full; ``yy`` reads a year within 80
    years before and 20 after now, as Java does. ``S`` is read as a fraction of a second
    (as ``java.time`` does; ``SimpleDateFormat`` counts milliseconds, the same for
    ``SSS``). Zone names with spaces (``zzzz``) and week-based letters are not supported:
    the constructor raises ValueError naming the letter.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        tokens = _tokens(pattern)
        regex: list[str] = []
        self._fields: list[tuple[str, int]] = []
        for index, (kind, text) in enumerate(tokens):
            if kind == "literal":
                regex.append(r"\s+" if text.isspace() else re.escape(text))
                continue
            letter, count = text[0], len(text)
            group = f"(?P<f{len(self._fields)}>"
            if letter in _NUMERIC and not (letter in "ML" and count >= 3):
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                adjacent = following is not None and following[0] == "field" and (
                    following[1][0] in _NUMERIC)
                most = _NUMERIC[letter]
                width = f"{{{count}}}" if adjacent else f"{{1,{max(most, count)}}}"
                regex.append(f"{group}\\d{width})")
            elif letter in "ML":
                regex.append(f"{group}[A-Za-z]{{3,9}}\\.?)")
            elif letter in _TEXT:
                regex.append(f"{group}{_TEXT[letter]})")
            else:
                raise ValueError(f"pattern letter {letter!r} is not supported")
            self._fields.append((letter, count))
        letters = {letter for letter, _ in self._fields}
        if not ({"M", "L", "d"} & letters or "D" in letters):
            raise ValueError("the pattern has no date (month and day, or day of year)")
        self.has_year = "y" in letters
        self._match = re.compile("".join(regex), re.IGNORECASE).fullmatch

    def reformat(self, text: str) -> str:
        """``text`` read with the pattern, written as socd's timestamp converter reads it
        without knowing the pattern: ``yyyy-MM-ddTHH:mm:ss.ffffff [zone]``, or, without a
        year, ``MMM dd HH:mm:ss.ffffff [zone]``. ValueError when it does not match."""
        match = self._match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} does not match {self.pattern!r}")
        year = None
        month = day = 1
        day_of_year = None
        hour = minute = second = micro = 0
        pm = None
        zone = ""
        for index, (letter, count) in enumerate(self._fields):
            value = match[f"f{index}"]
            if letter == "y":
                year = int(value)
                if count == 2 and len(value) == 2:
                    year = _two_digit_year(year)
            elif letter in "ML":
                month = int(value) if value.isdigit() else _month(value)
            elif letter == "d":
                day = int(value)
            elif letter == "D":
                day_of_year = int(value)
            elif letter in "Hk":
                hour = int(value) % 24 if letter == "k" else int(value)
            elif letter in "Kh":
                hour = int(value) % 12
            elif letter == "a":
                pm = value.upper() == "PM"
            elif letter == "m":
                minute = int(value)
            elif letter == "s":
                second = int(value)
            elif letter == "S":
                micro = int(value[:6].ljust(6, "0"))
            elif letter in "zZX":
                zone = value
            elif letter == "G" and value.upper() == "BC":
                raise ValueError(f"{text!r} is before the common era")
        if pm is not None and pm and hour < 12:
            hour += 12
        suffix = f" {zone}" if zone else ""
        if year is None:
            if day_of_year is not None:
                raise ValueError(f"{self.pattern!r} gives a day of the year but no year")
            return (f"{_MONTH_ABBR[month] if 1 <= month <= 12 else month} {day:02d} "
                    f"{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}{suffix}")
        if day_of_year is not None:
            date = datetime(year, 1, 1) + timedelta(days=day_of_year - 1)
            if date.year != year:
                raise ValueError(f"day {day_of_year} is not in {year}")
            month, day = date.month, date.day
        moment = datetime(year, month, day, hour, minute, second, micro)  # range check
        return f"{moment.isoformat(timespec='microseconds')}{suffix}"


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """A pattern as ("field", "yyyy") and ("literal", text) tokens."""
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            end = pattern.find("'", index + 1)
            if end == index + 1:  # '' is a quote
                tokens.append(("literal", "'"))
                index += 2
                continue
            if end < 0:
                raise ValueError("a quote in the pattern is not closed")
            tokens.append(("literal", pattern[index + 1:end].replace("''", "'")))
            index = end + 1
        elif char.isascii() and char.isalpha():
            end = index
            while end < len(pattern) and pattern[end] == char:
                end += 1
            tokens.append(("field", pattern[index:end]))
            index = end
        else:
            end = index
            while end < len(pattern) and pattern[end] != "'" and not (
                    pattern[end].isascii() and pattern[end].isalpha()):
                end += 1
            text = pattern[index:end]
            # runs of spaces and other characters apart, so that spaces match loosely
            tokens.extend(("literal", part) for part in re.split(r"(\s+)", text) if part)
            index = end
    return tokens


def _month(name: str) -> int:
    month = MONTHS.get(name.rstrip(".").lower())
    if month is None:
        raise ValueError(f"{name!r} is not a month")
    return month


def _two_digit_year(value: int) -> int:
    """Java's rule: the year within 80 years before and 20 years after now."""
    now = datetime.now(UTC).year
    year = now - now % 100 + value
    if year > now + 20:
        year -= 100
    elif year <= now - 80:
        year += 100
    return year


_PATTERNS: dict[str, JavaPattern | ValueError] = {}


def java_pattern(pattern: str) -> JavaPattern:
    """The compiled pattern, cached (senders repeat theirs); ValueError as the constructor."""
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        try:
            compiled = JavaPattern(pattern)
        except ValueError as exc:
            compiled = exc
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        _PATTERNS[pattern] = compiled
    if isinstance(compiled, ValueError):
        raise ValueError(str(compiled))
    return compiled

