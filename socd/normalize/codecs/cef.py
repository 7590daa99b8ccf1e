"""ArcSight Common Event Format (CEF) lines → a flat dict.

``[syslog header] CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class
ID|Name|Severity|Extension``

The result has every extension pair under its own key (``src``, ``rt``, ``cs1Label``,
``UNIFIrisk`` …), the header in a ``header`` object (``version``, ``vendor``, ``product``,
``product_version``, ``event_class_id``, ``name``, ``severity``), the syslog header's fields
in ``syslog`` (:mod:`.syslog`), and extension text that is not ``key=value`` in
``extension.unparsed``; all values are strings. ``header``, ``syslog`` and ``extension``
win over extension keys of the same name.

Leniencies, each seen in real output: ``CEF: 0`` (a space after the colon); no ``CEF:`` tag
at all (``0|Ubiquiti|…``); header escapes ``\\|`` and ``\\\\``; extension escapes ``\\=``,
``\\\\``, ``\\|``, ``\\n``, ``\\r``; values with spaces (a value runs to the space before the
next ``key=``); an unescaped ``=`` inside a value (``msg=lang=en``); a last header field
without the closing ``|``.

``dtz`` (deviceTimeZone) is the device's zone: each CEF date field (``rt``, ``start``,
``end``, ``art``, ``deviceCustomDate1``/``2``, ``flexDate1``, the file times, and their full
names) written without a zone gets it appended (``rt=Sep 07 2018 14:50:39`` with
``dtz=Europe/Berlin`` → ``Sep 07 2018 14:50:39 Europe/Berlin``); epoch milliseconds and dates
with their own zone are kept. The zone is read with the dates (see
:mod:`socd.normalize.timeformats`): one that cannot be read makes the date unreadable, with
a warning, rather than silently shifted.
"""

from __future__ import annotations

import re
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.codecs.syslog import decode_line, parse_prefix
from socd.normalize.timeformats import with_zone

HEADER = ("version", "vendor", "product", "product_version", "event_class_id", "name",
          "severity")

_BARE_START = re.compile(r"\s*\d+\|")
# a key starts the extension or follows a space; keys seen: src, cs1Label, ad.field[0],
# ad.Error_,Code. A backslash cannot be in a key, so "\=" never ends one.
_KEY_NAME = re.compile(r"[^\s=\\|]+").fullmatch
_HEADER_ESCAPE = re.compile(r"\\([\\|])")
_VALUE_ESCAPE = re.compile(r"\\([\\=|nr])")
_VALUE_UNESCAPED = {"\\": "\\", "=": "=", "|": "|", "n": "\n", "r": "\r"}
# the date fields of the CEF extension dictionary, by key and by full name
DATE_KEYS = ("rt", "start", "end", "art", "deviceCustomDate1", "deviceCustomDate2",
             "flexDate1", "fileCreateTime", "fileModificationTime", "oldFileCreateTime",
             "oldFileModificationTime", "deviceReceiptTime", "startTime", "endTime",
             "agentReceiptTime")


def decode_cef(raw: bytes) -> dict[str, Any]:
    return parse_cef(decode_line(raw))


def parse_cef(text: str) -> dict[str, Any]:
    """One CEF line (see the module's docstring); NormalizeError when it is not CEF."""
    start = text.find("CEF:")
    if start >= 0:
        syslog = parse_prefix(text[:start])
        rest = text[start + 4:].lstrip(" ")
    elif _BARE_START.match(text):
        syslog = {}
        rest = text.lstrip()
    else:
        raise NormalizeError("not a CEF message: no 'CEF:' header")
    header, extension = split_header(rest, 7)
    if len(header) < 7:
        raise NormalizeError(f"not a CEF message: the header has {len(header)} of its 7 "
                             "fields (Version|Vendor|Product|Version|Class ID|Name|Severity)")
    fields: dict[str, Any] = parse_extension(extension)
    device_zone = fields.get("dtz")
    if device_zone and device_zone.strip():
        for key in DATE_KEYS:
            value = fields.get(key)
            if value:
                fields[key] = with_zone(value.strip(), device_zone.strip())
    fields["header"] = {name: _HEADER_ESCAPE.sub(r"\1", value).strip() if "\\" in value
                        else value.strip() for name, value in zip(HEADER, header, strict=True)}
    if syslog:
        fields["syslog"] = syslog
    return fields


def split_header(text: str, count: int) -> tuple[list[str], str]:
    """The first ``count`` fields separated by unescaped ``|``, and the text after them."""
    pieces = text.split("|")
    header: list[str] = []
    index = 0
    while len(header) < count and index < len(pieces):
        field = pieces[index]
        index += 1
        while _escapes_next(field) and index < len(pieces):  # "\|" is part of the field
            field = f"{field}|{pieces[index]}"
            index += 1
        header.append(field)
    return header, "|".join(pieces[index:])


def _escapes_next(field: str) -> bool:
    """An odd number of backslashes at the end: the separator after it is escaped."""
    trailing = len(field) - len(field.rstrip("\\"))
    return trailing % 2 == 1


def parse_extension(text: str) -> dict[str, Any]:
    """``key=value`` pairs separated by spaces; values may contain spaces."""
    pairs: dict[str, Any] = {}
    key = None
    value: list[str] = []
    unparsed: list[str] = []
    for token in text.split(" "):
        equals = token.find("=")
        if equals > 0 and _KEY_NAME(token, 0, equals) is not None:
            if key is not None:
                pairs[key] = _value(value)
            key = token[:equals]
            value = [token[equals + 1:]]
        elif key is not None:
            value.append(token)
        elif token:
            unparsed.append(token)
    if key is not None:
        pairs[key] = _value(value)
    if unparsed:
        pairs["extension"] = {"unparsed": " ".join(unparsed).strip()}
    return pairs


def _value(tokens: list[str]) -> str:
    text = " ".join(tokens).rstrip() if len(tokens) > 1 else tokens[0].rstrip()
    if "\\" in text:
        text = _VALUE_ESCAPE.sub(lambda m: _VALUE_UNESCAPED[m[1]], text)
    return text
