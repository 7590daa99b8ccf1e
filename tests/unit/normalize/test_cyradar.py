"""The Cyradar-style connector: DESIGN.md's schema → ECS, bad messages → InputError."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from socd.errors import DecodeError, InputError, NormalizeError
from socd.normalize import build_normalizer

EXAMPLE: dict[str, Any] = {
    "alert_id": "4f1c", "detected_at": "2020-06-15T08:12:44+07:00",
    "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
    "severity": 8, "category": "apt_c2", "threat_name": "OceanLotus C2 beacon",
    "src": {"ip": "10.20.1.15", "port": 52344, "hostname": "ws-ketoan-02"},
    "dst": {"ip": "185.244.25.1", "port": 443, "domain": "update-cdn.example"},
    "protocol": "tcp", "action": "blocked",
    "ioc": {"type": "domain", "value": "update-cdn.example", "confidence": 90},
    "mitre": ["T1071.001"],
}


def normalize(event: dict[str, Any] | bytes, **kwargs: Any) -> dict[str, Any]:
    connector = build_normalizer("cyradar", sensor="fallback-sensor",
                                 timezone="Asia/Ho_Chi_Minh", **kwargs)
    raw = event if isinstance(event, bytes) else orjson.dumps(event)
    return connector.normalize(raw)


def test_design_example_maps_to_ecs() -> None:
    """Every field of the documented example lands in its ECS field, in UTC."""
    doc = normalize(EXAMPLE)
    assert doc["@timestamp"] == "2020-06-15T01:12:44.000Z"
    assert doc["event"]["id"] == "4f1c"
    assert doc["event"]["severity"] == 8
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["action"] == "blocked"
    assert doc["event"]["type"] == ["indicator", "denied"]
    assert doc["rule"] == {"category": "apt_c2", "name": "OceanLotus C2 beacon"}
    assert doc["observer"]["name"] == "core-dc"
    assert doc["organization"]["name"] == "So TTTT Binh Phuoc"
    assert doc["source"] == {"ip": "10.20.1.15", "port": 52344, "domain": "ws-ketoan-02"}
    assert doc["destination"] == {"ip": "185.244.25.1", "port": 443,
                                  "domain": "update-cdn.example"}
    assert doc["network"]["transport"] == "tcp"
    assert doc["threat"]["indicator"] == {"type": "domain-name", "name": "update-cdn.example",
                                          "confidence": "High"}
    assert doc["threat"]["technique"]["id"] == ["T1071.001"]
    assert doc["threat"]["framework"] == "MITRE ATT&CK"
    assert orjson.loads(doc["event"]["original"]) == EXAMPLE


def test_minimal_event_and_observer_fallback() -> None:
    """Only the required fields: the input's sensor becomes observer.name."""
    doc = normalize({"alert_id": "x", "detected_at": "2020-06-15T08:12:44+0700",
                     "severity": "3", "category": "SCAN"}, keep_original=False)
    assert doc["observer"]["name"] == "fallback-sensor"
    assert doc["event"]["severity"] == 3
    assert doc["rule"]["category"] == "scan"
    assert "original" not in doc["event"]
    assert "source" not in doc and "threat" not in doc


@pytest.mark.parametrize(("stamp", "utc"), [
    ("2020-06-15T08:12:44+07:00", "2020-06-15T01:12:44.000Z"),
    ("2020-06-15T08:12:44.5+0700", "2020-06-15T01:12:44.500Z"),
    ("2020-06-15T08:12:44Z", "2020-06-15T08:12:44.000Z"),
    ("2020-06-15T08:12:44", "2020-06-15T01:12:44.000Z"),  # no offset: the input's zone
    (1592183564, "2020-06-15T01:12:44.000Z"),               # epoch seconds
    (1592183564250, "2020-06-15T01:12:44.250Z"),            # epoch milliseconds
])
def test_timestamps_to_utc(stamp: Any, utc: str) -> None:
    """Offsets with or without a colon, none, epoch s or ms: all become UTC."""
    assert normalize({**EXAMPLE, "detected_at": stamp})["@timestamp"] == utc


def test_invalid_optional_values_left_out_and_named() -> None:
    """An invalid IP or port never reaches its field; socd.warnings says what was dropped."""
    doc = normalize({**EXAMPLE, "src": {"ip": "24.273.97.14", "port": 70000},
                     "ioc": {"type": "weird", "value": "v", "confidence": "high"}})
    assert "source" not in doc
    warnings = "\n".join(doc["socd"]["warnings"])
    assert "source.ip" in warnings and "24.273.97.14" in warnings
    assert "source.port" in warnings and "threat.indicator.type" in warnings


@pytest.mark.parametrize(("mutation", "needle"), [
    ({"alert_id": None}, "alert_id"),
    ({"detected_at": "yesterday"}, "detected_at"),
    ({"severity": 11}, "severity"),
    ({"severity": "high"}, "severity"),
    ({"category": {"nested": 1}}, "category"),
])
def test_required_fields_missing_or_wrong(mutation: dict[str, Any], needle: str) -> None:
    """A required field missing or unfit rejects the message with the field's name."""
    event = {**EXAMPLE, **mutation}
    event = {k: v for k, v in event.items() if v is not None}
    with pytest.raises(NormalizeError) as caught:
        normalize(event)
    assert needle in caught.value.detail
    assert caught.value.reason == "invalid_event"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"not json", "not_json"),
    (b"[1, 2]", "not_json"),
    (b'{"alert_id": "\xff"}', "not_utf8"),
    (b"[" * 100_000, "not_json"),
])
def test_undecodable_bytes(raw: bytes, reason: str) -> None:
    """Bytes that are not a JSON object fail with the dead-letter reason for it."""
    with pytest.raises(DecodeError) as caught:
        normalize(raw)
    assert caught.value.reason == reason
    assert isinstance(caught.value, InputError)
