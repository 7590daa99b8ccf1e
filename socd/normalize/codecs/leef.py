"""IBM Log Event Extended Format (LEEF) 1.0 and 2.0 lines → a flat dict.

``[syslog header] LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…``
``[syslog header] LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<D>key=value…``

Each attribute goes under its own key (``src``, ``sev``, ``devTime`` …), the header in a
``header`` object (``version``, ``vendor``, ``product``, ``product_version``, ``event_id``,
and ``delimiter`` for 2.0), the syslog header's fields in ``syslog``, text that is not
``key=value`` in ``extension.unparsed``; all values are strings.

The 2.0 delimiter field, as IBM's LEEF guide ("LEEF event components") allows it: one
character (``^``), or its code in hex, ``x`` or ``0x`` and 1–4 hex digits (``x09``,
``0x5E``, ``x7C``: the guide's table calls x7c a broken bar, but the code names ``|``, and
the code is what is read); empty (``…|EventID||src=…``) means TAB, the 1.0 separator;
``…|EventID|||src=…`` is a literal ``|``. A 2.0 line without the field (its first attribute
right after the event id) is read with TAB. Any other delimiter field, or ``=``, is not a
LEEF line (NormalizeError). Leniencies seen in real output: 1.0 attributes that begin with
``|``-separated pairs before the TAB-separated ones (``…|1|Cat=x|sev=8|src=y<TAB>usrName=z``),
empty values, a trailing delimiter.

``devTime`` with a ``devTimeFormat`` (a Java date pattern, see
:class:`~socd.normalize.timeformats.JavaPattern`) is rewritten in a form socd's timestamp
converter reads without the pattern (``2015-06-06T16:07:36.300000 GMT``; the zone is still
resolved with the input's time zone). A ``devTime`` that does not match its pattern is left
as sent: the converter then reads it in its other forms (epoch seconds or milliseconds need
no pattern, as the guide says) or leaves ``@timestamp`` out with a warning.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.codecs.cef import split_header
from socd.normalize.codecs.syslog import decode_line, parse_prefix
from socd.normalize.timeformats import java_pattern

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
        candidate, bar, after = rest.partition("|")
        if candidate == "":
            if after.startswith("|"):  # "|||": the delimiter is "|" itself
                delimiter, rest = "|", after[1:]
                head["delimiter"] = "|"
            elif bar:  # "||": an empty delimiter field, TAB as in LEEF 1.0
                rest = after
                head["delimiter"] = ""
        elif "=" not in candidate or candidate == "=":
            delimiter = _delimiter(candidate)
            rest = after
            head["delimiter"] = candidate
    fields = parse_attributes(rest, delimiter)
    fields["header"] = head
    if syslog:
        fields["syslog"] = syslog
    pattern = fields.get("devTimeFormat")
    if pattern and fields.get("devTime"):
        _read_dev_time(fields, pattern)
    return fields


def _delimiter(field: str) -> str:
    """The delimiter a 2.0 header names; NormalizeError when the field names none."""
    if len(field) == 1:
        if field == "=":
            raise NormalizeError("LEEF 2.0 delimiter '=' cannot separate key=value attributes")
        return field
    match = _HEX_DELIMITER.fullmatch(field.strip())
    if match is not None:
        code = int(match[1], 16)
        if code and not 0xD800 <= code <= 0xDFFF and chr(code) != "=":
            return chr(code)
    raise NormalizeError(f"LEEF 2.0 delimiter field {field[:20]!r} is neither one character "
                         "nor its code in hex (x09, 0x5E)")


def _read_dev_time(fields: dict[str, Any], pattern: str) -> None:
    # a value that does not match (an epoch time, say) is left as sent: see the docstring
    with contextlib.suppress(ValueError):
        fields["devTime"] = java_pattern(pattern).reformat(fields["devTime"])


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
