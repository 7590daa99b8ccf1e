"""Value converters for connector mappings: sensor values in, ECS-typed values out.

Each converter takes the sensor's value and returns the ECS value or raises
:class:`ValueError` with a short reason. They are plain functions so that a compiled
mapping calls them directly on the hot path.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from socd.normalize.timeformats import Zones, parse_text_date

Converter = Callable[[Any], Any]
"""sensor value → ECS value; raises ValueError('why') when the value does not fit."""

# Epoch values above this are milliseconds (year 2286 in seconds; 1970-04-26 in ms).
_EPOCH_MS_THRESHOLD = 10_000_000_000


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value)


def to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if number.is_integer():
                    return int(number)
    raise ValueError(f"expected an integer, got {_show(value)}")


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {_show(value)}") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_show(value)}")
    return number


def to_port(value: Any) -> int:
    port = to_integer(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is outside 0..65535")
    return port


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no", "0"}:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean, got {_show(value)}")


def to_ip(value: Any) -> str:
    """A valid IPv4 or IPv6 address, written as Elasticsearch shows an ``ip`` field; anything
    else is refused.

    Elasticsearch stores an address in 16 bytes and shows an IPv4-mapped IPv6 address
    (``::ffff:172.16.5.9``) as the IPv4 address it is, and ignores an IPv6 scope
    (``fe80::1%eth0``); IPv6 is written in RFC 5952's compressed lower-case form. So are
    they here, so that rules (``cidr``), searches and the stored document agree.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address string, got {type(value).__name__}")
    if is_canonical_ipv4(value):
        return value
    text = value.strip()
    # ipaddress accepts IPv4 octets with leading zeros in no Python version we support, and
    # refuses 24.273.97.14: exactly what an `ip` field of Elasticsearch needs.
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{_show(value)} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        if address.scope_id is not None:
            return str(ipaddress.IPv6Address(address.packed))
    return str(address)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
is_canonical_ipv4: Callable[[str], object] = re.compile(
    rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}").fullmatch
"""Truthy for a dotted quad in canonical form (the common case, checked without ipaddress)."""


def to_string_list(value: Any) -> list[str]:
    if value.__class__ is list:
        plain = [item for item in value if item.__class__ is str and item]
        if len(plain) == len(value):  # the common case: non-empty strings only
            return plain
        return [to_string(item) for item in value if item is not None and item != ""]
    return [to_string(value)]


def to_ip_list(value: Any) -> list[str]:
    """One address or a list of them; any invalid one refuses the whole value."""
    if isinstance(value, list):
        return [to_ip(item) for item in value if item is not None and item != ""]
    return [to_ip(value)]


def timestamp_converter(default_zone: tzinfo) -> Converter:
    """A timestamp → UTC ISO string with milliseconds (``2020-06-15T01:12:44.000Z``).

    Reads ISO-8601 (offset with or without a colon, or none → ``default_zone``), epoch
    seconds or milliseconds (numbers or numeric strings), CEF's and syslog's ``MMM dd
    [yyyy] HH:mm:ss[.SSS] [zone]`` and an ISO local time followed by a zone text (see
    :mod:`~socd.normalize.timeformats` for the zones it knows). ValueError otherwise.
    """
    fromisoformat = datetime.fromisoformat
    zones = Zones(default_zone)

    def convert(value: Any) -> str:
        if value.__class__ is str and len(value) > 10 and value[4] == "-":
            try:  # the common case first: an ISO-8601 string with a date
                moment = fromisoformat(value)
            except ValueError:
                moment = parse_timestamp(value, zones)
            else:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=default_zone)
        else:
            moment = parse_timestamp(value, zones)
        return format_utc(moment)

    return convert


def parse_timestamp(value: Any, zones: Zones) -> datetime:
    """Any form :func:`timestamp_converter` reads → an aware datetime; ValueError if none."""
    if isinstance(value, bool):
        raise ValueError("expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("empty timestamp")
    if text[0].isdigit() and text.replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    try:
        moment: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        moment = parse_text_date(text, zones) if len(text) <= 64 else None
    if moment is None:
        raise ValueError(f"{_show(text)} is not a timestamp (ISO-8601, epoch, or "
                         "MMM dd [yyyy] HH:mm:ss[.SSS] [zone])")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zones.default)
    return moment


def _from_epoch(number: float) -> datetime:
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{number!r} is not an epoch time")
    if number >= _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{number!r} is out of range for a time") from None


_MINUTE_PREFIXES: dict[int, str] = {}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_utc(moment: datetime) -> str:
    """``2020-06-15T01:12:44.000Z``: UTC, milliseconds, as Elasticsearch and Kibana show it.

    Events of a stream share their minutes, so the date-and-minute text is cached by
    minute; the rest is integer arithmetic (datetime's own formatting costs several µs).
    """
    if moment.tzinfo is None:  # naive: local time, as datetime.timestamp() takes it
        moment = datetime.fromtimestamp(moment.timestamp(), UTC)
    delta = moment - _EPOCH  # cheaper than .timestamp(), and exact
    minute, second = divmod(delta.days * 86_400 + delta.seconds, 60)
    prefix = _MINUTE_PREFIXES.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIXES) > 100_000:
            _MINUTE_PREFIXES.clear()
        at = _EPOCH + timedelta(minutes=minute)  # any year; strftime's %Y may not pad 999
        prefix = f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:"
        _MINUTE_PREFIXES[minute] = prefix
    return f"{prefix}{second:02d}.{delta.microseconds // 1000:03d}Z"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


CONVERTERS: dict[str, Converter] = {
    "string": to_string,
    "integer": to_integer,
    "float": to_float,
    "port": to_port,
    "boolean": to_boolean,
    "ip": to_ip,
    "strings": to_string_list,
    "ips": to_ip_list,
}
"""Converters by the ``type`` name a mapping file uses (``timestamp`` is built per zone)."""
