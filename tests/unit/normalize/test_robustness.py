"""Corrupt, hostile and odd input: a clean document or an InputError, never another
exception; and the compiled mappings behave exactly as a plain reading of the spec."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socd.errors import InputError, NormalizeError
from socd.normalize import Normalizer, builtin_connectors
from socd.normalize.codegen import compile_mapping
from socd.normalize.mapping import load_mapping_file
from tests.unit.normalize.conftest import SAMPLES, messages, normalizer
from tests.unit.normalize.mapping_reference import JSON_SCALARS, events_for, reference

CONNECTORS = sorted(builtin_connectors())
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NORMALIZERS: dict[str, Normalizer] = {}


def norm(name: str) -> Normalizer:
    if name not in NORMALIZERS:
        NORMALIZERS[name] = normalizer(name)
    return NORMALIZERS[name]


def outcome(connector: str, raw: bytes) -> dict[str, Any] | InputError:
    """The document, or the InputError; any other exception fails the test."""
    try:
        doc = norm(connector).normalize(raw)
    except InputError as exc:
        error = exc
    else:
        orjson.dumps(doc)  # serialisable as it will be sent
        return doc
    assert error.reason in {"not_utf8", "not_json", "invalid_event"}
    return error


@pytest.mark.parametrize("connector", sorted(set(CONNECTORS) - {"ecs"}))
def test_generated_code_matches_the_spec(connector: str) -> None:
    """On events of random shapes and types at every mapped path, the compiled function
    and the plain reading give the same document or the same rejection."""
    spec = load_mapping_file(builtin_connectors()[connector])
    apply = compile_mapping(spec, ZONE)
    documents = []

    @settings(max_examples=int(os.environ.get("SOCD_EXAMPLES", "300")), deadline=None,
              derandomize=not os.environ.get("SOCD_EXAMPLES"),
              suppress_health_check=list(HealthCheck))
    @given(events_for(spec))
    def check(event: dict[str, Any]) -> None:
        try:
            expected: Any = reference(spec, copy.deepcopy(event), ZONE)
        except NormalizeError as exc:
            expected = ("rejected", exc.detail)
        try:
            got: Any = apply(copy.deepcopy(event))
        except NormalizeError as exc:
            got = ("rejected", exc.detail)
        assert got == expected
        documents.append(isinstance(got, dict))

    check()
    assert sum(documents) >= len(documents) // 5  # the comparison covered real documents


@pytest.mark.parametrize("connector", CONNECTORS)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300)
       | st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass"))
       | st.builds(lambda head, tail: head + tail,
                   st.sampled_from([b"CEF:0|", b"CEF: 0|a|b|c|d|e|", b"LEEF:2.0|a|b|c|d|",
                                    b'{"timestamp": "2020-01-01T00:00:00Z", ', b"0|"]),
                   st.binary(max_size=200)))
def test_random_bytes(connector: str, raw: bytes) -> None:
    """Arbitrary bytes give a document or an InputError with a known reason."""
    outcome(connector, raw)


@pytest.mark.parametrize("connector", CONNECTORS)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                          max_leaves=30))
def test_random_json(connector: str, event: Any) -> None:
    """Any JSON value at all gives a document or an InputError."""
    outcome(connector, orjson.dumps(event))


def sample_messages(shared: Path) -> list[tuple[str, bytes]]:
    found = []
    for name, (connector, _, _) in sorted(SAMPLES.items()):
        path = shared / "samples" / name
        found += [(connector, raw) for _, raw in messages(path, norm(connector).format)][:40]
    return found


def test_truncated_and_corrupted_samples(shared_dir: Path) -> None:
    """Every sample message cut short at several points, or with a byte that is not
    UTF-8 put in, gives a document or an InputError."""
    for connector, raw in sample_messages(shared_dir):
        for cut in {1, len(raw) // 3, len(raw) // 2, len(raw) - 1}:
            outcome(connector, raw[:cut])
            result = outcome(connector, raw[:cut] + b"\xff" + raw[cut:])
            if connector in {"cyradar", "suricata", "wazuh", "zeek", "ecs"}:
                assert isinstance(result, InputError) and result.reason == "not_utf8"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_deep_nesting(connector: str) -> None:
    """50,000 levels of nesting: rejected as not JSON (or, for CEF/LEEF, harmless text)."""
    for raw in (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[" * 50_000 + b"]" * 50_000,
                b"CEF:0|a|b|c|d|e|5|msg=" + b"[" * 50_000):
        result = outcome(connector, raw)
        if raw.startswith((b"{", b"[")) and connector not in {"cef", "leef"}:
            assert isinstance(result, InputError) and result.reason == "not_json"


def test_multi_megabyte_values() -> None:
    """Megabytes in a signature, an IP, a port or a timestamp: a document with the long
    text kept or the unfit value left out and named."""
    big = "9" * 5_000_000
    doc = outcome("suricata", orjson.dumps({
        "timestamp": "2020-01-01T00:00:00Z", "event_type": "alert", "src_ip": big,
        "src_port": big, "alert": {"signature": "x" * 5_000_000, "severity": big}}))
    assert isinstance(doc, dict)
    assert len(doc["rule"]["name"]) == 5_000_000
    assert "source" not in doc and "severity" not in doc["event"]
    assert len(doc["socd"]["warnings"]) == 4
    rejected = outcome("suricata", orjson.dumps({"timestamp": big}))
    assert isinstance(rejected, InputError) and rejected.reason == "invalid_event"
    cef = outcome("cef", b"CEF:0|v|p|1|2|n|5|msg=" + b"y" * 5_000_000 + b" src=10.0.0.1")
    assert isinstance(cef, dict) and cef["source"]["ip"] == "10.0.0.1"


@pytest.mark.parametrize(("connector", "event"), [
    ("suricata", {"timestamp": "2020-01-01T00:00:00Z", "alert": ["not", "an", "object"],
                  "src_ip": 167772161, "dest_port": "http", "proto": 6, "flow": "x"}),
    ("wazuh", {"timestamp": "2020-01-01T00:00:00Z", "rule": {"level": "high", "id": 5712,
               "mitre": {"id": "T1110"}, "groups": "sshd"}, "agent": {"ip": ["1.2.3.4"]}}),
    ("zeek", {"ts": "1320279566.452687", "id.orig_h": {"x": 1}, "id.orig_p": 80.5,
              "sources": "single"}),
])
def test_wrong_types(connector: str, event: dict[str, Any]) -> None:
    """Lists for objects, numbers for strings, strings for numbers: converted where the
    meaning is plain, otherwise left out and named; the document is still made."""
    doc = outcome(connector, orjson.dumps(event))
    assert isinstance(doc, dict)
    assert doc["@timestamp"]
