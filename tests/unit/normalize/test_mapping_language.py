"""The mapping-file keys added for Suricata, Wazuh, CEF, LEEF, Zeek and ECS passthrough."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.errors import ConnectorError
from socd.normalize import Normalizer, build_normalizer


def connector(tmp_path: Path, text: str, **kwargs: Any) -> Normalizer:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return build_normalizer(str(path), sensor="s1", timezone="UTC", keep_original=False,
                            **kwargs)


SEVERITY = """\
name: sev
fields:
  event.severity: {from: level, type: integer, map: {1: 8, 2: 5, 3: null}, unmapped: 1}
  event.kind: {from: kind, map: {alert: alert}, default: event}
"""


@pytest.mark.parametrize(("event", "expected"), [
    ({"level": 1}, {"severity": 8, "kind": "event"}),
    ({"level": "2"}, {"severity": 5, "kind": "event"}),        # a number sent as a string
    ({"level": 3, "kind": "ALERT"}, {"kind": "alert"}),       # null: nothing, no warning
    ({"level": 9, "kind": "other"}, {"severity": 1, "kind": "event"}),  # unmapped, default
    ({}, {"kind": "event"}),                                  # missing: no unmapped value
])
def test_map_unmapped_null_default(tmp_path: Path, event: dict[str, Any],
                                   expected: dict[str, Any]) -> None:
    """unmapped is for a present value not in the map; null writes nothing; default is for
    a missing value (and an unmapped one when there is no unmapped)."""
    doc = connector(tmp_path, SEVERITY).normalize(orjson.dumps(event))
    assert doc["event"] == expected
    assert "socd" not in doc


def test_null_values_mean_unset(tmp_path: Path) -> None:
    """Listed strings count as missing: a required field rejects, others are left out."""
    norm = connector(tmp_path, 'name: z\nnull_values: ["-"]\nfields:\n'
                     '  source.ip: {from: id.orig_h, type: ip}\n'
                     '  rule.name: {from: [note, msg]}\n')
    doc = norm.normalize(b'{"id.orig_h": "-", "note": "-", "msg": "hello"}')
    assert doc == {"rule": {"name": "hello"}, "observer": {"name": "s1"}}


def test_unwrap_reads_the_inner_object(tmp_path: Path) -> None:
    """unwrap: the object under that key is the event; without it, the message itself."""
    norm = connector(tmp_path, "name: w\nunwrap: _source\nfields:\n  rule.id: {from: id}\n")
    assert norm.normalize(b'{"_source": {"id": "a"}, "id": "b"}')["rule"]["id"] == "a"
    assert norm.normalize(b'{"_source": "text", "id": "b"}')["rule"]["id"] == "b"


def test_literal_dotted_keys_beside_objects(tmp_path: Path) -> None:
    """A literal "id.orig_h" key is found while "id" holds something else."""
    norm = connector(tmp_path, "name: d\nfields:\n  event.id: {from: id}\n"
                     "  source.port: {from: id.orig_p, type: port}\n")
    doc = norm.normalize(b'{"id": "x", "id.orig_p": 80}')
    assert doc["event"] == {"id": "x"}
    assert doc["source"] == {"port": 80}


def test_map_values_are_fresh_per_document(tmp_path: Path) -> None:
    """A list from a map is a new list in every document."""
    norm = connector(tmp_path,
                     "name: f\nfields:\n  event.type: {from: t, map: {a: [info, access]}}\n")
    first = norm.normalize(b'{"t": "a"}')
    first["event"]["type"].append("z")
    assert norm.normalize(b'{"t": "A"}')["event"]["type"] == ["info", "access"]


@pytest.mark.parametrize(("text", "needles"), [
    ("name: x\nformat: xml\nfields: {}\n", ["m.yaml:2", "format", "'json'"]),
    ("name: x\nfields:\n  a.b: {from: c, unmapped: 1}\n", ["unmapped needs a map"]),
    ("name: x\nnull_values: -\nfields: {}\n", ["null_values"]),
    ("name: x\npassthrough: maybe\nfields: {}\n", ["passthrough"]),
])
def test_wrong_new_keys_name_line_and_key(tmp_path: Path, text: str,
                                          needles: list[str]) -> None:
    """A wrong value for a new key stops start-up, naming the file, line and key."""
    with pytest.raises(ConnectorError) as caught:
        connector(tmp_path, text)
    for needle in needles:
        assert needle in str(caught.value)


def test_builtin_connectors_load_and_have_their_logsources() -> None:
    """Every shipped mapping loads; the default logsources are as documented."""
    expected = {"cyradar": {"product": "cyradar"}, "suricata": {"product": "suricata"},
                "wazuh": {"product": "wazuh"}, "cef": {"product": "cef"},
                "leef": {"product": "leef"}, "zeek": {"product": "zeek"}, "ecs": {}}
    found = {name: dict(build_normalizer(name, sensor="s", timezone="UTC").logsource)
             for name in expected}
    assert found == expected
