"""Every field socd writes is a real ECS field of the right type, or sits in a custom
namespace; the index template agrees with the ECS reference."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from socd.normalize import build_normalizer, builtin_connectors
from socd.simulate import cyradar_events
from socd.sinks.templates import ECS_FIELDS

CUSTOM_NAMESPACES = ("socd.", "cyradar.")

# ECS types → the Python values a document may hold for them.
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "keyword": (str,), "constant_keyword": (str,), "wildcard": (str,),
    "match_only_text": (str,), "text": (str,), "ip": (str,), "date": (str,),
    "long": (int,), "integer": (int,), "short": (int,), "byte": (int,),
    "float": (float, int), "double": (float, int), "scaled_float": (float, int),
    "boolean": (bool,), "object": (dict,), "flattened": (dict,),
}


@pytest.fixture(scope="module")
def ecs(shared_dir: Path) -> dict[str, dict[str, Any]]:
    with open(shared_dir / "ecs" / "ecs_flat.yml", encoding="utf-8") as handle:
        data: dict[str, dict[str, Any]] = yaml.load(
            handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, name + ".")
        elif isinstance(value, list):
            for item in value:
                yield name, item
        else:
            yield name, value


def test_index_template_types_match_ecs(ecs: dict[str, dict[str, Any]]) -> None:
    """The template maps each ECS field it lists with the type ECS gives it."""
    wrong = {name: (kind, ecs[name]["type"]) for name, kind in ECS_FIELDS.items()
             if name in ecs and ecs[name]["type"] != kind}
    unknown = [name for name in ECS_FIELDS if name not in ecs and name != "labels"]
    assert wrong == {}
    assert unknown == []


@pytest.mark.parametrize("connector", sorted(builtin_connectors()))
def test_connector_output_is_valid_ecs(connector: str, ecs: dict[str, dict[str, Any]]) -> None:
    """Simulated traffic through each built-in connector writes only ECS fields of the
    right type (or custom-namespace fields), each also mapped by the index template."""
    normalizer = build_normalizer(connector, sensor="s", timezone="Asia/Ho_Chi_Minh")
    events = cyradar_events(random.Random(7), start=datetime(2026, 1, 1, tzinfo=UTC))
    problems = set()
    for _ in range(500):
        doc = normalizer.normalize(orjson.dumps(next(events)))
        for name, value in leaves(doc):
            if name.startswith(CUSTOM_NAMESPACES):
                continue
            if name not in ecs:
                problems.add(f"{name}: not an ECS field")
                continue
            kind = ecs[name]["type"]
            if not isinstance(value, PYTHON_TYPES[kind]) or isinstance(value, bool) != (
                    kind == "boolean"):
                problems.add(f"{name}: {value!r} does not fit ECS type {kind}")
            if name not in ECS_FIELDS:
                problems.add(f"{name}: missing from the index template")
    assert sorted(problems) == []
