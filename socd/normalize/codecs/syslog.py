"""Line-oriented formats: the UTF-8 line, and the syslog header relays put before a CEF or
LEEF payload.

Seen in practice: RFC 3164 (``<134>Sep  8 08:32:20 UDM-Gent CEF:0|…``, also with a program
tag ``host prog[1]:``), RFC 5424 (``<134>1 2024-05-01T10:00:00Z host app - - - CEF:0|…``),
and free text (``Syslogdate Sysloghost CEF:0|…``). The fields found are returned as
``timestamp`` and ``host``, the whole prefix as ``header`` (a decoder puts them under
``syslog``).
"""

from __future__ import annotations

import re

from socd.errors import DecodeError

_RFC3164 = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?)"
    r"(?: (?P<host>[^\s:]+))?")
_RFC5424 = re.compile(
    r"(?:<\d{1,3}>)?\d{1,2} (?P<ts>\d{4}-\d\d-\d\dT\S+)(?: (?P<host>\S+))?")


def parse_prefix(prefix: str) -> dict[str, str]:
    """The syslog fields of the text before ``CEF:``/``LEEF:`` (empty when there is none)."""
    text = prefix.strip()
    if not text:
        return {}
    fields = {"header": text}
    match = _RFC5424.match(text) or _RFC3164.match(text)
    if match is not None:
        fields["timestamp"] = match["ts"]
        host = match["host"]
        if host and host != "-":
            fields["host"] = host
    return fields


def decode_line(raw: bytes) -> str:
    """One text line of a line-oriented format (CEF, LEEF): UTF-8, line end removed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8: {exc}", reason="not_utf8") from None
    return text.rstrip("\r\n")
