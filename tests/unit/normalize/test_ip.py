"""Every ``ip`` value is written as Elasticsearch shows an ``ip`` field: an IPv4-mapped IPv6
address as its IPv4 address, IPv6 in RFC 5952's compressed lower case, without a scope."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.normalize import build_normalizer
from socd.normalize.convert import to_ip, to_ip_list


def normalize(connector: str, message: dict[str, Any] | str) -> dict[str, Any]:
    norm = build_normalizer(connector, sensor="s", timezone="Asia/Ho_Chi_Minh",
                            keep_original=False)
    raw = message.encode() if isinstance(message, str) else orjson.dumps(message)
    return norm.normalize(raw)


def test_wazuh_mapped_source_ip() -> None:
    """The issue's alert: data.srcip ::ffff:172.16.5.9 is source.ip 172.16.5.9."""
    doc = normalize("wazuh", {"timestamp": "2024-05-01T10:00:00+07:00",
                              "rule": {"id": "5712", "level": 10, "description": "ssh"},
                              "data": {"srcip": "::ffff:172.16.5.9"}})
    assert doc["source"]["ip"] == "172.16.5.9"


@pytest.mark.parametrize(("connector", "message", "field"), [
    ("cyradar", {"alert_id": "a", "detected_at": "2024-05-01T10:00:00Z", "severity": 5,
                 "category": "scan", "src": {"ip": "::FFFF:10.0.0.1"}}, ("source", "ip")),
    ("suricata", {"timestamp": "2024-05-01T10:00:00Z", "event_type": "alert",
                  "dest_ip": "::ffff:a00:1"}, ("destination", "ip")),
    ("cef", "CEF:0|v|p|1|2|n|5|src=0:0:0:0:0:ffff:10.0.0.1", ("source", "ip")),
    ("leef", "LEEF:1.0|v|p|1|2|dst=::ffff:10.0.0.1", ("destination", "ip")),
    ("zeek", {"ts": 1700000000, "note": "Scan::Port_Scan", "id.orig_h": "::ffff:10.0.0.1"},
     ("source", "ip")),
    ("ecs", {"@timestamp": "2024-05-01T10:00:00Z", "source": {"nat": {"ip": "::ffff:10.0.0.1"}}},
     ("source", "nat", "ip")),
    ("ecs", {"@timestamp": "2024-05-01T10:00:00Z", "client.ip": "::ffff:10.0.0.1"},
     ("client", "ip")),
])
def test_every_connector_writes_mapped_addresses_as_ipv4(
        connector: str, message: dict[str, Any] | str, field: tuple[str, ...]) -> None:
    """Whatever the connector (ECS passthrough included, for every ECS ip field)."""
    node: Any = normalize(connector, message)
    for part in field:
        node = node[part]
    assert node == "10.0.0.1"


def test_ip_lists() -> None:
    """ips lists: each address in Elasticsearch's form (ECS passthrough host.ip, CEF dvc)."""
    doc = normalize("ecs", {"@timestamp": "2024-05-01T10:00:00Z",
                            "host": {"ip": ["::ffff:10.0.0.1", "FE80::1%eth0", "10.0.0.2"]},
                            "dns": {"resolved_ip": "::ffff:10.0.0.3"}})
    assert doc["host"]["ip"] == ["10.0.0.1", "fe80::1", "10.0.0.2"]
    assert doc["dns"]["resolved_ip"] == ["10.0.0.3"]
    assert normalize("cef", "CEF:0|v|p|1|2|n|5|dvc=::ffff:10.0.0.9")["observer"]["ip"] == [
        "10.0.0.9"]
    assert to_ip_list(["::ffff:1.2.3.4", "", None, "1.2.3.5"]) == ["1.2.3.4", "1.2.3.5"]


@pytest.mark.parametrize(("written", "shown"), [
    ("172.16.5.9", "172.16.5.9"),
    (" 172.16.5.9 ", "172.16.5.9"),
    ("::ffff:172.16.5.9", "172.16.5.9"),
    ("::ffff:ac10:509", "172.16.5.9"),
    ("0000:0000:0000:0000:0000:FFFF:AC10:0509", "172.16.5.9"),
    ("::ffff:172.16.5.9%eth0", "172.16.5.9"),
    ("2001:DB8:0:0:0:0:0:0001", "2001:db8::1"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # RFC 5952: one 0 group stays
    ("fe80::1%eth0", "fe80::1"),                      # Elasticsearch drops a scope
    ("::1.2.3.4", "::102:304"),                      # IPv4-compatible: not mapped
    ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),        # IPv4-translated: not mapped
    ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),        # NAT64: not mapped
    ("::", "::"),
])
def test_forms(written: str, shown: str) -> None:
    """Examples of each kind."""
    assert to_ip(written) == shown


@pytest.mark.parametrize("value", ["24.273.97.14", "010.0.0.1", "1.2.3", "[::1]", "::ffff::1",
                                   "1.2.3.4%eth0", "", "fe80::1%", 17, None])
def test_not_addresses(value: Any) -> None:
    """Refused as Elasticsearch would refuse them."""
    with pytest.raises(ValueError, match="IP address"):
        to_ip(value)


@given(st.ip_addresses(v=4))
def test_mapped_ipv4_is_its_ipv4(address: ipaddress.IPv4Address) -> None:
    """Any IPv4 address, in any mapped form, is written as itself."""
    v6 = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    for written in (f"::ffff:{address}", str(v6), v6.exploded, v6.exploded.upper(),
                    f"::FFFF:{address}", f"0:0:0:0:0:ffff:{address}"):
        assert to_ip(written) == str(address)
    assert to_ip(str(address)) == str(address)


@given(st.ip_addresses(v=6))
def test_ipv6_forms_agree(address: ipaddress.IPv6Address) -> None:
    """Every written form of an IPv6 address gives one text: lower case, compressed, no
    scope, a fixed point; an IPv4-mapped one is its IPv4 address."""
    forms = {to_ip(written) for written in (str(address), address.exploded,
                                            address.exploded.upper(), f"{address}%1")}
    assert len(forms) == 1
    shown = forms.pop()
    assert to_ip(shown) == shown
    if address.ipv4_mapped is not None:
        assert shown == str(address.ipv4_mapped)
    else:
        assert shown == shown.lower() and "%" not in shown
        assert ipaddress.IPv6Address(shown) == address
