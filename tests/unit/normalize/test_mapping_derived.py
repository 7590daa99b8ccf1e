"""Fields that depend on the value they map: an address indicator's ECS type follows the
address's family, network.type the family of the addresses, related.ip every address the
document holds; and the mapping-language keys that say so (family, of, all, when, cases)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.normalize import Normalizer, build_normalizer
from tests.unit.normalize.sensor_messages import normalize

# -- the example of the issue: Cyradar's address indicators -------------------------------------

@pytest.mark.parametrize(("ioc_type", "value", "indicator"), [
    ("ip", "185.244.25.1", {"type": "ipv4-addr", "ip": "185.244.25.1"}),
    ("ip", "2001:db8::7", {"type": "ipv6-addr", "ip": "2001:db8::7"}),
    ("ip", "2001:DB8:0::7", {"type": "ipv6-addr", "ip": "2001:db8::7"}),
    ("ipv4", "2001:db8::7", {"type": "ipv6-addr", "ip": "2001:db8::7"}),  # the value decides
    ("ipv6", "185.244.25.1", {"type": "ipv4-addr", "ip": "185.244.25.1"}),
    ("IP", "185.244.25.1", {"type": "ipv4-addr", "ip": "185.244.25.1"}),
    ("domain", "185.244.25.1", {"type": "domain-name"}),   # a label that is not an address
    ("url", "http://x.example/a", {"type": "url"}),
])
def test_cyradar_indicator_type_follows_the_address(ioc_type: str, value: str,
                                                    indicator: dict[str, str]) -> None:
    """ioc.type ip with an IPv6 value is an ipv6-addr indicator (and threat.indicator.ip)."""
    doc = normalize("cyradar", {"ioc": {"type": ioc_type, "value": value}})
    assert doc["threat"]["indicator"] == {**indicator, "name": value}
    assert "socd" not in doc


def test_cyradar_address_indicator_that_is_no_address() -> None:
    """An "ip" indicator whose value is not an address gets no type and no ip, and says so."""
    doc = normalize("cyradar", {"ioc": {"type": "ip", "value": "evil.example"}})
    assert doc["threat"]["indicator"] == {"name": "evil.example"}
    assert doc["socd"]["warnings"] == [
        "threat.indicator.ip left out: ioc.value: 'evil.example' is not an IP address"]


@pytest.mark.parametrize(("indicator_type", "value", "indicator"), [
    ("Intel::ADDR", "192.0.2.7", {"type": "ipv4-addr", "ip": "192.0.2.7"}),
    ("Intel::ADDR", "2001:db8::7", {"type": "ipv6-addr", "ip": "2001:db8::7"}),
    ("Intel::SUBNET", "10.0.0.0/8", {"type": "ipv4-addr"}),
    ("Intel::SUBNET", "2001:db8::/32", {"type": "ipv6-addr"}),
    ("Intel::DOMAIN", "192.0.2.7", {"type": "domain-name"}),
])
def test_zeek_indicator_type_follows_the_address(indicator_type: str, value: str,
                                                 indicator: dict[str, str]) -> None:
    """Zeek's Intel::ADDR and Intel::SUBNET take the family of the address or network."""
    doc = normalize("zeek", {"seen.indicator": value, "seen.indicator_type": indicator_type})
    assert doc["threat"]["indicator"] == {**indicator, "name": value}


# -- network.type and related.ip, every shipped connector ---------------------------------------

ENDPOINTS = {
    "cyradar": ("src.ip", "dst.ip"), "suricata": ("src_ip", "dest_ip"),
    "wazuh": ("data.srcip", "data.dstip"), "zeek": ("id.orig_h", "id.resp_h"),
    "cef": ("src", "dst"), "leef": ("src", "dst"),
}
ADDRESSES = st.one_of(st.none(), st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


@pytest.mark.parametrize("connector", sorted(ENDPOINTS))
@settings(max_examples=60, deadline=None)
@given(source=ADDRESSES, destination=ADDRESSES)
def test_network_type_and_related_ip_follow_the_addresses(connector: str, source: str | None,
                                                         destination: str | None) -> None:
    """network.type is the family of source.ip (else destination.ip); related.ip lists the
    addresses once each, in order."""
    src_key, dst_key = ENDPOINTS[connector]
    doc = normalize(connector, {src_key: source, dst_key: destination})
    written = [doc.get(end, {}).get("ip") for end in ("source", "destination")]
    first = next((ip for ip in written if ip is not None), None)
    network = doc.get("network", {})
    if first is None:
        assert "type" not in network and "related" not in doc
        return
    assert network["type"] == f"ipv{ipaddress.ip_address(first).version}"
    assert doc["related"]["ip"] == list(dict.fromkeys(ip for ip in written if ip))
    for ip in written:  # canonical, as an ip field holds it
        assert ip is None or ip == str(ipaddress.ip_address(ip))


@pytest.mark.parametrize(("connector", "values", "related"), [
    ("cef", {"src": "10.0.0.1", "dst": "192.0.2.1", "sourceTranslatedAddress": "198.51.100.1",
             "destinationTranslatedAddress": "10.0.0.1"},
     ["10.0.0.1", "192.0.2.1", "198.51.100.1"]),
    ("leef", {"src": "10.0.0.1", "srcPostNAT": "198.51.100.1"}, ["10.0.0.1", "198.51.100.1"]),
    ("wazuh", {"data": {"srcip": "10.0.0.1"}, "agent": {"ip": "10.0.0.9"}},
     ["10.0.0.1", "10.0.0.9"]),
    ("cyradar", {"src": {"ip": "10.0.0.1"}, "ioc": {"type": "ip", "value": "2001:db8::1"}},
     ["10.0.0.1", "2001:db8::1"]),
    ("zeek", {"id.orig_h": "10.0.0.1", "seen.indicator": "10.0.0.1",
              "seen.indicator_type": "Intel::ADDR"}, ["10.0.0.1"]),
    ("suricata", {"src_ip": "10.0.0.1", "dest_ip": "bogus"}, ["10.0.0.1"]),
])
def test_related_ip_gathers_every_address(connector: str, values: dict[str, Any],
                                          related: list[str]) -> None:
    """NAT addresses, the host, the indicator: every address of the document, once."""
    assert normalize(connector, values)["related"]["ip"] == related


# -- the keys of the mapping language ----------------------------------------------------------

def mapping(tmp_path: Path, fields: str) -> Normalizer:
    path = tmp_path / "acme.yaml"
    path.write_text(f"name: acme\nfields:\n{fields}")
    return build_normalizer(str(path), sensor="s", timezone="UTC", keep_original=False)


def test_cases_take_the_first_whose_when_holds(tmp_path: Path) -> None:
    """Cases are tried in order; `when` compares the message's value as text, ignoring case
    (a number as its text); the last case without `when` takes the rest."""
    norm = mapping(tmp_path, """\
  threat.indicator.type:
    - {when: {kind: [ip, 4]}, from: value, family: {ipv4: ipv4-addr, ipv6: ipv6-addr}}
    - {when: {kind: hash, algo: [md5, sha256]}, from: kind, value: file}
    - {from: kind, map: {domain: domain-name}}
""")
    def kind(event: dict[str, Any]) -> Any:
        return norm.normalize(orjson.dumps(event)).get("threat", {}).get("indicator")

    assert kind({"kind": "IP", "value": "::1"}) == {"type": "ipv6-addr"}
    assert kind({"kind": 4, "value": "10.1.2.3"}) == {"type": "ipv4-addr"}
    assert kind({"kind": "hash", "algo": "SHA256"}) == {"type": "file"}
    assert kind({"kind": "hash", "algo": "crc"}) is None  # falls to the map: not in it
    assert kind({"kind": "domain"}) == {"type": "domain-name"}
    assert kind({}) is None


def test_of_reads_the_document_and_all_gathers(tmp_path: Path) -> None:
    """`of` reads fields written above (after their conversion), `all` writes every present
    value once, in order; an unfit one is left out and named."""
    norm = mapping(tmp_path, """\
  source.ip: {from: s}
  destination.ip: {from: d}
  related.ip: {of: [source.ip, destination.ip], all: true}
  related.hosts: {from: [h1, h2, h3], all: true, lowercase: true}
  network.type: {of: [source.ip, destination.ip], family: {ipv4: ipv4, ipv6: ipv6}}
""")
    doc = norm.normalize(orjson.dumps({"s": "10.0.0.1", "d": "10.0.0.1", "h1": "A.example",
                                       "h2": ["b.example", "a.example", ""], "h3": 5}))
    assert doc["related"] == {"ip": ["10.0.0.1"], "hosts": ["a.example", "b.example", "5"]}
    assert doc["network"] == {"type": "ipv4"}
    doc = norm.normalize(orjson.dumps({"s": "bad", "d": "::1"}))
    assert doc["related"] == {"ip": ["::1"]} and doc["network"] == {"type": "ipv6"}
    assert doc["socd"]["warnings"] == ["source.ip left out: s: 'bad' is not an IP address"]


def test_family_of_an_address_or_network(tmp_path: Path) -> None:
    """family reads an address or a network; null writes nothing; anything else is named."""
    norm = mapping(tmp_path, "  network.type: {from: a, family: {ipv4: ipv4, ipv6: null}}\n")
    assert norm.normalize(b'{"a": "10.0.0.0/8"}')["network"] == {"type": "ipv4"}
    assert "network" not in norm.normalize(b'{"a": "::1"}')
    doc = norm.normalize(b'{"a": "nope"}')
    assert doc["socd"]["warnings"] == [
        "network.type left out: a: 'nope' is not an IP address or network"]


def test_replace_keeps_what_it_does_not_list(tmp_path: Path) -> None:
    """replace changes the listed values (compared ignoring case) and keeps the others."""
    norm = mapping(tmp_path, "  network.protocol: {from: p, lowercase: true, "
                             "replace: {ftp-data: ftp, http_any: http}}\n")
    got = [norm.normalize(orjson.dumps({"p": p})).get("network", {}).get("protocol")
           for p in ("FTP-DATA", "http_any", "SSH", 7)]
    assert got == ["ftp", "http", "ssh", "7"]


@pytest.mark.parametrize("constant", ['""', '"-"'])
def test_of_reads_a_written_placeholder_as_none(tmp_path: Path, constant: str) -> None:
    """A constant that is empty or a placeholder of the file, read back with `of`, counts as
    missing there too: the next field is read."""
    path = tmp_path / "acme.yaml"
    path.write_text(f"name: acme\nnull_values: [\"-\"]\nfields:\n"
                    f"  rule.name: {{from: a, map: {{x: {constant}}}}}\n"
                    "  rule.ruleset: {from: b}\n"
                    "  rule.description: {of: [rule.name, rule.ruleset]}\n")
    norm = build_normalizer(str(path), sensor="s", timezone="UTC", keep_original=False)
    assert norm.normalize(b'{"a": "x", "b": "r"}')["rule"]["description"] == "r"
