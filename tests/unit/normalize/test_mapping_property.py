"""Every mapping file that loads runs: on generated mapping files, a file either is refused
with problems that each name the file, line and key, or it compiles and turns any message
into a document (or rejects it for its required fields) whose every mapped value is one
Elasticsearch indexes in that field."""

from __future__ import annotations

import copy
import ipaddress
import math
import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socd.errors import ConnectorError, NormalizeError
from socd.normalize.codegen import compile_mapping
from socd.normalize.ecs import EcsField, ecs_field
from socd.normalize.mapping import MappingFile, load_mapping_file
from socd.normalize.paths import lookup
from tests.unit.normalize.mapping_reference import events_for, reference

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
EXAMPLES = int(os.environ.get("SOCD_EXAMPLES", "400"))

# target → (types that fit it, constants that fit it); fields outside ECS under acme.*
FIT: dict[str, tuple[list[str | None], list[Any]]] = {
    "source.ip": ([None, "ip"], ["10.0.0.1", "2001:db8::1"]),
    "related.ip": ([None, "ip", "ips"], ["10.0.0.1", ["10.0.0.1", "2001:db8::1"]]),
    "destination.port": ([None, "port", "integer"], [80, 443]),
    "event.severity": ([None, "integer", "port"], [1, 5, 10]),
    "event.kind": ([], ["alert", "event"]),
    "event.outcome": ([], ["success", "failure", "unknown"]),
    "event.type": ([], ["info", ["info", "access"]]),
    "@timestamp": ([None, "timestamp"], ["2024-01-31T08:00:00Z"]),
    "event.created": ([None, "timestamp"], ["2024-01-31T08:00:00+07:00"]),
    "network.protocol": ([None, "string"], ["ftp", "http"]),
    "threat.indicator.type": ([None, "string", "strings"], ["ipv4-addr", "url"]),
    "message": ([None, "string", "strings"], ["x", ["a", "b"]]),
    "labels.env": ([None, "string"], ["prod"]),
    "network.type": ([None, "string"], ["ipv4", "ipv6"]),
    "event.risk_score": ([None, "float", "integer"], [7.5, 1]),
    "gen_ai.request.temperature": ([None, "float"], [0.5]),
    "host.cpu.usage": ([None, "float"], [0.25]),
    "gen_ai.usage.input_tokens": ([None, "integer"], [100]),
    "file.size": ([None, "integer", "port"], [0, 1024]),
    "url.port": ([None, "port"], [8080]),
    "acme.count": (["integer", "float", "port"], [1, 2.5]),
    "acme.flag": (["boolean"], [True, False]),
    "acme.deep.x": ([None, "string", "ip", "timestamp"], ["x"]),
    # refused targets, so that refusals are tried too
    "dns.answers": ([None], ["x"]), "source.addr": ([None], ["x"]), "socd.x": ([None], [1]),
}
TARGETS = list(FIT)
SOURCES = ["a", "b", "c.d", "c.e", "f.g.h", "id.orig_h"]
TYPES = [None, "string", "integer", "float", "port", "boolean", "ip", "ips", "strings",
         "timestamp"]
WILD = st.one_of(
    st.none(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=6), st.dates(), st.booleans(),
    st.lists(st.sampled_from(["info", 1, "x", None]), max_size=3),
    st.dictionaries(st.sampled_from(["k", "n"]), st.sampled_from(["x", 1]), max_size=2))
KEYS = st.one_of(st.sampled_from(["a", "b", "ip", "1", "01", "006", "ftp-data", "yes",
                                  "10.0.0.1", "failed"]),
                 st.integers(-3, 300), st.booleans(), st.floats(allow_nan=False, width=16))
NULLS = st.lists(st.sampled_from(["-", "0", "failed", "0.0.0.0", "(empty)", "", "N/A"])
                 | st.integers(-1, 1), max_size=3)
NUMBERS = st.one_of(st.integers(-5, 300).map(float), st.floats(), st.sampled_from([1.0, 10.0]))


@st.composite
def field_specs(draw: st.DrawFn, target: str, above: list[str]) -> dict[str, Any]:
    """Mostly a spec that fits its target (so that most files load), sometimes not."""
    types, good = FIT[target]
    wild = draw(st.integers(0, 9)) == 0
    constants = WILD if wild else st.sampled_from(good)
    spec: dict[str, Any] = {}
    if above and draw(st.integers(0, 3)) == 0:
        spec["of"] = draw(st.sampled_from(above) | st.lists(st.sampled_from(above), min_size=1,
                                                            max_size=3))
    else:
        spec["from"] = draw(st.sampled_from(SOURCES)
                            | st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3))
    for key, strategy in (("required", st.booleans()), ("all", st.booleans()),
                          ("null_values", NULLS), ("default", constants)):
        if draw(st.integers(0, 5)) == 0:
            spec[key] = draw(strategy)
    transform = draw(st.sampled_from([None, "map", "thresholds", "value", "family", "replace"])
                     if wild or not types else st.sampled_from([None, None, None, "map"]))
    kind = draw(st.sampled_from(TYPES if wild or not types else types))
    if kind is not None:
        spec["type"] = kind
    if wild or (kind in ("integer", "float", "port") and draw(st.booleans())):
        low, high = draw(NUMBERS), draw(NUMBERS)
        spec["min"], spec["max"] = (low, high) if wild or low <= high else (high, low)
    if wild or (kind in ("string", "strings") and draw(st.booleans())):
        spec["lowercase"] = draw(st.booleans())
    if transform in ("map", "replace"):
        keys = KEYS if wild else st.sampled_from(["a", "b", "ip", "x"] if kind in (
            None, "string") else ["1", "2", "3"])
        spec[transform] = draw(st.dictionaries(keys, constants, min_size=1, max_size=4))
        if transform == "map" and draw(st.booleans()):
            spec["unmapped"] = draw(constants)
    elif transform == "thresholds":
        spec[transform] = draw(st.lists(st.tuples(NUMBERS, constants).map(list), min_size=1,
                                        max_size=3))
    elif transform == "value":
        spec[transform] = draw(constants)
    elif transform == "family":
        spec[transform] = {"ipv4": draw(constants), "ipv6": draw(constants)}
    if draw(st.integers(0, 4)) == 0:
        spec["when"] = {draw(st.sampled_from(SOURCES)): draw(
            st.sampled_from(["ip", "a", "1"]) | st.lists(KEYS, min_size=1, max_size=3))}
    return spec


@st.composite
def mapping_files(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for target in draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=6,
                                unique=True)):
        above = list(fields)
        if draw(st.integers(0, 5)) == 0:
            cases = draw(st.lists(field_specs(target, above), min_size=2, max_size=3))
            for case in cases[:-1]:
                case.setdefault("when", {"a": "ip"})
            fields[target] = cases
        else:
            fields[target] = draw(field_specs(target, above))
    data: dict[str, Any] = {"name": "gen", "format": draw(st.sampled_from(["json", "ecs"])),
                            "fields": fields}
    if draw(st.booleans()):
        data["namespace"] = "acme"
    else:
        data["name"] = "acme"
    if draw(st.integers(0, 3)) == 0:
        data["null_values"] = draw(st.lists(st.sampled_from(["-", "(empty)", "N/A"]),
                                            max_size=2))
    if draw(st.integers(0, 5)) == 0:
        data["unwrap"] = "_source"
    if draw(st.integers(0, 7)) == 0:
        data["passthrough"] = True
    for target in draw(st.lists(st.sampled_from(TARGETS), max_size=3, unique=True)):
        if target not in fields:
            good = FIT[target][1]
            data.setdefault("set", {})[target] = draw(
                WILD if draw(st.integers(0, 9)) == 0 else st.sampled_from(good))
    return data


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("SOCD_EXAMPLES"),
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_mapping_file_that_loads_runs(tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject) -> None:
    """A generated file is refused with located problems, or it compiles and normalises
    generated messages without raising anything but NormalizeError (a required field),
    into documents Elasticsearch takes; the compiled code agrees with the plain reading."""
    text = yaml.safe_dump(data.draw(mapping_files()), allow_unicode=True, sort_keys=False)
    path = tmp_path_factory.mktemp("gen") / "gen.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_mapping_file(path)
    except ConnectorError as exc:
        OUTCOMES["refused"] += 1
        problems = exc.problems
        assert problems
        for problem in problems:
            assert problem.file == str(path) and problem.line is not None and problem.key
        return
    OUTCOMES["loaded"] += 1
    apply = compile_mapping(spec, ZONE)
    kinds: dict[str, set[str]] = {}
    for event in data.draw(st.lists(events_for(spec), min_size=1, max_size=5)):
        try:
            doc = apply(copy.deepcopy(event))
        except NormalizeError as exc:
            got: Any = ("rejected", exc.detail, exc.reason)
        else:
            orjson.dumps(doc)
            check_document(spec, doc, kinds)
            got = doc
            OUTCOMES["documents"] += 1
        if not spec.passthrough:
            try:
                expected: Any = reference(spec, copy.deepcopy(event), ZONE)
            except NormalizeError as exc:
                expected = ("rejected", exc.detail, "invalid_event")
            assert got == expected
    for target, found in kinds.items():
        assert len(found) <= 1, f"{target} got values of kinds {found}"


OUTCOMES = {"refused": 0, "loaded": 0, "documents": 0}


def test_the_generated_files_exercised_both_outcomes() -> None:
    """The property above saw refused files, loaded files and real documents (runs after
    it in the same module; skipped when run alone)."""
    if not sum(OUTCOMES.values()):
        pytest.skip("runs with test_every_mapping_file_that_loads_runs")
    assert OUTCOMES["refused"] >= EXAMPLES // 10, OUTCOMES
    assert OUTCOMES["loaded"] >= EXAMPLES // 10, OUTCOMES
    assert OUTCOMES["documents"] >= EXAMPLES // 10, OUTCOMES


# -- what Elasticsearch takes in a field (from its documentation of each type) -----------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})")
_FLOAT32 = 3.4028234663852886e38


def check_document(spec: MappingFile, doc: dict[str, Any], kinds: dict[str, set[str]]) -> None:
    for target in [*spec.fields, *spec.set]:
        value = lookup(doc, target)
        if value is None:
            continue
        field = ecs_field(target)
        if field is None:  # the namespace: one kind of JSON value per field
            kinds.setdefault(target, set()).update(kind_of(value))
            continue
        for item in value if isinstance(value, list) else [value]:
            assert fits(item, field), f"{target}: {item!r} does not fit {field.type}"


def kind_of(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(kind_of(item) for item in value)) if value else set()
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int | float):
        return {"number"}
    return {"object"} if isinstance(value, dict) else {"text"}


def fits(item: Any, field: EcsField) -> bool:
    kind = field.type
    if kind in ("keyword", "constant_keyword", "wildcard", "match_only_text", "text"):
        return isinstance(item, str) and (not field.allowed or item in field.allowed)
    if kind == "ip":
        return isinstance(item, str) and str(ipaddress.ip_address(item)) == item
    if kind == "date":
        return isinstance(item, str) and bool(_DATE.fullmatch(item))
    if kind == "boolean":
        return isinstance(item, bool)
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        return False
    if kind == "long":
        return isinstance(item, int) and -(2**63) <= item < 2**63
    if kind == "integer":
        return isinstance(item, int) and -(2**31) <= item < 2**31
    if kind == "float":
        return abs(item) <= _FLOAT32
    if kind == "scaled_float":
        return abs(item * field.scaling_factor) < 2**63
    return kind == "double"


@pytest.mark.parametrize(("name", "fields"), [
    ("inf constant", "  event.risk_score: {from: r, value: .inf}\n"),
    ("nan threshold", "  event.severity: {from: s, type: float, thresholds: [[.nan, 1]]}\n"),
    ("date default", "  event.created: {from: c, default: 2024-01-01}\n"),
    ("huge min", "  event.severity: {from: s, min: -.inf}\n"),
    ("unicode source", "  rule.name: {from: \"x².y\"}\n"),
])
def test_files_that_used_to_fail_at_run_time(tmp_path: Path, name: str, fields: str) -> None:
    """Files that loaded and then failed on every event: refused now, or run."""
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nfields:\n" + fields)
    try:
        spec = load_mapping_file(path)
    except ConnectorError:
        return
    apply = compile_mapping(spec, ZONE)
    for event in ({}, {"x²": {"y": "a"}}, {"s": 3, "r": 1, "c": "2024-01-01T00:00:00Z"}):
        orjson.dumps(apply(event))
