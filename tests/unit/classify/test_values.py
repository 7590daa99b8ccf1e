"""Value semantics: each modifier, wildcards, numbers, lists and nulls, matched and not."""

from __future__ import annotations

import base64
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaCIDRExpression

from socd.classify.values import compile_values

Matches = Callable[..., bool]


def sel(item: dict[str, Any]) -> dict[str, Any]:
    return {"selection": item, "condition": "selection"}


@pytest.mark.parametrize(
    ("value", "event_value", "expected"),
    [
        ("apt_c2", "apt_c2", True),
        ("APT_C2", "apt_c2", True),  # case-insensitive
        ("apt_c2", "APT_C2", True),
        ("apt_c2", "apt_c2x", False),  # equality is on the whole value
        ("apt_c2", "xapt_c2", False),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_plain_string_equality_is_whole_value_and_case_insensitive(
    matches: Matches, value: str, event_value: str, expected: bool
) -> None:
    """A plain string matches the whole field value, ignoring case."""
    assert matches(sel({"category": value}), {"category": event_value}) is expected


@pytest.mark.parametrize(
    ("rule_value", "event_value", "expected"),
    [
        (8, 8, True),
        (8, "8", True),
        (8, 8.0, True),
        (8, " 8", True),
        (8, 9, False),
        (8, "eight", False),
        (8, True, False),  # a boolean is not the number 1/0
        ("8", 8, True),
        ("8", "8", True),
        ("8", 9, False),
        (1.5, "1.5", True),
        (1.5, 1.5, True),
    ],
)
def test_numbers_and_numeric_strings_compare_as_numbers(
    matches: Matches, rule_value: Any, event_value: Any, expected: bool
) -> None:
    """A rule number matches the same number or numeric string, and a numeric rule string
    matches the number."""
    assert matches(sel({"severity": rule_value}), {"severity": event_value}) is expected


@pytest.mark.parametrize(
    ("modifier", "value", "event_value", "expected"),
    [
        ("contains", "C2", "oceanlotus c2 beacon", True),
        ("contains", "c2", "beacon", False),
        ("startswith", "T1071", "t1071.001", True),
        ("startswith", "T1071", "xT1071", False),
        ("endswith", "\\cmd.exe", "C:\\Windows\\CMD.EXE", True),
        ("endswith", "\\cmd.exe", "C:\\Windows\\cmd.exe.bak", False),
    ],
)
def test_contains_startswith_endswith(
    matches: Matches, modifier: str, value: str, event_value: str, expected: bool
) -> None:
    """contains/startswith/endswith match substrings, prefixes and suffixes, ignoring case."""
    assert matches(sel({f"f|{modifier}": value}), {"f": event_value}) is expected


@pytest.mark.parametrize(
    ("modifier", "limit", "event_value", "expected"),
    [
        ("gt", 7, 8, True),
        ("gt", 8, 8, False),
        ("gte", 8, 8, True),
        ("gte", 8, 7, False),
        ("lt", 8, 7, True),
        ("lt", 8, 8, False),
        ("lte", 8, 8, True),
        ("lte", 8, 9, False),
        ("gte", 8, "9", True),  # numeric strings compare as numbers
        ("gte", 8, "10", True),  # ... not as text ("10" < "8" as text)
        ("gte", 8, "7.5", False),
        ("gte", 8, "high", False),  # not a number: no match
        ("gte", 8, True, False),
        ("gte", 7.5, 7.5, True),
    ],
)
def test_numeric_comparisons(
    matches: Matches, modifier: str, limit: Any, event_value: Any, expected: bool
) -> None:
    """gt/gte/lt/lte compare numbers and numeric strings; anything else does not match."""
    assert matches(sel({f"severity|{modifier}": limit}), {"severity": event_value}) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("ab*cd", "abXYZcd", True),
        ("ab*cd", "abcd", True),
        ("ab*cd", "abc", False),
        ("ab?d", "abcd", True),
        ("ab?d", "abd", False),
        ("ab?d", "abccd", False),
        ("*", "anything", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "aXcYb", False),
        ("a\\*b", "a*b", True),  # escaped wildcard is a plain character
        ("a\\*b", "aXb", False),
        ("a\\?b", "a?b", True),
        ("a\\?b", "aXb", False),
        ("C:\\Windows\\System32", "c:\\windows\\system32", True),  # plain backslashes
        ("C:\\Windows\\*", "c:\\windows*", True),  # backslash-star is a plain star
        ("C:\\Windows\\*", "c:\\windows\\system32", False),
        ("C:\\\\*", "c:\\anything", True),  # escaped backslash, then a wildcard
        ("a.b", "aXb", False),  # regex characters are plain
        ("(x)", "(x)", True),
    ],
)
def test_wildcards_and_escapes(matches: Matches, pattern: str, text: str, expected: bool) -> None:
    """* and ? are wildcards (case-insensitive); a backslash escapes them."""
    assert matches(sel({"f": pattern}), {"f": text}) is expected


def test_value_list_matches_any_value(matches: Matches) -> None:
    """A list of values is OR-linked."""
    detection = sel({"category": ["apt_c2", "ransomware"]})
    assert matches(detection, {"category": "ransomware"})
    assert not matches(detection, {"category": "scan"})


def test_all_modifier_requires_every_value(matches: Matches) -> None:
    """|all turns the value list into an AND."""
    detection = sel({"cmd|contains|all": ["-enc", "hidden"]})
    assert matches(detection, {"cmd": "powershell -w hidden -enc AAA"})
    assert not matches(detection, {"cmd": "powershell -enc AAA"})
    # in a list, each value may be matched by a different element
    assert matches(detection, {"cmd": ["a -ENC b", "-w HIDDEN"]})
    assert not matches(detection, {"cmd": ["a -enc b", "-w"]})
    assert not matches(detection, {})


def test_event_list_matches_if_any_element_matches(matches: Matches) -> None:
    """A list in the event matches when one of its elements does."""
    detection = sel({"threat.technique.id|startswith": "T1071"})
    assert matches(detection, {"threat": {"technique": {"id": ["T1059", "T1071.001"]}}})
    assert not matches(detection, {"threat": {"technique": {"id": ["T1059", "T1105"]}}})
    assert not matches(detection, {"threat": {"technique": {"id": []}}})


def test_null_matches_missing_or_null_field(matches: Matches) -> None:
    """null matches a missing field and a null value, not a present value."""
    detection = sel({"user": None})
    assert matches(detection, {})
    assert matches(detection, {"user": None})
    assert not matches(detection, {"user": "root"})
    assert not matches(detection, {"user": ""})


def test_null_in_a_value_list(matches: Matches) -> None:
    """null among other values: a missing field or one of the values matches."""
    detection = sel({"user": [None, "root"]})
    assert matches(detection, {})
    assert matches(detection, {"user": "ROOT"})
    assert not matches(detection, {"user": "guest"})


def test_missing_field_never_matches_a_value(matches: Matches) -> None:
    """A field that is absent (or null) matches no string, number or comparison."""
    for item in ({"f": "x"}, {"f|contains": "x"}, {"f": 1}, {"f|gte": 0}, {"f": "*"}):
        assert not matches(sel(item), {})
        assert not matches(sel(item), {"f": None})


def test_exists_modifier(matches: Matches) -> None:
    """|exists: true needs the field present (and not null); false needs it absent."""
    assert matches(sel({"user|exists": True}), {"user": "root"})
    assert matches(sel({"user|exists": True}), {"user": ""})
    assert not matches(sel({"user|exists": True}), {"user": None})
    assert not matches(sel({"user|exists": True}), {})
    assert matches(sel({"user|exists": False}), {})
    assert not matches(sel({"user|exists": False}), {"user": "root"})


def test_nested_exists_sees_objects(matches: Matches) -> None:
    """|exists on a name that holds an object is true."""
    assert matches(sel({"source|exists": True}), {"source": {"ip": "10.0.0.1"}})


@pytest.mark.parametrize(
    ("key", "value", "text", "expected"),
    [
        ("f|re", "^a.c$", "abc", True),
        ("f|re", "^a.c$", "ABC", False),  # case-sensitive by default
        ("f|re|i", "^a.c$", "ABC", True),
        ("f|re", "b", "abc", True),  # unanchored search
        ("f|re", "^b", "abc", False),
        ("f|re", "^b$", "a\nb\nc", False),
        ("f|re|m", "^b$", "a\nb\nc", True),
        ("f|re", "a.c", "a\nc", False),
        ("f|re|s", "a.c", "a\nc", True),
        ("f|re", "\\d{3}", "port 443", True),
    ],
)
def test_regular_expressions(
    matches: Matches, key: str, value: str, text: str, expected: bool
) -> None:
    """|re searches the value with a regular expression; i, m and s set its flags."""
    assert matches(sel({key: value}), {"f": text}) is expected


@pytest.mark.parametrize(
    ("network", "address", "expected"),
    [
        ("10.0.0.0/8", "10.20.1.15", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("10.20.1.0/24", "10.20.1.255", True),
        ("10.0.0.0/8", "not an ip", False),
        ("10.0.0.0/8", "::1", False),
        ("2001:db8::/32", "2001:db8::1", True),
        ("2001:db8::/32", "2001:db9::1", False),
        # an IPv4-mapped IPv6 address is the IPv4 address it maps (RFC 4291 2.5.5.2), as in
        # Elasticsearch's ip type: the Wazuh example and its right value
        ("172.16.0.0/12", "::ffff:172.16.5.9", True),
        ("172.16.0.0/12", "::ffff:ac10:509", True),
        ("172.16.0.0/12", "::FFFF:172.16.5.9", True),
        ("172.16.0.0/12", "0:0:0:0:0:ffff:ac10:0509", True),
        ("172.16.0.0/12", "::ffff:172.32.0.1", False),
        ("172.16.0.0/12", " 172.16.5.9 ", True),
        # other IPv6 addresses that embed the same 32 bits are not IPv4 addresses
        ("172.16.0.0/12", "::172.16.5.9", False),  # IPv4-compatible (deprecated)
        ("172.16.0.0/12", "64:ff9b::ac10:509", False),  # NAT64
        ("172.16.0.0/12", "2002:ac10:509::1", False),  # 6to4
        ("172.16.0.0/12", "2001:db8::ac10:509", False),
        ("0.0.0.0/0", "::1", False),
        ("0.0.0.0/0", "::ffff:8.8.8.8", True),
        # an IPv6 network written over the mapped range holds the IPv4 addresses
        ("::ffff:172.16.0.0/108", "172.16.5.9", True),
        ("::ffff:172.16.0.0/108", "172.32.0.1", False),
        ("::ffff:0:0/96", "8.8.8.8", True),
        ("fe80::/10", "fe80::1%eth0", True),
        ("fe80::/10", "10.0.0.1", False),
        ("172.16.0.0/12", "172.16.5", False),
        ("172.16.0.0/12", "172.016.5.9", False),  # leading zeros: not an address
    ],
)
def test_cidr(matches: Matches, network: str, address: str, expected: bool) -> None:
    """|cidr matches IPv4 and IPv6 addresses inside the network."""
    assert matches(sel({"source.ip|cidr": network}), {"source": {"ip": address}}) is expected


def _cidr(network: str) -> Callable[[Any], bool]:
    test = compile_values([SigmaCIDRExpression(network)], {}).test
    assert test is not None
    return test


@settings(max_examples=300, deadline=None)
@given(prefix=st.integers(0, 32), base=st.integers(0, 2**32 - 1),
       address=st.integers(0, 2**32 - 1), other=st.integers(0, 2**128 - 1))
def test_cidr_mapped_addresses_are_their_ipv4_address(
    prefix: int, base: int, address: int, other: int
) -> None:
    """Every spelling of an IPv4 address (dotted, mapped with dots, mapped in hex, mapped in
    full) is in an IPv4 network exactly when the address is; the network written as its
    mapped IPv6 range says the same; an IPv6 address outside the mapped range is in no
    IPv4 network."""
    network = IPv4Network((base, prefix), strict=False)
    v4 = IPv4Address(address)
    mapped = IPv6Address((0xFFFF << 32) | address)
    spellings = [str(v4), f"::ffff:{v4}", mapped.compressed, mapped.exploded]
    inside = v4 in network
    as_ipv6 = f"::ffff:{network.network_address}/{96 + prefix}"
    for test in (_cidr(str(network)), _cidr(as_ipv6)):
        assert [test(text) for text in spellings] == [inside] * len(spellings)
    if other >> 32 != 0xFFFF:
        assert not _cidr(str(network))(str(IPv6Address(other)))


def test_base64_and_base64offset(matches: Matches) -> None:
    """|base64 matches the encoded value; |base64offset finds it at any offset."""
    encoded = base64.b64encode(b"secret").decode()
    assert matches(sel({"f|base64": "secret"}), {"f": encoded})
    assert not matches(sel({"f|base64": "secret"}), {"f": "secret"})
    for prefix in (b"", b"x", b"xy"):
        blob = base64.b64encode(prefix + b"secret command").decode()
        assert matches(sel({"f|base64offset|contains": "secret"}), {"f": blob})
    other = base64.b64encode(b"nothing here").decode()
    assert not matches(sel({"f|base64offset|contains": "secret"}), {"f": other})


@pytest.mark.parametrize(
    ("modifier", "encoding", "bom"),
    [("utf16le", "utf-16-le", b""), ("wide", "utf-16-le", b""), ("utf16be", "utf-16-be", b""),
     ("utf16", "utf-16-le", b"\xff\xfe")],
)
def test_utf16_variants_with_base64(
    matches: Matches, modifier: str, encoding: str, bom: bytes
) -> None:
    """utf16le/wide/utf16be/utf16 encode the value before base64, as PowerShell -enc does."""
    payload = base64.b64encode(bom + "IEX (New-Object".encode(encoding)).decode()
    detection = sel({f"cmd|{modifier}|base64offset|contains": "IEX"})
    assert matches(detection, {"cmd": f"powershell -enc {payload}"})
    plain = base64.b64encode(b"IEX (New-Object").decode()
    if modifier != "utf16":
        assert not matches(detection, {"cmd": f"powershell -enc {plain}"})


def test_windash_matches_every_dash_form(matches: Matches) -> None:
    """|windash accepts -, /, en dash, em dash and horizontal bar for a leading dash."""
    detection = sel({"cmd|windash|contains": " -exec bypass"})
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert matches(detection, {"cmd": f"powershell {dash}exec bypass"})
    assert not matches(detection, {"cmd": "powershell +exec bypass"})


def test_cased_is_case_sensitive(matches: Matches) -> None:
    """|cased compares case-sensitively."""
    assert matches(sel({"f|cased": "Admin"}), {"f": "Admin"})
    assert not matches(sel({"f|cased": "Admin"}), {"f": "admin"})
    assert matches(sel({"f|cased|contains": "Adm"}), {"f": "xAdmx"})
    assert not matches(sel({"f|cased|contains": "Adm"}), {"f": "xadmx"})


@pytest.mark.parametrize(
    ("key", "event", "expected"),
    [
        ("a|fieldref", {"a": "X", "b": "x"}, True),  # case-insensitive
        ("a|fieldref", {"a": "x", "b": "y"}, False),
        ("a|fieldref", {"a": "x"}, False),
        ("a|fieldref|contains", {"a": "1x2", "b": "x"}, True),
        ("a|fieldref|startswith", {"a": "xy", "b": "x"}, True),
        ("a|fieldref|startswith", {"a": "yx", "b": "x"}, False),
        ("a|fieldref|endswith", {"a": "yx", "b": "x"}, True),
        ("a|fieldref", {"a": 5, "b": "5"}, True),
    ],
)
def test_fieldref(matches: Matches, key: str, event: dict[str, Any], expected: bool) -> None:
    """|fieldref compares a field with another field of the same event."""
    assert matches(sel({key: "b"}), event) is expected


def test_expand_uses_placeholders_given_to_load(matches: Matches) -> None:
    """|expand replaces %name% with the configured values (wildcards allowed)."""
    detection = sel({"host|expand": "%Servers%"})
    options = {"placeholders": {"Servers": ["srv-*", "dc01"]}}
    assert matches(detection, {"host": "SRV-web"}, **options)
    assert matches(detection, {"host": "dc01"}, **options)
    assert not matches(detection, {"host": "ws-01"}, **options)


def test_expand_in_regular_expressions(matches: Matches) -> None:
    """|re|expand puts the configured values into the regular expression."""
    detection = sel({"host|re|expand": "^%Servers%$"})
    options = {"placeholders": {"Servers": ["srv-[0-9]+"]}}
    assert matches(detection, {"host": "srv-12"}, **options)
    assert not matches(detection, {"host": "srv-x"}, **options)


def test_boolean_values(matches: Matches) -> None:
    """A boolean rule value matches the same boolean (or its text), not other values."""
    assert matches(sel({"blocked": True}), {"blocked": True})
    assert matches(sel({"blocked": True}), {"blocked": "true"})
    assert not matches(sel({"blocked": True}), {"blocked": False})
    assert not matches(sel({"blocked": True}), {"blocked": 1})


def test_numbers_match_string_patterns_by_their_text(matches: Matches) -> None:
    """A string pattern applies to the text of a number."""
    assert matches(sel({"port|startswith": "44"}), {"port": 443})
    assert not matches(sel({"port|startswith": "80"}), {"port": 443})


def test_keywords_search_every_value(matches: Matches) -> None:
    """A field-less keyword list matches when any string anywhere in the event contains one."""
    detection = {"keywords": ["mimikatz", "sekurlsa::"], "condition": "keywords"}
    assert matches(detection, {"a": {"b": ["x", "run Mimikatz now"]}})
    assert matches(detection, {"msg": "sekurlsa::logonpasswords"})
    assert not matches(detection, {"msg": "nothing to see", "n": 5})


def test_keywords_with_all(matches: Matches) -> None:
    """'|all' keywords must each occur somewhere in the event."""
    detection = {"keywords": {"|all": ["OabVirtualDirectory", " -ExternalUrl "]},
                 "condition": "keywords"}
    assert matches(detection, {"a": "Set-OabVirtualDirectory -ExternalUrl http://x"})
    assert matches(detection, {"a": "Set-OabVirtualDirectory", "b": "x -ExternalUrl y"})
    assert not matches(detection, {"a": "Set-OabVirtualDirectory"})


def test_timestamp_parts(matches: Matches) -> None:
    """|hour etc. compare a part of a timestamp field."""
    assert matches(sel({"@timestamp|hour": 8}), {"@timestamp": "2020-06-15T08:12:44+07:00"})
    assert not matches(sel({"@timestamp|hour": 9}), {"@timestamp": "2020-06-15T08:12:44Z"})
    assert matches(sel({"@timestamp|year": 2020}), {"@timestamp": "2020-06-15T08:12:44Z"})


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"\w+`(?:\w+|-|.)`[\w+|\s]", "IN`V`oke-Expression", True),
        (r"\w+`(?:\w+|-|.)`[\w+|\s]", "Invoke-Expression " * 20, False),  # no backtick
        ("(?i)mimikatz|sekurlsa", "run SEKURLSA::logonpasswords", True),
        ("mimi.atz", "MIMIKATZ", False),  # case-sensitive: the literal check only narrows
        ("(?i)straße", "STRASSE", False),
        ("(?i)straße", "Straße", True),  # non-ASCII text: the regular expression decides
        ("(?i)Ks", "\u212as", True),  # Kelvin sign: not ASCII, searched as is
    ],
)
def test_regex_literals_only_skip_texts_that_cannot_match(
    matches: Matches, pattern: str, text: str, expected: bool
) -> None:
    """A regular expression is searched only when the text holds a literal it needs; the
    shortcut never changes the answer, whatever the case or the script of the text."""
    assert matches(sel({"f|re": pattern}), {"f": text}) is expected
