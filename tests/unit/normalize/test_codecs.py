"""The CEF and LEEF parsers: header, escapes, framings and leniencies seen in real output."""

from __future__ import annotations

import pytest

from socd.errors import DecodeError, NormalizeError
from socd.normalize import build_normalizer
from socd.normalize.codecs import decode_cef, decode_leef
from socd.normalize.codecs.cef import parse_cef
from socd.normalize.codecs.leef import parse_leef


def test_cef_header_and_extension() -> None:
    """Seven header fields in header, each extension pair under its key."""
    fields = parse_cef("CEF:0|security|threatmanager|1.0|100|worm stopped|10|"
                       "src=10.0.0.1 dst=2.1.2.2 spt=1232")
    assert fields == {
        "header": {"version": "0", "vendor": "security", "product": "threatmanager",
                   "product_version": "1.0", "event_class_id": "100", "name": "worm stopped",
                   "severity": "10"},
        "src": "10.0.0.1", "dst": "2.1.2.2", "spt": "1232"}


def test_cef_escapes() -> None:
    """\\| and \\\\ in the header; \\=, \\\\, \\n and an unescaped | in extension values."""
    fields = parse_cef(r"CEF:0|secu\|rity|tm|1.0|100|a \\ b|10|"
                       r"act=blocked a \= b path=C:\\temp msg=line1\nline2 x=a|b")
    assert fields["header"]["vendor"] == "secu|rity"
    assert fields["header"]["name"] == "a \\ b"
    assert fields["act"] == "blocked a = b"
    assert fields["path"] == "C:\\temp"
    assert fields["msg"] == "line1\nline2"
    assert fields["x"] == "a|b"


def test_cef_values_with_spaces_and_equals() -> None:
    """A value runs to the space before the next key=; an = inside a value stays."""
    fields = parse_cef("CEF:0|v|p|1|2|n|5| msg=lang=en   cs6=A01:2021-Broken Access Control "
                       "request=http://x/?a=b")
    assert fields["msg"] == "lang=en"
    assert fields["cs6"] == "A01:2021-Broken Access Control"
    assert fields["request"] == "http://x/?a=b"


@pytest.mark.parametrize("line", [
    "CEF: 0|Ubiquiti|UniFi|9|544|Admin|1|src=10.0.0.1",
    "0|Ubiquiti|UniFi|9|544|Admin|1|src=10.0.0.1",
    "Sep  8 08:32:20 UDM-Gent CEF: 0|Ubiquiti|UniFi|9|544|Admin|1|src=10.0.0.1",
    "<134>1 2025-09-08T08:32:20Z UDM-Gent app - - - CEF:0|Ubiquiti|UniFi|9|544|Admin|1|"
    "src=10.0.0.1",
])
def test_cef_framings(line: str) -> None:
    """A space after CEF:, no CEF: tag, RFC 3164 and RFC 5424 syslog headers."""
    fields = parse_cef(line)
    assert fields["header"]["vendor"] == "Ubiquiti"
    assert fields["src"] == "10.0.0.1"
    if "UDM-Gent" in line:
        assert fields["syslog"]["host"] == "UDM-Gent"
        assert fields["syslog"]["timestamp"] in ("Sep  8 08:32:20", "2025-09-08T08:32:20Z")


def test_cef_unparsed_extension_and_short_header() -> None:
    """Extension text without key=value is kept aside; fewer than 7 fields is no CEF."""
    fields = parse_cef("CEF:0|v|p|1|2|n|5|just words here")
    assert fields["extension"]["unparsed"] == "just words here"
    assert parse_cef("CEF:0|v|p|1|2|n|5")["header"]["severity"] == "5"
    with pytest.raises(NormalizeError, match="5 of its 7"):
        parse_cef("CEF:0|v|p|1|2")
    with pytest.raises(NormalizeError, match="no 'CEF:'"):
        parse_cef("hello world")


def test_cef_bytes() -> None:
    """Invalid UTF-8 is not_utf8; UTF-8 text (Japanese) is kept."""
    with pytest.raises(DecodeError) as caught:
        decode_cef(b"CEF:0|v|p|1|2|n|5|msg=\xff")
    assert caught.value.reason == "not_utf8"
    assert decode_cef("CEF:0|v|p|1|2|n|5|target=aああa\n".encode())["target"] == "aああa"


def test_leef_1_tab_delimited() -> None:
    """LEEF 1.0: five header fields, TAB-separated attributes, empty values."""
    fields = parse_leef("LEEF:1.0|Vendor|Prod|1.2|ev1|src=10.0.0.1\tsev=5\tusrName=\t")
    assert fields["header"]["event_id"] == "ev1"
    assert fields["src"] == "10.0.0.1"
    assert fields["sev"] == "5"
    assert fields["usrName"] == ""


@pytest.mark.parametrize(("delimiter", "char"), [
    # one character (x too: one character, not a code)
    ("^", "^"), ("x", "x"), ("\t", "\t"), (" ", " "), (";", ";"), ("¦", "¦"), ("#", "#"),
    # its code in hex: x or 0x and 1-4 hex digits, either case
    ("x09", "\t"), ("0x09", "\t"), ("x9", "\t"), ("x7C", "|"), ("x7c", "|"), ("0x5E", "^"),
    ("x5e", "^"), ("0x00A6", "¦"), ("xA6", "¦"), ("x2C", ","), ("0x7e", "~"),
    # empty: TAB, as in LEEF 1.0; and "|" written as itself
    ("", "\t"), ("|", "|"),
])
def test_leef_2_delimiters(delimiter: str, char: str) -> None:
    """LEEF 2.0: every delimiter field the LEEF guide allows (one character, or its hex
    code with x or 0x and 1-4 digits); empty means TAB."""
    text = "a b" if char != " " else "a"  # a value keeps its spaces unless they delimit
    fields = parse_leef(f"LEEF:2.0|V|P|1|ev|{delimiter}|src=10.0.0.1{char}dst=10.0.0.2"
                        f"{char}msg={text}")
    assert fields["header"]["delimiter"] == delimiter
    assert (fields["src"], fields["dst"], fields["msg"]) == ("10.0.0.1", "10.0.0.2", text)
    assert "extension" not in fields


def test_leef_2_empty_delimiter_example() -> None:
    """The issue's line: an empty delimiter field is TAB, and src is source.ip."""
    line = "LEEF:2.0|ExampleSec|Sensor|2.1|E7||src=10.0.1.8\tdst=192.0.2.10\tsev=6"
    assert parse_leef(line)["src"] == "10.0.1.8"
    norm = build_normalizer("leef", sensor="s", timezone="UTC", keep_original=False)
    doc = norm.normalize(line.encode())
    assert doc["source"]["ip"] == "10.0.1.8"
    assert doc["destination"]["ip"] == "192.0.2.10"
    assert doc["event"]["severity"] == 6
    assert "socd" not in doc


def test_leef_2_without_a_delimiter_field() -> None:
    """A 2.0 line whose attributes follow the event id is read with TAB; no attributes at
    all is a header only."""
    assert parse_leef("LEEF:2.0|V|P|1|ev|src=10.0.0.1\tdst=10.0.0.2")["dst"] == "10.0.0.2"
    for line in ("LEEF:2.0|V|P|1|ev|", "LEEF:2.0|V|P|1|ev", "LEEF:2.0|V|P|1|ev|^|"):
        assert set(parse_leef(line)) == {"header"}


@pytest.mark.parametrize("delimiter", ["ab", "0x", "xZZ", "x12345", "0x0", "=", "x3D",
                                       "xD800", "tab"])
def test_leef_2_delimiter_fields_that_name_none(delimiter: str) -> None:
    """Not one character, not a hex code, NUL, a surrogate, or "=": not a LEEF line."""
    with pytest.raises(NormalizeError, match="delimiter"):
        parse_leef(f"LEEF:2.0|V|P|1|ev|{delimiter}|src=10.0.0.1")


def test_leef_cyberark_leading_pipes_and_syslog() -> None:
    """|-separated pairs before the TAB-separated ones; a syslog header in front."""
    fields = parse_leef("Jan  1 12:00:00 pta LEEF:1.0|CyberArk|PTA|14.0|1|Cat=Theft|sev=8|"
                        "src=h1\tuserName=mike")
    assert (fields["Cat"], fields["sev"], fields["src"]) == ("Theft", "8", "h1")
    assert fields["syslog"]["host"] == "pta"


def test_leef_errors() -> None:
    """No LEEF: tag or a short header: invalid_event; not UTF-8: not_utf8."""
    with pytest.raises(NormalizeError):
        parse_leef("CEF:0|a|b")
    with pytest.raises(NormalizeError, match="3 of its 5"):
        parse_leef("LEEF:1.0|a|b")
    with pytest.raises(DecodeError):
        decode_leef(b"LEEF:1.0|\xfe|b|c|d|")
