"""IBM Log Event Extended Format (LEEF) 1.0 and 2.0 lines → a flat dict.

``[syslog header] LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…``
``[syslog header] LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<D>key=value…``

Each attribute goes under its own key (``src``, ``sev``, ``devTime`` …), the header in a
``header`` object (``version``, ``vendor``, ``product``, ``product_version``, ``event_id``,
and ``delimiter`` for 2.0), the syslog header's fields in ``syslog``, text that is not
``key=value`` in ``extension.unparsed``; all values are strings.

The 2.0 delimiter is one character or its code in hex (``x09``, ``0x7C``, ``^``); when the
field is absent the attributes are TAB-separated as in 1.0. Leniencies seen in real output:
1.0 attributes that begin with ``|``-separated pairs before the TAB-separated ones
(``…|1|Cat=x|sev=8|src=y<TAB>usrName=z``), empty values, a trailing delimiter.
"""

from __future__ import annotations

import re
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.codecs.cef import split_header
from socd.normalize.codecs.syslog import decode_line, parse_prefix

_HEX_DELIMITER = re.compile(r"(?:0?[xX])([0-9A-Fa-f]{1,4})")
_PAIR = re.compile(r"[^\s=|]+=")


def decode_leef(raw: bytes) -> dict[str, Any]:
    return parse_leef(decode_line(raw))


def parse_leef(text: str) -> dict[str, Any]:
    """One LEEF line (see the module's docstring); NormalizeError when it is not LEEF."""
    start = text.find("LEEF:")
    if start < 0:
        raise NormalizeError("not a LEEF message: no 'LEEF:' header")
    syslog = parse_prefix(text[:start])
    header, rest = split_header(text[start + 5:], 5)
    if len(header) < 5:
        raise NormalizeError(f"not a LEEF message: the header has {len(header)} of its 5 "
                             "fields (Version|Vendor|Product|Version|EventID)")
    names = ("version", "vendor", "product", "product_version", "event_id")
    head = {name: value.strip() for name, value in zip(names, header, strict=True)}
    delimiter = "\t"
    if head["version"].startswith("2"):
        candidate, _, after = rest.partition("|")
        parsed = _delimiter(candidate)
        if parsed is not None and "|" in rest:
            delimiter, rest = parsed, after
            head["delimiter"] = candidate
    fields = parse_attributes(rest, delimiter)
    fields["header"] = head
    if syslog:
        fields["syslog"] = syslog
    return fields


def _delimiter(field: str) -> str | None:
    """The delimiter a 2.0 header names, or None when the field is not one."""
    if len(field) == 1:
        return field
    match = _HEX_DELIMITER.fullmatch(field)
    if match is None:
        return None
    code = int(match[1], 16)
    return chr(code) if 0 < code < 0x110000 else None


def parse_attributes(text: str, delimiter: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    junk: list[str] = []
    for piece in text.split(delimiter):
        # 1.0 senders that start with "|"-separated pairs (CyberArk PTA)
        parts = piece.split("|") if delimiter != "|" and "|" in piece else [piece]
        if len(parts) > 1 and not all(_PAIR.match(part) for part in parts):
            parts = [piece]
        for part in parts:
            key, equals, value = part.partition("=")
            if equals and key and not key.isspace():
                pairs[key.strip()] = value
            elif part.strip():
                junk.append(part.strip())
    if junk:
        pairs["extension"] = {"unparsed": " ".join(junk)}
    return pairs
