"""Timestamps that are not ISO-8601: every date form of the CEF guide, zone names and offsets
with the table that resolves ambiguous abbreviations, CEF's dtz, and LEEF's devTime with its
devTimeFormat (a Java date pattern)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.normalize import build_normalizer
from socd.normalize.convert import format_utc, timestamp_converter
from socd.normalize.timeformats import ZONE_ABBREVIATIONS, JavaPattern, Zones, java_pattern

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def cef(extension: str, zone: str = "Asia/Ho_Chi_Minh") -> dict[str, Any]:
    norm = build_normalizer("cef", sensor="s", timezone=zone, keep_original=False)
    return norm.normalize(f"CEF:0|ExampleCorp|WebGW|3.2|200|Access allowed|2|{extension}"
                          .encode())


def leef(attributes: str, zone: str = "Asia/Ho_Chi_Minh") -> dict[str, Any]:
    norm = build_normalizer("leef", sensor="s", timezone=zone, keep_original=False)
    return norm.normalize(f"LEEF:1.0|ExampleSec|Sensor|2.1|E7|{attributes}".encode())


# -- the examples ---------------------------------------------------------------------

def test_cef_rt_with_gmt_offset() -> None:
    """rt with milliseconds and GMT-07:00 is 21:50:39.123 UTC, not left out."""
    doc = cef("rt=Sep 07 2018 14:50:39.123 GMT-07:00 src=198.51.100.7 dst=192.0.2.20")
    assert doc["@timestamp"] == "2018-09-07T21:50:39.123Z"
    assert doc["source"]["ip"] == "198.51.100.7"
    assert "socd" not in doc


def test_cef_rt_in_utc() -> None:
    """A zone abbreviation after the time: UTC."""
    assert cef("rt=Sep 07 2018 14:50:39 UTC")["@timestamp"] == "2018-09-07T14:50:39.000Z"


# -- every form of the CEF guide (appendix A) --------------------------------------------------

@pytest.mark.parametrize(("rt", "utc"), [
    ("1536357039123", "2018-09-07T21:50:39.123Z"),                  # epoch milliseconds
    ("Sep 07 2018 14:50:39.123 PDT", "2018-09-07T21:50:39.123Z"),  # MMM dd yyyy HH:mm:ss.SSS zzz
    ("Sep 07 2018 14:50:39.123", "2018-09-07T07:50:39.123Z"),      # MMM dd yyyy HH:mm:ss.SSS
    ("Sep 07 2018 14:50:39 PDT", "2018-09-07T21:50:39.000Z"),      # MMM dd yyyy HH:mm:ss zzz
    ("Sep 07 2018 14:50:39", "2018-09-07T07:50:39.000Z"),          # MMM dd yyyy HH:mm:ss
    ("Sep 07 2018 14:50:39 GMT+07:00", "2018-09-07T07:50:39.000Z"),
    ("Sep 07 2018 14:50:39 GMT+7", "2018-09-07T07:50:39.000Z"),
    ("Sep 07 2018 14:50:39 UTC+0530", "2018-09-07T09:20:39.000Z"),
    ("Sep 07 2018 14:50:39 -0700", "2018-09-07T21:50:39.000Z"),
    ("Sep 07 2018 14:50:39 Z", "2018-09-07T14:50:39.000Z"),
    ("Sep 07 2018 14:50:39 GMT", "2018-09-07T14:50:39.000Z"),
    ("Sep 07 2018 14:50:39 Europe/Berlin", "2018-09-07T12:50:39.000Z"),
    ("Sep 07 2018 14:50:39 ICT", "2018-09-07T07:50:39.000Z"),
    ("sep 7 2018 14:50:39.5 utc", "2018-09-07T14:50:39.500Z"),
    ("September 07 2018 14:50:39,123456 CEST", "2018-09-07T12:50:39.123Z"),
])
def test_cef_date_forms(rt: str, utc: str) -> None:
    """Each form, with the zones zzz reads (abbreviation, GMT offset, RFC 822 offset), a
    zone name, or none (the input's timezone, UTC+7)."""
    assert cef(f"rt={rt}")["@timestamp"] == utc


@pytest.mark.parametrize("form", ["MMM dd HH:mm:ss.SSS zzz", "MMM dd HH:mm:ss.SSS",
                                  "MMM dd HH:mm:ss zzz", "MMM dd HH:mm:ss"])
def test_cef_date_forms_without_a_year(form: str) -> None:
    """Without a year: the latest year that does not put the date more than a day ahead."""
    moment = datetime.now(VIETNAM).replace(microsecond=250_000) - timedelta(days=3)
    text = moment.strftime("%b %d %H:%M:%S") + (".250" if ".SSS" in form else "") + (
        " ICT" if "zzz" in form else "")
    expected = format_utc(moment if ".SSS" in form else moment.replace(microsecond=0))
    assert cef(f"rt={text}")["@timestamp"] == expected


def test_cef_date_fields_and_dtz() -> None:
    """start and end are read like rt; dtz is the zone of the dates written without one
    and is kept in event.timezone; epoch and zoned dates keep their own."""
    doc = cef("rt=Sep 07 2018 14:50:39 start=1536324639000 end=Sep 07 2018 14:50:39 GMT "
              "dtz=Europe/Berlin")
    assert doc["@timestamp"] == "2018-09-07T12:50:39.000Z"
    assert doc["event"]["start"] == "2018-09-07T12:50:39.000Z"
    assert doc["event"]["end"] == "2018-09-07T14:50:39.000Z"
    assert doc["event"]["timezone"] == "Europe/Berlin"
    assert cef("rt=Sep 07 2018 14:50:39 dtz=GMT-05:00")["@timestamp"] == (
        "2018-09-07T19:50:39.000Z")


@pytest.mark.parametrize(("rt", "why"), [
    ("Sep 07 2018 14:50:39 XYZ", "unknown time zone 'XYZ'"),
    ("Sep 07 2018 14:50:39 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("Sep 07 2018 14:50:39 GMT+25:00", "not a UTC offset"),
    ("Foo 07 2018 14:50:39", "'Foo' is not a month"),
    ("Feb 30 2018 14:50:39", "day is out of range"),
    ("Sep 07 2018 25:50:39", "hour must be in 0..23"),
    ("yesterday", "is not a timestamp"),
])
def test_cef_dates_that_do_not_fit_are_named(rt: str, why: str) -> None:
    """An unreadable date is never guessed: @timestamp is left out and the warning says why
    (a device zone that cannot be read, too)."""
    doc = cef(f"rt={rt}")
    assert "@timestamp" not in doc
    assert why in doc["socd"]["warnings"][0]
    doc = cef("rt=Sep 07 2018 14:50:39 dtz=Nowhere/Town")
    assert "unknown time zone 'Nowhere/Town'" in doc["socd"]["warnings"][0]


# -- zones -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("zone", "text", "hours"), [
    # the table: the ambiguous ones as documented
    ("Asia/Ho_Chi_Minh", "CST", -6), ("Asia/Ho_Chi_Minh", "IST", 5.5),
    ("Asia/Ho_Chi_Minh", "BST", 1), ("Asia/Ho_Chi_Minh", "PST", -8),
    ("Asia/Ho_Chi_Minh", "AST", -4), ("Asia/Ho_Chi_Minh", "GST", 4),
    ("Asia/Ho_Chi_Minh", "MST", -7),
    # the input's own zone first: its abbreviations mean its offsets
    ("Asia/Shanghai", "CST", 8), ("Europe/Dublin", "IST", 1), ("Asia/Jerusalem", "IST", 2),
    ("Asia/Manila", "PST", 8), ("America/Chicago", "CDT", -5),
    # offsets written out are never looked up
    ("Asia/Shanghai", "GMT-06:00", -6), ("Asia/Shanghai", "+0530", 5.5),
    ("Asia/Shanghai", "utc", 0), ("Asia/Shanghai", "UTC-3", -3),
])
def test_zone_resolution(zone: str, text: str, hours: float) -> None:
    """Offsets first, then the input zone's own abbreviations, then the table."""
    found = Zones(ZoneInfo(zone))(text)
    assert found.utcoffset(datetime(2025, 7, 15)) == timedelta(hours=hours)


def test_zone_table_is_whole_and_sane() -> None:
    """Every abbreviation is upper case, within ±14 h, on a quarter hour."""
    for name, minutes in ZONE_ABBREVIATIONS.items():
        assert name == name.upper() and name.isalpha()
        assert -14 * 60 <= minutes <= 14 * 60 and minutes % 15 == 0


_OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda quarters: quarters * 15)


def _zone_text(minutes: int, style: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return [f"GMT{sign}{hours:02d}:{rest:02d}", f"{sign}{hours:02d}{rest:02d}",
            f"UTC{sign}{hours}:{rest:02d}", f"{sign}{hours:02d}:{rest:02d}"][style]


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1)),
       minutes=_OFFSETS, style=st.integers(0, 3), millis=st.booleans())
def test_cef_forms_with_any_offset_are_the_same_instant(moment: datetime, minutes: int,
                                                       style: int, millis: bool) -> None:
    """For any instant and any offset, the CEF text of its local time with the offset reads
    back as that instant (to the millisecond, or the second without .SSS)."""
    instant = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000
                             if millis else 0)
    local = instant.astimezone(timezone(timedelta(minutes=minutes)))
    text = local.strftime("%b %d %Y %H:%M:%S") + (
        f".{local.microsecond // 1000:03d}" if millis else "") + " " + _zone_text(minutes, style)
    assert timestamp_converter(VIETNAM)(text) == format_utc(instant)


# -- LEEF devTime and devTimeFormat -----------------------------------------------------------

@pytest.mark.parametrize(("attributes", "utc"), [
    # the LEEF guide's suggested patterns
    ("devTime=Jun 06 2015 16:07:36\tdevTimeFormat=MMM dd yyyy HH:mm:ss",
     "2015-06-06T09:07:36.000Z"),
    ("devTime=Jun 06 2015 16:07:36.300\tdevTimeFormat=MMM dd yyyy HH:mm:ss.SSS",
     "2015-06-06T09:07:36.300Z"),
    ("devTime=Jun 06 2015 02:07:36.300 GMT\tdevTimeFormat=MMM dd yyyy HH:mm:ss.SSS z",
     "2015-06-06T02:07:36.300Z"),
    # other Java patterns devices send
    ("devTime=06/06/2015 16:07:36\tdevTimeFormat=dd/MM/yyyy HH:mm:ss",
     "2015-06-06T09:07:36.000Z"),
    ("devTime=2015-06-06T16:07:36.300+0200\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
     "2015-06-06T14:07:36.300Z"),
    ("devTime=2015-06-06T16:07:36-04:00\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ssXXX",
     "2015-06-06T20:07:36.000Z"),
    ("devTime=20150606160736\tdevTimeFormat=yyyyMMddHHmmss", "2015-06-06T09:07:36.000Z"),
    ("devTime=Sat, 6 Jun 2015 04:07:36 PM PDT\tdevTimeFormat=EEE, d MMM yyyy hh:mm:ss a z",
     "2015-06-06T23:07:36.000Z"),
    ("devTime=15.157 16h07\tdevTimeFormat=yy.DDD HH'h'mm", "2015-06-06T09:07:00.000Z"),
    # epoch needs no pattern, with or without one (LEEF guide: 10 or 13 digits)
    ("devTime=1433606856", "2015-06-06T16:07:36.000Z"),
    ("devTime=1433606856300\tdevTimeFormat=MMM dd yyyy HH:mm:ss", "2015-06-06T16:07:36.300Z"),
    # no devTimeFormat: the CEF-like forms and ISO are read as they are
    ("devTime=Jun 06 2015 16:07:36 UTC", "2015-06-06T16:07:36.000Z"),
    ("devTime=2015-06-06T16:07:36Z", "2015-06-06T16:07:36.000Z"),
])
def test_leef_dev_time_with_its_format(attributes: str, utc: str) -> None:
    """devTime read with its devTimeFormat; without a zone, in the input's (UTC+7)."""
    assert leef(attributes)["@timestamp"] == utc


def test_leef_dev_time_zone_follows_the_input_zone() -> None:
    """A zone abbreviation from a devTimeFormat's z is resolved as any other: CST in an
    input in Asia/Shanghai is +08:00."""
    doc = leef("devTime=Jun 06 2015 16:07:36 CST\tdevTimeFormat=MMM dd yyyy HH:mm:ss z",
               zone="Asia/Shanghai")
    assert doc["@timestamp"] == "2015-06-06T08:07:36.000Z"


def test_leef_dev_time_that_does_not_fit_is_named() -> None:
    """A devTime that matches neither its pattern nor a known form: @timestamp left out and
    the warning shows the value."""
    doc = leef("devTime=6th of June\tdevTimeFormat=dd/MM/yyyy")
    assert "@timestamp" not in doc
    assert "'6th of June'" in doc["socd"]["warnings"][0]


@pytest.mark.parametrize(("pattern", "why"), [
    ("ww yyyy", "pattern letter 'w'"), ("HH:mm", "no date"), ("'open", "not closed"),
    ("DDD HH:mm", None)])
def test_java_patterns_refused(pattern: str, why: str | None) -> None:
    """Letters socd does not read, a pattern without a date, an open quote: ValueError (a
    day of the year needs a year when reading)."""
    if why is None:
        with pytest.raises(ValueError, match="no year"):
            java_pattern(pattern).reformat("157 16:07")
        return
    with pytest.raises(ValueError, match=why):
        JavaPattern(pattern)
    with pytest.raises(ValueError, match=why):
        java_pattern(pattern)  # cached refusals stay refusals


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
       pattern=st.sampled_from([
           ("MMM dd yyyy HH:mm:ss.SSS", "%b %d %Y %H:%M:%S.{ms}"),
           ("yyyy-MM-dd'T'HH:mm:ss.SSS", "%Y-%m-%dT%H:%M:%S.{ms}"),
           ("dd/MM/yyyy hh:mm:ss.SSS a", "%d/%m/%Y %I:%M:%S.{ms} %p"),
           ("yyyyMMddHHmmssSSS", "%Y%m%d%H%M%S{ms}"),
           ("EEEE, MMMM d, yyyy HH:mm:ss.SSS", "%A, %B %d, %Y %H:%M:%S.{ms}")]))
def test_java_patterns_read_what_they_write(moment: datetime,
                                            pattern: tuple[str, str]) -> None:
    """Any local time written with a pattern reads back as that time in the input's zone."""
    java, strftime = pattern
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = moment.strftime(strftime).replace("{ms}", f"{moment.microsecond // 1000:03d}")
    expected = format_utc(moment.replace(tzinfo=VIETNAM))
    assert timestamp_converter(VIETNAM)(java_pattern(java).reformat(text)) == expected


def test_zone_table_documented(repo_root: Path) -> None:
    """connectors/README.md's table of abbreviations is the one in the code."""
    text = (repo_root / "connectors" / "README.md").read_text(encoding="utf-8")
    table = text.split("| abbreviations | UTC offset |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, int] = {}
    for row in table.splitlines():
        names, offset = (cell.strip() for cell in row.strip("|").split("|"))
        sign = -1 if offset[0] in "−-" else 1
        hours, minutes = offset[1:].split(":")
        for name in names.replace("`", "").split():
            documented[name] = sign * (int(hours) * 60 + int(minutes))
    assert documented == ZONE_ABBREVIATIONS
