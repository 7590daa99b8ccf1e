"""The ECS reference a mapping file is checked against, and what each ECS type takes.

``ecs_fields.tsv`` beside this module lists every field of ECS 9.4.0 (from elastic/ecs
``generated/ecs/ecs_flat.yml``): its name, its Elasticsearch type, the values ECS allows
(for the few fields that restrict them, such as ``event.kind``), the type of the values of
an object of free keys (``labels``: keyword) and the scaling factor of a ``scaled_float``.
``tests/unit/normalize/test_mapping_ecs.py`` checks it against the reference.

A target of a mapping file is an ECS field of a type socd can write (:data:`WRITABLE`),
a key of an object of free keys (``labels.env``), or a field under the connector's own
namespace (not in ECS: Elasticsearch maps it from the first value it sees, so each such
field keeps one kind of value: text, number, boolean or object).

:data:`FITS` says which mapping ``type`` writes values of which ECS type, :data:`INFERRED`
which ``type`` a field without one gets, :func:`limits` the numbers Elasticsearch accepts,
and :func:`constant_problem` whether a constant of the file fits its field.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from socd.normalize.convert import to_ip

REFERENCE = Path(__file__).with_name("ecs_fields.tsv")

TEXT_TYPES = frozenset({"keyword", "constant_keyword", "wildcard", "match_only_text", "text"})
INTEGER_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
FLOAT_TYPES = frozenset({"float", "half_float", "double", "scaled_float"})
WRITABLE = TEXT_TYPES | INTEGER_TYPES | FLOAT_TYPES | {"ip", "date", "boolean"}
"""ECS types a mapping writes (not object, nested, flattened, geo_point)."""

FITS: dict[str, frozenset[str]] = {
    "string": TEXT_TYPES,
    "strings": TEXT_TYPES,
    "integer": INTEGER_TYPES | FLOAT_TYPES,
    "port": INTEGER_TYPES | FLOAT_TYPES,
    "float": FLOAT_TYPES,
    "boolean": frozenset({"boolean"}),
    "ip": frozenset({"ip"}),
    "ips": frozenset({"ip"}),
    "timestamp": frozenset({"date"}),
}
"""Mapping ``type`` → the ECS types its values fit."""

INFERRED: dict[str, str] = {
    **dict.fromkeys(TEXT_TYPES, "string"), **dict.fromkeys(INTEGER_TYPES, "integer"),
    **dict.fromkeys(FLOAT_TYPES, "float"), "ip": "ip", "date": "timestamp",
    "boolean": "boolean",
}
"""ECS type → the mapping ``type`` of a field that names none."""



def inferred(field: EcsField) -> str:
    """The mapping ``type`` a field without one gets: :data:`INFERRED` of its ECS type, and
    ``port`` for a port (source.port, url.port, client.nat.port …)."""
    if field.name.endswith("port") and field.type in ("long", "integer"):
        return "port"
    return INFERRED[field.type]


KINDS: dict[str, str] = {
    "string": "text", "strings": "text", "ip": "text", "ips": "text", "timestamp": "text",
    "integer": "number", "port": "number", "float": "number", "boolean": "boolean",
}
"""Mapping ``type`` → the kind of JSON value it writes."""

_LONG = (-(2**63), 2**63 - 1)
_FLOAT32 = 3.4028234663852886e38
_LIMITS: dict[str, tuple[float, float]] = {
    "long": _LONG, "integer": (-(2**31), 2**31 - 1), "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127), "unsigned_long": (0, 2**64 - 1),
    "float": (-_FLOAT32, _FLOAT32), "half_float": (-65504.0, 65504.0),
    "double": (-1.7976931348623157e308, 1.7976931348623157e308),
}
# A date constant Elasticsearch's strict_date_optional_time reads whatever the input's zone.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True, slots=True)
class EcsField:
    """One ECS field: its name and Elasticsearch type, and what else ECS says of it."""

    name: str
    type: str
    allowed: frozenset[str] = frozenset()
    object_type: str = ""
    scaling_factor: int = 0


@cache
def _reference() -> dict[str, EcsField]:
    fields = {}
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, kind, allowed, object_type, factor = (line.split("\t") + [""] * 4)[:5]
        fields[name] = EcsField(name, kind, frozenset(filter(None, allowed.split(","))),
                                object_type, int(factor or 0))
    return fields


def ecs_field(name: str) -> EcsField | None:
    """The ECS field ``name`` (a key of an object of free keys is one too), or None."""
    fields = _reference()
    found = fields.get(name)
    if found is not None:
        return found
    parts = name.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        parent = fields.get(".".join(parts[:depth]))
        if parent is not None:
            if parent.object_type and depth == len(parts) - 1 and parts[-1]:
                return EcsField(name, parent.object_type)
            return None
    return None


def reference_names() -> frozenset[str]:
    """Every field name of the ECS reference socd ships."""
    return frozenset(_reference())


def field_sets() -> frozenset[str]:
    """The first part of every ECS name (``source``, ``event``, ``labels``, ``@timestamp``)."""
    return frozenset(name.split(".")[0] for name in _reference())


def suggestion(name: str) -> str:
    """``; did you mean source.address?`` for a near miss, else nothing."""
    first = name.split(".")[0]
    pool = [other for other in _reference() if other.split(".")[0] == first] or _reference()
    close = difflib.get_close_matches(name, pool, n=2, cutoff=0.75)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def limits(field: EcsField | None, kind: str) -> tuple[float, float] | None:
    """The numbers Elasticsearch indexes in this field (None: no bound needed).

    A field outside ECS is mapped from its first value: ``long`` for an integer, ``float``
    for a number with a fraction (Elasticsearch's dynamic mapping).
    """
    if kind == "port":  # 0..65535 fits every integer type but byte and short
        if field is None or field.type not in ("byte", "short"):
            return None
        ecs_type = field.type
    elif kind == "integer":
        ecs_type = field.type if field is not None else "long"
    elif kind == "float":
        ecs_type = field.type if field is not None else "float"
    else:
        return None
    if ecs_type == "scaled_float":
        factor = field.scaling_factor if field is not None and field.scaling_factor else 1
        return (-(2**63 - 1) / factor, (2**63 - 1) / factor)
    return _LIMITS.get(ecs_type, _LONG if kind != "float" else _LIMITS["float"])


def json_problem(value: Any) -> str | None:
    """Why a YAML constant cannot be written as JSON, or None."""
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        if not _LONG[0] <= value <= 2**64 - 1:
            return f"{value} is too large a number for Elasticsearch"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (
            f"{value!r} is not a number Elasticsearch stores; write a finite number")
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list | dict):
                return "a list inside a list cannot be written: give one flat list"
            if item is None:
                return "a null in a list writes nothing: remove it"
            problem = json_problem(item)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} is not text: write it in quotes"
            problem = json_problem(item)
            if problem is not None:
                return problem
        return None
    if isinstance(value, datetime | date):
        return (f"YAML read {value} as a date: write it in quotes "
                "(\"2024-01-01T00:00:00Z\")")
    return f"{type(value).__name__} values cannot be written: write text, a number or a list"


def value_kinds(value: Any) -> set[str]:
    """The kinds of JSON value a constant writes (text, number, boolean, object)."""
    if value is None:
        return set()
    if isinstance(value, list):
        return set().union(*(value_kinds(item) for item in value)) if value else set()
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int | float):
        return {"number"}
    if isinstance(value, dict):
        return {"object"}
    return {"text"}


def constant_problem(value: Any, field: EcsField | None) -> str | None:
    """Why ``value`` (a constant of the file) does not fit ``field`` (None: outside ECS).

    Lists are checked item by item (any ECS field holds a list of its values).
    """
    problem = json_problem(value)
    if problem is not None or field is None:
        return problem
    for item in value if isinstance(value, list) else [value]:
        problem = _item_problem(item, field)
        if problem is not None:
            return problem
    return None


def _item_problem(item: Any, field: EcsField) -> str | None:
    kind = field.type
    where = f"{field.name} is an ECS {kind} field"
    if item is None:
        return None
    if isinstance(item, dict):
        return f"{where}: an object cannot go in it; give a value"
    if kind in TEXT_TYPES:
        if not isinstance(item, str):
            return f"{where}: {item!r} is not text; write it in quotes"
        if field.allowed and item not in field.allowed:
            return f"{where} that takes only {', '.join(sorted(field.allowed))}: not {item!r}"
        return None
    if kind == "boolean":
        return None if isinstance(item, bool) else f"{where}: write true or false, not {item!r}"
    if kind in INTEGER_TYPES | FLOAT_TYPES:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return f"{where}: {item!r} is not a number; write a number"
        if kind in INTEGER_TYPES and not isinstance(item, int):
            return f"{where}: {item!r} is not a whole number"
        low, high = limits(field, "float" if kind in FLOAT_TYPES else "integer") or (0, 0)
        if not low <= item <= high:
            return f"{where}: {item!r} is outside what it stores ({low:g}..{high:g})"
        return None
    if kind == "ip":
        try:
            canonical = to_ip(item)
        except ValueError:
            return f"{where}: {item!r} is not an IP address"
        return None if canonical == item else f"{where}: write {canonical!r}, not {item!r}"
    if kind == "date":
        if isinstance(item, str) and _DATE.fullmatch(item):
            return None
        return (f"{where}: {item!r} is not an ISO-8601 time with its offset; write e.g. "
                "\"2024-01-31T08:00:00Z\"")
    return f"{where}, which a mapping cannot write"


def names() -> Iterable[str]:
    """Every ECS field name (for messages and tests)."""
    return _reference().keys()
