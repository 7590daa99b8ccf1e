"""Every field socd writes is a real ECS field of the right type, or sits in a custom
namespace; the index template agrees with the ECS reference."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.normalize import builtin_connectors
from socd.simulate import cyradar_events
from socd.sinks.templates import ECS_FIELDS
from tests.unit.normalize.conftest import SAMPLES, leaves, normalizer, run_sample

# each connector's own namespace (the vendor's values kept beside ECS), and socd's
CUSTOM_NAMESPACES = ("socd.", "cyradar.", "suricata.", "wazuh.", "cef.", "leef.", "zeek.")

# ECS types → the Python values a document may hold for them.
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "keyword": (str,), "constant_keyword": (str,), "wildcard": (str,),
    "match_only_text": (str,), "text": (str,), "ip": (str,), "date": (str,),
    "long": (int,), "integer": (int,), "short": (int,), "byte": (int,),
    "float": (float, int), "double": (float, int), "scaled_float": (float, int),
    "boolean": (bool,), "object": (dict,), "flattened": (dict,),
}


def ecs_problems(docs: Iterable[dict[str, Any]], ecs: dict[str, dict[str, Any]]) -> set[str]:
    """Fields that are not ECS, of the wrong type, outside ECS's allowed values, or not
    mapped by the index template."""
    problems = set()
    for doc in docs:
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
            allowed = ecs[name].get("allowed_values")
            if allowed and value not in {entry["name"] for entry in allowed}:
                problems.add(f"{name}: {value!r} is not an allowed value")
            if name not in ECS_FIELDS:
                problems.add(f"{name}: missing from the index template")
    return problems


def test_index_template_types_match_ecs(ecs: dict[str, dict[str, Any]]) -> None:
    """The template maps each ECS field it lists with the type ECS gives it."""
    wrong = {name: (kind, ecs[name]["type"]) for name, kind in ECS_FIELDS.items()
             if name in ecs and ecs[name]["type"] != kind}
    unknown = [name for name in ECS_FIELDS if name not in ecs and name != "labels"]
    assert wrong == {}
    assert unknown == []


def test_cyradar_output_is_valid_ecs(ecs: dict[str, dict[str, Any]]) -> None:
    """Simulated Cyradar-style traffic writes only ECS fields of the right type (or
    custom-namespace fields), each also mapped by the index template."""
    norm = normalizer("cyradar")
    events = cyradar_events(random.Random(7), start=datetime(2026, 1, 1, tzinfo=UTC))
    docs = [norm.normalize(orjson.dumps(next(events))) for _ in range(500)]
    assert ecs_problems(docs, ecs) == set()


@pytest.mark.parametrize("connector", sorted(set(builtin_connectors()) - {"cyradar", "ecs"}))
def test_sample_output_is_valid_ecs(connector: str, shared_dir: Path,
                                    ecs: dict[str, dict[str, Any]]) -> None:
    """Every document a connector makes of the real samples is valid ECS, as above."""
    docs = [doc for name, (owner, _, _) in SAMPLES.items() if owner == connector
            for doc in run_sample(shared_dir, name).documents]
    assert docs, f"no sample documents for {connector}"
    assert ecs_problems(docs, ecs) == set()


def test_every_connector_has_samples_or_its_own_test() -> None:
    """No built-in connector goes untested by the checks above."""
    sampled = {owner for owner, _, _ in SAMPLES.values()}
    assert set(builtin_connectors()) - sampled == {"cyradar", "ecs"}  # see test_ecs_passthrough
