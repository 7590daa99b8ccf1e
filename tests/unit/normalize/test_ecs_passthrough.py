"""ECS passthrough: documents already in ECS are kept, checked where socd knows the type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.errors import NormalizeError
from socd.normalize import build_normalizer
from tests.unit.normalize.conftest import SAMPLES, run_sample


def passthrough(event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    norm = build_normalizer("ecs", sensor="fallback", timezone="Asia/Ho_Chi_Minh", **kwargs)
    return norm.normalize(orjson.dumps(event))


def test_fields_kept_and_converted() -> None:
    """Unknown and custom fields stay; dotted keys nest; known types are converted."""
    doc = passthrough({"@timestamp": "2024-05-01T10:00:00+07:00", "source.ip": "10.0.0.1",
                       "source": {"port": "443"}, "acme": {"x": [1, 2]},
                       "event": {"severity": "7", "dataset": "acme.alerts"}},
                      keep_original=False)
    assert doc == {"@timestamp": "2024-05-01T03:00:00.000Z",
                   "source": {"port": 443, "ip": "10.0.0.1"}, "acme": {"x": [1, 2]},
                   "event": {"severity": 7, "dataset": "acme.alerts", "kind": "event"},
                   "observer": {"name": "fallback"}}


def test_invalid_values_removed_and_named() -> None:
    """An invalid IP, port or severity is removed, never indexed, and named."""
    doc = passthrough({"@timestamp": 1700000000, "source": {"ip": "24.273.97.14"},
                       "destination": {"port": 70000}, "event": {"severity": 99},
                       "host": {"ip": ["10.0.0.1", "x"]}})
    assert "ip" not in doc["source"] and "port" not in doc["destination"]
    assert "severity" not in doc["event"] and "ip" not in doc["host"]
    warned = " ".join(doc["socd"]["warnings"])
    for name in ("source.ip", "destination.port", "event.severity", "host.ip"):
        assert name in warned


def test_own_socd_namespace_and_original() -> None:
    """A message cannot bring socd's verdict fields; its own event.original is kept."""
    doc = passthrough({"@timestamp": "2024-01-01T00:00:00Z", "socd": {"class": "critical"},
                       "event": {"original": "raw line", "kind": "alert"}})
    assert doc["socd"] == {"warnings": ["socd left out: the socd namespace is socd's own"]}
    assert doc["event"]["original"] == "raw line"
    assert doc["event"]["kind"] == "alert"


def test_missing_timestamp_rejected() -> None:
    """@timestamp is required."""
    with pytest.raises(NormalizeError, match="@timestamp"):
        passthrough({"message": "x"})


@pytest.mark.parametrize("connector", ["suricata", "cef", "zeek"])
def test_round_trip_of_connector_output(connector: str, shared_dir: Path) -> None:
    """A connector's documents fed back through ecs come out unchanged."""
    norm = build_normalizer("ecs", sensor="fallback", timezone="Asia/Ho_Chi_Minh")
    checked = 0
    for name, (owner, _, _) in SAMPLES.items():
        if owner != connector:
            continue
        for doc in run_sample(shared_dir, name, keep_original=True).documents:
            if "@timestamp" not in doc or "socd" in doc:  # socd.* is socd's own: not kept
                continue
            assert norm.normalize(orjson.dumps(doc)) == doc
            checked += 1
    assert checked


def test_nesting_elasticsearch_would_refuse() -> None:
    """Objects deeper than Elasticsearch's depth limit, or lists nested hundreds deep, are
    rejected here (a dead letter) instead of failing at indexing."""
    nine = b'{"@timestamp": 1, "a": ' + b'[{"b.c": ' * 9 + b"1" + b"}]" * 9 + b"}"
    assert orjson.dumps(passthrough(orjson.loads(nine)))
    for raw in (b'{"@timestamp": 1, "a": ' + b'{"b": ' * 25 + b"1" + b"}" * 26,
                b'{"@timestamp": 1, "a": ' + b"[" * 500 + b"]" * 500 + b"}"):
        with pytest.raises(NormalizeError, match="nests too deeply"):
            build_normalizer("ecs", sensor="s", timezone="UTC").normalize(raw)
