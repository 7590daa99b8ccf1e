"""A plain reading of the mapping language, step by step as connectors/README.md says it,
to check the generated code against; and events of random shapes for a mapping."""

from __future__ import annotations

import contextlib
import copy
from datetime import tzinfo
from typing import Any

from hypothesis import strategies as st

from socd.errors import NormalizeError
from socd.normalize.check import split
from socd.normalize.convert import to_integer
from socd.normalize.ecs import ecs_field, limits
from socd.normalize.mapping import FieldSpec, MappingFile, converter_for, when_key
from socd.normalize.paths import lookup, put_path


def reference(spec: MappingFile, event: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
    """What a (non-passthrough) mapping does to one decoded message."""
    if spec.unwrap is not None and isinstance(event.get(spec.unwrap), dict):
        event = event[spec.unwrap]
    doc: dict[str, Any] = {}
    for name, value in spec.set.items():
        put_path(doc, split(name), copy.deepcopy(value))
    warnings: list[str] = []
    for target, cases in spec.targets():
        for case in cases:
            if holds(case, event):
                apply_case(spec, target, case, event, doc, warnings, zone)
                break
    if warnings:
        doc.setdefault("socd", {})["warnings"] = warnings
    return doc


def holds(case: FieldSpec, event: dict[str, Any]) -> bool:
    """Every ``when`` key's value, as text, is one of its listed values."""
    for path, wanted in (case.when or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if when_key(lookup(event, path)) not in {when_key(value) for value in values}:
            return False
    return True


def apply_case(spec: MappingFile, target: str, case: FieldSpec, event: dict[str, Any],
               doc: dict[str, Any], warnings: list[str], zone: tzinfo) -> None:
    texts = ({*spec.null_values} | case.nulls) - {""}
    ints = set()
    for text in case.nulls:
        with contextlib.suppress(ValueError):
            ints.add(to_integer(text))

    def is_null(value: Any) -> bool:
        return (value is None or value == "" or (isinstance(value, str) and value in texts)
                or (type(value) is int and value in ints))

    def get(path: str) -> Any:
        return lookup(event, path) if case.sources else lookup(doc, path)

    parts = split(target)
    paths = case.sources or case.refs
    source = " or ".join(paths)
    convert = converter_for(case, zone, limits=limits(ecs_field(target), case.kind))
    if case.all:
        found: list[Any] = []
        for path in paths:
            value = get(path)
            for item in value if isinstance(value, list) else [value]:
                if is_null(item):
                    continue
                try:
                    item = convert(item)
                except (ValueError, TypeError, RecursionError) as exc:
                    warnings.append(f"{target} left out: {path}: {why(exc)}")
                    continue
                for one in item if isinstance(item, list) else [item]:
                    if one is not None and one not in found:
                        found.append(one)
        if found:
            put_path(doc, parts, found)
        elif case.required:
            raise NormalizeError(f"required field {source!r} has no value")
        elif case.default is not None:
            put_path(doc, parts, copy.deepcopy(case.default))
        return
    value = None
    for path in paths:
        value = get(path)
        if not is_null(value):
            break
    if is_null(value):
        if case.required:
            raise NormalizeError(f"required field {source!r} is missing")
        if case.default is not None:
            put_path(doc, parts, copy.deepcopy(case.default))
        return
    try:
        value = convert(value)
    except (ValueError, TypeError, RecursionError) as exc:
        if case.required:
            raise NormalizeError(f"{source}: {why(exc)}") from None
        warnings.append(f"{target} left out: {source}: {why(exc)}")
        return
    if value is not None:
        put_path(doc, parts, value)


def why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else "wrong type"


# -- events for a mapping ----------------------------------------------------------------------

def scalars(bits: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.just(""), st.just("-"), st.booleans(),
        st.integers(min_value=-(2**bits), max_value=2**bits - 1), st.floats(allow_nan=False),
        TEXTS)


TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "3", " 7 ", "10.0.0.1", "024.1.2.3", "::1", "443", "70000",
                     "2020-06-15T08:12:44+0700", "2013-02-20T21:31:44.674716", "1592183564250",
                     "Apr 11 2020 10:42:13", "alert", "ALLOWED", "blocked", "TCP", "006",
                     "Intel::DOMAIN", "Intel::ADDR", "High", "unknown", "TLS 1.2", "failed",
                     "ftp-data", "0.0.0.0", "2001:db8::1", "10.0.0.0/8", "ip", "any",
                     "9223372036854775808", "1e400"]),
)
SCALARS = scalars(70)
JSON_SCALARS = scalars(63)  # what JSON can carry to orjson
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


def events_for(spec: MappingFile) -> st.SearchStrategy[dict[str, Any]]:
    """Events with random values of random types at the paths the mapping reads; its
    required fields mostly valid and its ``when`` values mostly ones it lists, so that most
    events reach every other field."""
    paths = sorted({path for _, case in spec.specs() for path in case.sources})
    valid = {"timestamp": "2020-06-15T08:12:44+0700", "integer": 5, "string": "x"}
    required = {case.sources[0]: valid.get(case.kind, "x")
                for _, case in spec.specs() if case.required and case.sources}
    wanted: dict[str, list[Any]] = {}
    for _, case in spec.specs():
        for path, values in (case.when or {}).items():
            wanted.setdefault(path, []).extend(values if isinstance(values, list) else [values])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for path, value in required.items():
            if draw(st.integers(0, 9)):
                put_path(event, path.split("."), value)
        for path, values in wanted.items():
            if draw(st.integers(0, 3)):
                put_path(event, path.split("."), draw(st.sampled_from(values)))
        for path in draw(st.lists(st.sampled_from(paths), max_size=len(paths), unique=True)):
            value = draw(VALUES)
            if "." in path and spec.format != "ecs" and draw(st.booleans()):
                event[path] = value  # a literal dotted key (ecs messages have them expanded)
            else:
                put_path(event, path.split("."), value)
        if spec.unwrap is not None and draw(st.booleans()):
            event = {spec.unwrap: event}
        return event

    return build()
