"""Vendor placeholders ("failed", "-", "(empty)", "any", 0.0.0.0 for "no NAT" …) never reach
an ECS field: each connector declares its vendor's (``null_values``, per file or per field)
and a placeholder counts as a missing value, silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.normalize import build_normalizer, builtin_connectors
from socd.normalize.ecs import ecs_field
from socd.normalize.mapping import load_mapping_file
from socd.normalize.paths import lookup
from tests.unit.normalize.sensor_messages import FORMATS, normalize, settable

# -- the example of the issue ------------------------------------------------------------------

@pytest.mark.parametrize(("app_proto", "protocol"), [
    ("failed", None),     # Suricata: protocol detection failed
    ("unknown", None),    # Suricata 8: not known yet
    ("ftp-data", "ftp"),  # an FTP data channel is FTP (as Elastic's Suricata pipeline has it)
    ("FTP-DATA", "ftp"),
    ("http", "http"),
    ("HTTP2", "http2"),
    ("dns", "dns"),
])
def test_suricata_app_proto(app_proto: str, protocol: str | None) -> None:
    """`"app_proto": "failed"` gives no network.protocol (and no warning); ftp-data is ftp."""
    doc = normalize("suricata", {"app_proto": app_proto})
    assert doc.get("network", {}).get("protocol") == protocol
    assert "socd" not in doc


# -- each connector's own: a table of real placeholders ----------------------------------------

PLACEHOLDERS: list[tuple[str, dict[str, Any], str]] = [
    ("suricata", {"event_type": "tls", "tls": {"version": "UNDETERMINED"}}, "tls.version"),
    ("suricata", {"event_type": "tls", "tls": {"version": "UNDETERMINED"}},
     "tls.version_protocol"),
    ("wazuh", {"agent": {"ip": "any"}}, "host.ip"),
    ("wazuh", {"data": {"srcip": "-"}}, "source.ip"),
    ("wazuh", {"data": {"srcip": "0.0.0.0"}}, "source.ip"),
    ("wazuh", {"data": {"dstip": "::"}}, "destination.ip"),
    ("wazuh", {"data": {"srcuser": "(no user)"}}, "source.user.name"),
    ("wazuh", {"data": {"dstuser": "(none)"}}, "user.name"),
    ("wazuh", {"data": {"srcport": "-"}}, "source.port"),
    ("wazuh", {"data": {"vulnerability": {"severity": "-"}}}, "vulnerability.severity"),
    ("cef", {"sourceTranslatedAddress": "0.0.0.0"}, "source.nat.ip"),
    ("cef", {"sourceTranslatedPort": "0"}, "source.nat.port"),
    ("cef", {"destinationTranslatedAddress": "0.0.0.0"}, "destination.nat.ip"),
    ("cef", {"destinationTranslatedPort": "0"}, "destination.nat.port"),
    ("cef", {"suser": "Unknown"}, "source.user.name"),
    ("cef", {"app": "unknown-tcp"}, "network.application"),
    ("cef", {"act": "N/A"}, "event.action"),
    ("cef", {"dhost": "-"}, "destination.domain"),
    ("leef", {"srcPostNAT": "0.0.0.0"}, "source.nat.ip"),
    ("leef", {"dstPostNATPort": "0"}, "destination.nat.port"),
    ("leef", {"usrName": "unknown"}, "user.name"),
    ("leef", {"proto": "-"}, "network.transport"),
    ("zeek", {"id.orig_h": "-"}, "source.ip"),
    ("zeek", {"proto": "unknown_transport"}, "network.transport"),
    ("zeek", {"sub": "(empty)"}, "zeek.notice.sub"),
    ("zeek", {"msg": "-", "seen.indicator": "evil.example"}, "message"),
]


@pytest.mark.parametrize(("connector", "values", "target"), PLACEHOLDERS)
def test_vendor_placeholders_are_no_values(connector: str, values: dict[str, Any],
                                           target: str) -> None:
    """The placeholder is read as a missing value: the field is left out (or taken from the
    next source), and no warning is written for it."""
    doc = normalize(connector, values)
    found = lookup(doc, target)
    assert found is None or found == "evil.example", doc
    assert "socd" not in doc, doc["socd"]


def test_a_real_value_beside_a_placeholder_is_kept() -> None:
    """Only the placeholder goes: a real translated address and port are written."""
    doc = normalize("cef", {"sourceTranslatedAddress": "192.0.2.9", "sourceTranslatedPort": "0",
                            "destinationTranslatedAddress": "0.0.0.0",
                            "destinationTranslatedPort": "8443"})
    assert doc["source"]["nat"] == {"ip": "192.0.2.9"}
    assert doc["destination"]["nat"] == {"port": 8443}


def declared() -> list[tuple[str, str, str, str]]:
    """(connector, target, source, placeholder) for every placeholder every shipped connector
    declares, per file or per field."""
    rows = []
    for name, path in sorted(builtin_connectors().items()):
        if name not in FORMATS:
            continue
        spec = load_mapping_file(path)
        for target, cases in spec.targets():
            case = cases[-1]
            if len(cases) > 1 or case.when is not None or not case.sources:
                continue
            for text in sorted(set(spec.null_values) | case.nulls):
                for source in case.sources:
                    if settable(name, source) and text:
                        rows.append((name, target, source, text))
    return rows


@pytest.mark.parametrize(("connector", "target", "source", "placeholder"), declared())
def test_every_declared_placeholder_of_every_connector(connector: str, target: str,
                                                      source: str, placeholder: str) -> None:
    """Each placeholder at each source of each field of every shipped connector is never
    the field's value (it is left out, or the next source is read) and is not warned of."""
    doc = normalize(connector, {source: placeholder})
    assert lookup(doc, target) not in (placeholder, [placeholder]), doc
    assert "socd" not in doc, doc["socd"]


def test_placeholders_are_declared_where_vendors_use_them() -> None:
    """The table above covers the connectors whose vendors have placeholders."""
    assert {row[0] for row in declared()} == {"suricata", "wazuh", "cef", "leef", "zeek"}


# -- in a user's mapping file ------------------------------------------------------------------

def test_user_placeholders_per_file_and_per_field(tmp_path: Path) -> None:
    """`null_values` of the file apply to every field, a field's own to it alone; a
    placeholder makes a required field missing and lets the next source be read."""
    path = tmp_path / "acme.yaml"
    path.write_text("name: acme\nnull_values: [\"-\"]\nfields:\n"
                    "  source.ip: {from: [nat_src, src], null_values: [\"0.0.0.0\"]}\n"
                    "  rule.name: {from: rule, required: true}\n"
                    "  acme.code: {from: code, type: integer, null_values: [0]}\n")
    norm = build_normalizer(str(path), sensor="s", timezone="UTC", keep_original=False)
    doc = norm.normalize(orjson.dumps({"nat_src": "0.0.0.0", "src": "10.0.0.1", "rule": "r",
                                       "code": 0}))
    assert doc == {"source": {"ip": "10.0.0.1"}, "rule": {"name": "r"},
                   "observer": {"name": "s"}}
    assert norm.normalize(b'{"rule": "r", "code": "0"}').get("acme") is None
    with pytest.raises(Exception, match="required field 'rule' is missing"):
        norm.normalize(b'{"rule": "-"}')
    # the placeholder of one field is another field's value
    assert norm.normalize(b'{"rule": "0.0.0.0"}')["rule"]["name"] == "0.0.0.0"


def test_no_ecs_field_of_a_connector_holds_a_declared_placeholder() -> None:
    """For every shipped connector, no ECS field has a placeholder of its own as a constant
    (a map, default or set value that is a placeholder would write it)."""
    for _, path in sorted(builtin_connectors().items()):
        spec = load_mapping_file(path)
        for target, case in spec.specs():
            if ecs_field(target) is None:
                continue
            nulls = set(spec.null_values) | case.nulls
            for table in (case.map, case.replace):
                for value in (table or {}).values():
                    assert not isinstance(value, str) or value not in nulls, (target, value)
