"""What may leave the department: tables of addresses, names and URLs, the fields read,
and a property: whatever the document, no redacted address or domain and no host or user
name or raw message is anywhere in the published bytes."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socd.config import INTERNAL_NETWORKS, SharingRedaction
from socd.sharing import Redactor, SightingBuilder
from tests.unit.sharing.threats import check_bundle, sharing_config, threat

EXAMPLES = int(os.environ.get("SOCD_EXAMPLES", "150"))
DOMAINS = ["dongnai.gov.vn", "internal.example"]
NETWORKS = [*INTERNAL_NETWORKS, "203.0.113.0/28"]
REDACTOR = Redactor(SharingRedaction(networks=NETWORKS, domains=DOMAINS))

ADDRESSES = [
    ("198.51.100.7", ("ipv4-addr", "198.51.100.7")),
    (" 198.51.100.7 ", ("ipv4-addr", "198.51.100.7")),
    ("10.1.2.3", None),
    ("172.31.255.255", None),
    ("172.32.0.1", ("ipv4-addr", "172.32.0.1")),
    ("192.168.0.1", None),
    ("127.0.0.1", None),
    ("169.254.10.1", None),
    ("100.64.0.1", None),
    ("203.0.113.5", None),          # a configured range
    ("203.0.113.16", ("ipv4-addr", "203.0.113.16")),
    ("::ffff:10.1.2.3", None),      # IPv4-mapped counts as IPv4
    ("::ffff:a01:203", None),       # the same, in hex
    ("::ffff:198.51.100.7", ("ipv4-addr", "198.51.100.7")),
    ("::ffff:c633:6407", ("ipv4-addr", "198.51.100.7")),
    ("::10.1.2.3", None),           # IPv4-compatible
    ("64:ff9b::a01:203", None),     # NAT64 of 10.1.2.3
    ("2002:a01:203::1", None),      # 6to4 of 10.1.2.3
    ("2002:c633:6407::1", ("ipv6-addr", "2002:c633:6407::1")),
    ("::1", None),
    ("fc00::1", None),
    ("fd12:3456::1", None),
    ("fe80::1%eth0", None),
    ("2001:DB8:0::0001", ("ipv6-addr", "2001:db8::1")),
    ("010.1.2.3", None),            # not an address
    ("ws-ketoan-05", None),
    ("", None),
]


@pytest.mark.parametrize(("value", "expected"), ADDRESSES)
def test_addresses(value: str, expected: tuple[str, str] | None) -> None:
    assert REDACTOR.address(value) == expected


DOMAIN_NAMES = [
    ("evil.example", "evil.example"),
    ("EVIL.Example.", "evil.example"),
    ("_dmarc.evil.example", "_dmarc.evil.example"),
    ("dongnai.gov.vn", None),
    ("Mail.DongNai.gov.vn", None),
    ("notdongnai.gov.vn", "notdongnai.gov.vn"),     # not under it
    ("dongnai.gov.vn.evil.example", None),    # holds a redacted name: never in the bytes
    ("app.10.1.2.3.nip.example", None),              # it spells an internal address
    ("app.198.51.100.7.nip.example", "app.198.51.100.7.nip.example"),
    ("intranet.internal.example", None),
    ("ws-ketoan-05", None),                          # one label: a host name
    ("srv-dc01.dongnai.local", None),                # never-delegated suffixes
    ("nas.home.arpa", None),
    ("fileserver.corp", None),
    ("3.2.1.10.in-addr.arpa", None),
    ("1.2.3.4", None),
    ("*.dyn-home.example", None),
    ("-bad.example", None),
    ("a..example", None),
    ("bücher.example", "xn--bcher-kva.example"),
    ("x" * 64 + ".example", None),
]


@pytest.mark.parametrize(("value", "expected"), DOMAIN_NAMES)
def test_domains(value: str, expected: str | None) -> None:
    assert REDACTOR.domain(value) == expected


URLS = [
    ("http://evil.example/a?b=c", True),
    ("  https://evil.example:8443/x  ", True),
    ("http://198.51.100.7:8080/x", True),
    ("http://[2001:db8::1]/x", True),
    ("/uploads/shell.php", False),                   # a path is not a URL
    ("evil.example/x", False),
    ("http://10.1.2.3/x", False),
    ("http://[fc00::1]/x", False),
    ("http://[::ffff:10.1.2.3]/x", False),
    ("http://mail.dongnai.gov.vn/x", False),
    ("http://MAIL.DONGNAI.GOV.VN/x", False),
    ("http://srv.dongnai.local/x", False),
    ("http://evil.example/?next=http://intranet.dongnai.gov.vn/", False),
    ("http://evil.example/?u=intranet%2Edongnai%2Egov%2Evn", False),
    ("http://evil.example/?u=intranet%252Edongnai%252Egov%252Evn", False),
    ("http://evil.example/?h=10.9.8.7", False),
    ("http://evil.example/?h=10%2E9%2E8%2E7", False),
    ("http://evil.example/?h=fd00::5", False),
    ("http://admin:secret@evil.example/", False),    # credentials
    ("http://admin@evil.example/", False),
    ("http://evil.example/ a", False),
    ("http://evil.example/\x00", False),
    ("http://evil.example:99999/", False),
    ("http://ws-ketoan-05/x", False),
    ("javascript:alert(1)", False),
]


@pytest.mark.parametrize(("value", "shared"), URLS)
def test_urls(value: str, shared: bool) -> None:
    assert REDACTOR.url(value) == (value.strip() if shared else None)


def test_url_with_a_withheld_name() -> None:
    """A URL naming a host or user name of the document, as a whole word, is left out."""
    assert REDACTOR.url("http://evil.example/home/khtc.tran/x", ("khtc.tran",)) is None
    assert REDACTOR.url("http://evil.example/git/x", ("git",)) is None
    assert REDACTOR.url("http://github.example/x", ("git",)) == "http://github.example/x"


SCRUB = [
    ("attack from 10.1.2.3 on port 22", "attack from [redacted] on port 22"),
    ("attack from 198.51.100.7", "attack from 198.51.100.7"),
    ("lookup of db.dongnai.gov.vn failed", "lookup of [redacted] failed"),
    ("query for DB.DongNai.gov.vn", "query for [redacted]"),
    ("host srv-dc01 compromised by srv-dc01x", "host [redacted] compromised by srv-dc01x"),
    ("peer fd00::5 and ::ffff:a01:203", "peer [redacted] and [redacted]"),
    ("via app.5.10.1.2.3.nip.example", "via app.5.[redacted].nip.example"),
    ("version 1.2.3.4.5", "version 1.2.3.4.5"),
    ("SSH brute force", "SSH brute force"),
    ("Internal SMB sweep", "Internal SMB sweep"),
]


@pytest.mark.parametrize(("text", "expected"), SCRUB)
def test_scrub(text: str, expected: str) -> None:
    assert REDACTOR.scrub(text, ("srv-dc01",)) == expected


def test_a_text_seen_again_is_judged_anew_by_its_withheld_names() -> None:
    """The verdicts a redactor keeps for a text are those of the settings only: the names
    withheld of one document never redact, nor fail to redact, the same text of another."""
    redactor = Redactor(SharingRedaction(networks=NETWORKS, domains=DOMAINS))
    text = "srv-dc01 to 10.1.2.3 via db.dongnai.gov.vn as khtc"
    middle = "to [redacted] via [redacted] as"
    for _ in range(2):
        assert redactor.scrub(text, ("srv-dc01",)) == f"[redacted] {middle} khtc"
        assert redactor.scrub(text, ("khtc",)) == f"srv-dc01 {middle} [redacted]"
        assert redactor.scrub(text) == f"srv-dc01 {middle} khtc"
        assert redactor.leaks("srv-dc01 only", ("srv-dc01",))
        assert not redactor.leaks("srv-dc01 only")
        assert not redactor.leaks("srv-dc01 only", ("khtc",))


def values(redactor: Redactor, doc: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    return [(o.type, o.value, o.indicated) for o in redactor.shareable(doc).observables]


def test_a_hosts_name_goes_with_its_address() -> None:
    """source.domain / destination.domain are shared only with a shared address: the name
    of an internal host (or of a host without an address) is a host name, and it is then
    withheld everywhere: in URLs and names asked for."""
    doc = {"source": {"ip": "198.51.100.7", "domain": "static-7.hosting.example"},
           "destination": {"ip": "10.20.1.5", "domain": "portal.province.example"},
           "url": {"full": "http://portal.province.example/login", "domain": "cdn.example"},
           "dns": {"question": {"name": "portal.province.example"}}}
    assert values(REDACTOR, doc) == [
        ("ipv4-addr", "198.51.100.7", False),
        ("domain-name", "static-7.hosting.example", False)]  # url.*: the internal server's
    shareable = REDACTOR.shareable(doc)
    assert shareable.withheld == ("cdn.example", "portal.province.example")
    assert shareable.text("attack on portal.province.example") == "attack on [redacted]"
    no_address = {"destination": {"domain": "free-movies.example"}}
    assert values(REDACTOR, no_address) == []


def test_the_names_of_an_internal_server_under_attack_are_withheld() -> None:
    """A web attack on the department's own portal (its address internal, its public name
    in url.domain, the URL and the TLS server name): the portal's names are no indicator of
    the attacker and never leave, in any text either; the attacker's address does. The same
    request to an outside server shares its names (an internal client fetching malware)."""
    attack = {"source": {"ip": "198.51.100.136"},
              "destination": {"ip": "10.20.10.209", "port": 443},
              "url": {"domain": "vanban.binhphuoc.gov.vn",
                      "full": "https://vanban.binhphuoc.gov.vn/upload/shell.php",
                      "original": "https://vanban.binhphuoc.gov.vn/upload/shell.php"},
              "tls": {"client": {"server_name": "vanban.binhphuoc.gov.vn"}}}
    assert values(REDACTOR, attack) == [("ipv4-addr", "198.51.100.136", False)]
    shareable = REDACTOR.shareable(attack)
    assert "vanban.binhphuoc.gov.vn" in shareable.withheld
    assert shareable.text("Web shell upload to vanban.binhphuoc.gov.vn") == (
        "Web shell upload to [redacted]")
    outgoing = {**attack, "source": {"ip": "10.20.1.15"},
                "destination": {"ip": "185.244.25.1", "port": 443}}
    assert values(REDACTOR, outgoing) == [  # the URL and the TLS name once each
        ("ipv4-addr", "185.244.25.1", False),
        ("domain-name", "vanban.binhphuoc.gov.vn", False),
        ("url", "https://vanban.binhphuoc.gov.vn/upload/shell.php", False)]
    no_address = {key: value for key, value in attack.items() if key != "destination"}
    assert ("domain-name", "vanban.binhphuoc.gov.vn", False) in values(REDACTOR, no_address)


def test_only_listed_fields_are_read() -> None:
    """Host and user names, the raw message and every field not listed are never read;
    user and host names found in the document are withheld from the rest."""
    doc = {"host": {"name": "srv-qlvb-01", "ip": ["198.51.100.50"]},
           "user": {"name": "khtc.tran"}, "destination": {"user": {"name": "cntt03"}},
           "observer": {"name": "core-dc", "ip": ["198.51.100.60"]},
           "related": {"ip": ["198.51.100.70"], "hosts": ["pc-ketoan-05"]},
           "source": {"ip": "198.51.100.7", "nat": {"ip": "198.51.100.80"}},
           "client": {"ip": "198.51.100.90"},
           "event": {"original": "from 198.51.100.99 http://evil.example/"},
           "message": "http://evil.example/",
           "dns": {"question": {"name": "srv-qlvb-01.evil.example"},
                   "resolved_ip": ["198.51.100.91"]},
           "url": {"original": "http://evil.example/u/cntt03/x", "domain": "evil.example"},
           "email": {"from": {"address": ["a@evil.example"]}}}
    assert values(REDACTOR, doc) == [("ipv4-addr", "198.51.100.7", False),
                                     ("domain-name", "evil.example", False)]
    assert set(REDACTOR.shareable(doc).withheld) == {
        "srv-qlvb-01", "khtc.tran", "cntt03", "core-dc", "pc-ketoan-05"}


def test_indicators_and_hashes() -> None:
    """threat.indicator.* is read as the sensor's indicator (its name by its type); hashes
    of ECS hash objects and CEF's fileHash by their length; other types are not shared."""
    for kind, name, expected in [
            ("ipv4-addr", "198.51.100.7", ("ipv4-addr", "198.51.100.7", True)),
            ("ipv4-addr", "10.1.2.3", None),
            ("domain-name", "C2.Evil.Example", ("domain-name", "c2.evil.example", True)),
            ("domain-name", "c2.dongnai.gov.vn", None),
            ("url", "http://c2.evil.example/a", ("url", "http://c2.evil.example/a", True)),
            ("file", "A" * 64, ("file", (("SHA-256", "a" * 64),), True)),
            ("file", "not a hash", None),
            ("email-addr", "hoadon@invoice-docs.example", None)]:
        doc = {"threat": {"indicator": {"type": kind, "name": name}}}
        assert values(REDACTOR, doc) == ([expected] if expected else []), (kind, name)
    doc = {"file": {"hash": {"md5": "0" * 32, "sha256": "f" * 64, "sha1": "zz"}},
           "cef": {"file_hash": "1" * 40},
           "threat": {"indicator": {"file": {"hash": {"sha512": "2" * 128}}}}}
    assert values(REDACTOR, doc) == [
        ("file", (("MD5", "0" * 32), ("SHA-256", "f" * 64)), False),
        ("file", (("SHA-512", "2" * 128),), True),
        ("file", (("SHA-1", "1" * 40),), False)]


def test_the_same_value_once_marked_indicated() -> None:
    doc = {"source": {"ip": "198.51.100.7"}, "threat": {"indicator": {"ip": "198.51.100.7"}},
           "url": {"domain": "c2.example"}}
    doc["threat"]["indicator"].update(type="domain-name", name="C2.example")
    assert values(REDACTOR, doc) == [("ipv4-addr", "198.51.100.7", True),
                                     ("domain-name", "c2.example", True)]


def test_a_bad_redaction_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DNS name"):
        Redactor(SharingRedaction(domains=["not a domain"]))


# ------------------------------------------------------------------ the property

V4_NETWORKS = [ipaddress.ip_network(n) for n in NETWORKS if ":" not in n]
V6_NETWORKS = [ipaddress.ip_network(n) for n in NETWORKS if ":" in n]

redacted_v4 = st.sampled_from(V4_NETWORKS).flatmap(
    lambda net: st.ip_addresses(network=str(net)))
public_v4 = st.sampled_from(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.128/25"]).flatmap(
    lambda net: st.ip_addresses(network=net))
redacted_v6 = st.sampled_from(V6_NETWORKS).flatmap(
    lambda net: st.ip_addresses(network=str(net)))
label = st.from_regex(r"[a-m][a-m0-9]{0,6}", fullmatch=True)


def _case(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips + [False] * len(text),
                                                                strict=False))


@st.composite
def internal_address(draw: st.DrawFn) -> str:
    """An address that must not leave, in one of the ways it can be written."""
    form = draw(st.sampled_from(["v4", "mapped", "mapped-hex", "v6"]))
    if form == "v6":
        return str(draw(redacted_v6))
    v4 = draw(redacted_v4)
    if form == "mapped":
        return f"::ffff:{v4}"
    if form == "mapped-hex":
        return str(ipaddress.IPv6Address(f"::ffff:{v4}"))
    return str(v4)


@st.composite
def internal_name(draw: st.DrawFn) -> str:
    base = ".".join(draw(st.lists(label, min_size=1, max_size=3)))
    name = f"{base}.{draw(st.sampled_from(DOMAINS))}"
    return _case(name, draw(st.lists(st.booleans(), max_size=len(name))))


@st.composite
def public_name(draw: st.DrawFn) -> str:
    return ".".join(draw(st.lists(label, min_size=1, max_size=3))) + draw(
        st.sampled_from([".evil.example", ".cdn.test", ".example"]))


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A threat document mixing internal and public values in every field socd reads, and
    the secrets it holds: its host and user names, raw message and message."""
    host = "srvq" + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    user = "userq" + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    inside = draw(st.lists(internal_address(), min_size=1, max_size=4))
    outside = [str(a) for a in draw(st.lists(public_v4, min_size=0, max_size=3))]
    names_in = draw(st.lists(internal_name(), min_size=1, max_size=3))
    names_out = draw(st.lists(public_name(), min_size=0, max_size=3))

    def address() -> str:
        return draw(st.sampled_from(inside + outside))

    def name() -> str:
        spelled = draw(st.sampled_from([a for a in inside if ":" not in a] or ["10.0.0.1"]))
        return draw(st.sampled_from(names_in + names_out + [
            f"{host}.{draw(public_name())}", host,
            f"{draw(label)}.{spelled}.nip.example"]))  # a name that spells an address

    def url() -> str:
        where = draw(st.sampled_from(["name", "address", "query", "encoded", "user"]))
        if where == "address":
            text = address()
            netloc = f"[{text}]" if ":" in text else text
            return f"http://{netloc}/x"
        if where == "query":
            return f"https://{draw(public_name())}/r?next=http://{name()}/&ip={address()}"
        if where == "encoded":
            hidden = "".join(f"%{byte:02X}" for byte in name().encode())
            hidden = draw(st.sampled_from([hidden, quote(hidden)]))  # once or twice
            return f"https://{draw(public_name())}/r?h={hidden}"
        if where == "user":
            return f"http://{draw(public_name())}/home/{user}/x"
        tail = draw(st.sampled_from(["", "'", "\\", "it's\\here", "%27"]))  # pattern escapes
        return f"http://{name()}/{draw(label)}{tail}"

    indicator_type = draw(st.sampled_from(["ipv4-addr", "domain-name", "url", "none"]))
    indicator_name = {"ipv4-addr": address, "domain-name": name, "url": url,
                      "none": lambda: "x"}[indicator_type]()
    original = f"<13>raw {host} {user} {' '.join(inside)} {' '.join(names_in)} {draw(label)}"
    message = f"message {draw(label)} about {host}"
    doc: dict[str, Any] = {
        "@timestamp": "2026-03-02T01:02:03.456Z",
        "event": {"id": "e", "original": original, "module": draw(
            st.sampled_from(["cyradar", "cef", "suricata"]))},
        "message": message,
        "host": {"name": host, "hostname": host, "ip": inside[:1]},
        "user": {"name": user},
        "related": {"hosts": [host], "user": [user], "ip": inside + outside},
        "source": {"ip": address(), "domain": name()},
        "destination": {"ip": address(), "domain": draw(st.sampled_from([name(), host]))},
        "url": {"full": url(), "original": url(), "domain": name()},
        "dns": {"question": {"name": name()}},
        "tls": {"client": {"server_name": name()}},
        "rule": {"name": f"Attack on {name()} from {address()} by {user}",
                 "category": draw(st.sampled_from(["malware", "utm:virus", "scan"]))},
        "threat": {"indicator": {"ip": address(), "type": indicator_type,
                                 "name": indicator_name}},
    }
    threat(doc, rule=f"Rule about {host} and {name()} and {address()}")
    return doc, {"host": host, "user": user, "original": original, "message": message}


IPV4_TEXT = re.compile(r"(?=(?<![0-9])([0-9]{1,3}(?:\.[0-9]{1,3}){3})(?![0-9]))")
IPV6_TEXT = re.compile(r"[0-9a-f]*:[0-9a-f:.]*:[0-9a-f.]*")


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _in(address.ipv4_mapped)
        return any(address in net for net in V6_NETWORKS)
    return any(address in net for net in V4_NETWORKS)


BUILDER = SightingBuilder(sharing_config(redact={"networks": NETWORKS, "domains": DOMAINS}))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_nothing_internal_ever_leaves(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Whatever the document holds, the bundle is valid and its bytes (also decoded from
    percent-encoding) name no address in a redacted range (IPv4-mapped forms included), no
    name equal to or under a redacted domain, and neither the host or user name nor the raw
    message or message."""
    doc, secrets = case
    sighting = BUILDER.build(doc, "doc")
    check_bundle(sighting)
    text = sighting.value.decode().lower()
    for form in (text, unquote(text), unquote(unquote(text))):
        for match in IPV4_TEXT.finditer(form):  # overlapping: 5.10.1.2.3 holds 10.1.2.3
            octets = [int(p) for p in match.group(1).split(".")]
            if max(octets) <= 255:
                assert not _in(ipaddress.IPv4Address(bytes(octets))), match.group(1)
        for match in IPV6_TEXT.finditer(form):
            try:
                address = ipaddress.IPv6Address(match.group().rstrip("."))
            except ValueError:
                continue
            assert not _in(address), match.group()
        for domain in DOMAINS:
            assert domain not in form
        assert secrets["host"] not in form and secrets["user"] not in form
    assert secrets["original"].lower() not in text
    assert secrets["message"].lower() not in text


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF,
                             blacklist_categories=("Cs", "Cc", "Zs")), max_size=24))
def test_every_indicator_pattern_parses(path: str) -> None:
    """Whatever a shared URL holds (quotes, backslashes, brackets, non-ASCII), the
    indicator's STIX pattern passes the library's pattern validator (in ``stix2.parse``)."""
    url = f"http://c2.evil.example/{path}"
    doc = threat({"@timestamp": "2026-03-02T01:02:03.456Z", "event": {"module": "zeek"},
                  "threat": {"indicator": {"type": "url", "name": url}}})
    bundle = check_bundle(BUILDER.build(doc, "pattern"))
    patterns = [obj["pattern"] for obj in bundle["objects"] if obj["type"] == "indicator"]
    if BUILDER.redactor.url(url) is not None:
        assert patterns and patterns[0].startswith("[url:value = '")
