"""User mapping files: every key's behaviour, and precise errors for a wrong file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.errors import ConnectorError, NormalizeError
from socd.normalize import build_normalizer

ACME = """\
name: acme-ndr
namespace: acme
format: json
logsource: {product: acme}
fields:
  "@timestamp": {from: time, type: timestamp, required: true}
  event.id: {from: [uuid, id], required: true}
  event.severity: {from: risk, type: integer, min: 1, max: 10}
  source.ip: {from: src.addr, type: ip}
  source.port: {from: "id.orig_p", type: port}
  threat.indicator.confidence:
    from: score
    type: float
    thresholds: [[0, Low], [40, Medium], [70, High]]
  event.type:
    from: verdict
    map: {drop: [indicator, denied], pass: [indicator, allowed]}
    default: [indicator]
  threat.framework: {from: techniques, type: strings, value: MITRE ATT&CK}
  threat.technique.id: {from: techniques, type: strings}
  event.action: {from: verdict, lowercase: true}
  acme.flag: {from: flag, type: boolean}
set:
  event.kind: alert
  observer.vendor: ACME
"""


def connector(tmp_path: Path, text: str = ACME) -> Any:
    path = tmp_path / "acme.yaml"
    path.write_text(text)
    return build_normalizer(str(path), sensor="acme-1", timezone="UTC", keep_original=False)


def test_every_field_key_behaves(tmp_path: Path) -> None:
    """from-lists, literal dotted keys, thresholds, map, value, lowercase, boolean, set."""
    doc = connector(tmp_path).normalize(orjson.dumps({
        "time": 1700000000, "id": "e-1", "risk": "7", "src": {"addr": "192.0.2.1"},
        "id.orig_p": "443", "score": 55, "verdict": "DROP", "techniques": "T1110",
        "flag": "yes"}))
    assert doc == {
        "@timestamp": "2023-11-14T22:13:20.000Z",
        "event": {"kind": "alert", "id": "e-1", "severity": 7, "type": ["indicator", "denied"],
                  "action": "drop"},
        "observer": {"vendor": "ACME", "name": "acme-1"},
        "source": {"ip": "192.0.2.1", "port": 443},
        "threat": {"indicator": {"confidence": "Medium"}, "framework": "MITRE ATT&CK",
                   "technique": {"id": ["T1110"]}},
        "acme": {"flag": True},
    }


def test_defaults_and_fresh_objects(tmp_path: Path) -> None:
    """A missing mapped field takes its default, and no two documents share objects."""
    normalize = connector(tmp_path).normalize
    first = normalize(b'{"time": "2024-01-01T00:00:00Z", "uuid": "a"}')
    second = normalize(b'{"time": "2024-01-01T00:00:00Z", "uuid": "b"}')
    assert first["event"]["type"] == ["indicator"]
    first["event"]["type"].append("changed")
    assert second["event"]["type"] == ["indicator"]


def test_unfit_optional_values_are_warned_not_written(tmp_path: Path) -> None:
    """Out-of-range, unknown map values and invalid IPs are left out and named."""
    doc = connector(tmp_path).normalize(orjson.dumps({
        "time": "2024-01-01T00:00:00Z", "uuid": "a", "risk": 12, "src": {"addr": "000.1.2.3"},
        "verdict": "maybe"}))
    assert doc["event"]["type"] == ["indicator"]  # the map's default
    assert "severity" not in doc["event"]
    assert "source" not in doc
    warned = " | ".join(doc["socd"]["warnings"])
    assert "event.severity left out: risk: 12 is outside 1.0..10.0" in warned
    assert "source.ip left out: src.addr" in warned


def test_required_field_from_any_alternative(tmp_path: Path) -> None:
    """With neither alternative present, the message is rejected naming both."""
    with pytest.raises(NormalizeError) as caught:
        connector(tmp_path).normalize(b'{"time": 1}')
    assert "uuid or id" in caught.value.detail


@pytest.mark.parametrize(("text", "needles"), [
    (ACME.replace("type: port", "type: portnumber"), ["acme.yaml:10", "fields.source.port.type"]),
    (ACME.replace("required: true}", "requird: true}", 1),
     ["acme.yaml:6", "fields.@timestamp.requird", "unknown key"]),
    (ACME.replace("map: {drop", "value: x\n    map: {drop"), ["use one of map"]),
    (ACME + "  source.ip: 192.0.2.9\n", ["source.ip is both a field and a constant"]),
    (ACME + "  source: {ip: 1}\n", ["source.ip would go inside source"]),
    ("name: Bad Name\nfields: {}\n", ["acme.yaml:1", "name"]),
    ("fields: [\n", ["not valid YAML"]),
])
def test_wrong_mapping_files_name_line_and_key(tmp_path: Path, text: str,
                                                needles: list[str]) -> None:
    """A wrong mapping file stops start-up with the file, line and key at fault."""
    with pytest.raises(ConnectorError) as caught:
        connector(tmp_path, text)
    message = str(caught.value)
    for needle in needles:
        assert needle in message


def test_unknown_connector_name_lists_the_known_ones() -> None:
    """An unknown name says which names exist."""
    with pytest.raises(ConnectorError, match=r"unknown connector 'nope'.*cyradar"):
        build_normalizer("nope", sensor="s", timezone="UTC")


def test_the_documented_example_loads_and_runs(tmp_path: Path) -> None:
    """The example of connectors/README.md ("Mapping files") is a working mapping file."""
    readme = (Path(__file__).resolve().parents[3] / "connectors" / "README.md").read_text()
    section = readme[readme.index("## Mapping files"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", 10)]
    doc = connector(tmp_path, example).normalize(orjson.dumps({
        "time": "2024-01-31T08:00:00+07:00", "uuid": "u-1", "risk": 7, "src_addr": "0.0.0.0",
        "app": "FTP-DATA", "ioc_kind": "IP", "ioc": "2001:db8::9", "score": 75,
        "verdict": "drop", "flag": "yes"}))
    assert doc == {
        "@timestamp": "2024-01-31T01:00:00.000Z",
        "event": {"kind": "alert", "id": "u-1", "severity": 7,
                  "type": ["indicator", "denied"]},
        "observer": {"vendor": "ACME", "name": "acme-1"},
        "network": {"protocol": "ftp"},
        "threat": {"indicator": {"ip": "2001:db8::9", "type": "ipv6-addr",
                                 "confidence": "High"}},
        "related": {"ip": ["2001:db8::9"]},
        "acme": {"flag": True},
    }
