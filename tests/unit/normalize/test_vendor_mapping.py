"""A vendor added without code: a mapping file over the CEF decoder (UniFi IPS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from socd.errors import ConnectorError
from socd.normalize import build_normalizer, iter_messages
from tests.unit.normalize.conftest import run_sample

MAPPING = Path(__file__).resolve().parents[2] / "files" / "connectors" / "unifi-ips.yaml"


def documents(shared: Path, name: str) -> list[dict[str, Any]]:
    norm = build_normalizer(str(MAPPING), sensor="udm", timezone="Europe/Brussels")
    return [norm.normalize(raw) for _, raw in iter_messages(shared / "samples" / name, "cef")]


def test_unifi_ips_alerts(shared_dir: Path) -> None:
    """The IPS's own keys give the ET signature, its risk and its UTC time."""
    docs = documents(shared_dir, "cef/crowdsec_unifi-cef-logs.log")
    assert [doc["rule"]["id"] for doc in docs] == ["544", "2402000", "2402000"]
    alert = docs[1]
    assert alert["rule"]["name"] == "ET DROP Dshield Block Listed Source group 1"
    assert alert["event"]["severity"] == 5 and alert["unifi"]["risk"] == "medium"
    assert alert["@timestamp"] == "2025-08-30T17:53:21.915Z"
    assert alert["observer"] == {"vendor": "Ubiquiti", "product": "UniFi Network",
                                 "type": "ips", "hostname": "Express 7",
                                 "ip": ["192.168.0.1"], "version": "9.4.19", "name": "udm"}


def test_same_signature_as_suricata(shared_dir: Path) -> None:
    """The UniFi IPS and Suricata name the same ET signature by the same rule.id."""
    unifi = {doc["rule"]["id"] for doc in documents(shared_dir, "cef/crowdsec_cef-logs.log")}
    suricata = {doc["rule"]["id"]
                for doc in run_sample(shared_dir, "suricata/oak_eve_2013_subset.json").documents
                if "rule" in doc}
    assert "2402000" in unifi & suricata


def test_a_wrong_vendor_mapping_is_refused(tmp_path: Path) -> None:
    """A typo in the user's file stops start-up naming the file, line and key."""
    wrong = tmp_path / "unifi.yaml"
    wrong.write_text(MAPPING.read_text().replace("type: ips}", "type: ipz}"))
    with pytest.raises(ConnectorError) as caught:
        build_normalizer(str(wrong), sensor="s", timezone="UTC")
    assert "unifi.yaml:18: fields.observer.ip.type" in str(caught.value)
