"""Compile a mapping file into one plain Python function, the connector's hot path.

Interpreting field specs event by event costs a call and a loop per field; the generated
function reads each source path with inline ``dict.get`` chains, skips the converter call
where the value already has the wanted type, and writes nested ECS objects directly. It
behaves exactly as the spec in :mod:`socd.normalize.mapping` says (``tests/unit/normalize``
checks both on the same events).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.mapping import FieldSpec, MappingFile, converter_for, is_plain

Apply = Callable[[Mapping[str, Any]], dict[str, Any]]

_MISSING: Any = object()

# Types whose converter is the identity for a value that already has this Python type.
_FAST_TYPES = {"string": "str", "integer": "int"}


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"MISSING": _MISSING, "NormalizeError": NormalizeError,
                                      "deepcopy": copy.deepcopy}

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name


def _read(w: _Writer, depth: int, path: str) -> None:
    """``v`` ← the value at ``path`` (literal dotted key first, then nested), or MISSING."""
    parts = path.split(".")
    w.emit(depth, f"v = event.get({path!r}, MISSING)")
    if len(parts) == 1:
        return
    w.emit(depth, "if v is MISSING:")
    w.emit(depth + 1, f"v = event.get({parts[0]!r})")
    for part in parts[1:]:
        w.emit(depth + 1, f"v = v.get({part!r}, MISSING) if v.__class__ is dict else MISSING")


def _write(w: _Writer, depth: int, target: str, value: str) -> None:
    """doc[a][b]...[z] = value, creating the objects on the way."""
    parts = target.split(".") if target != "@timestamp" else [target]
    node = "doc"
    for index, part in enumerate(parts[:-1]):
        child = f"n{index}"
        w.emit(depth, f"{child} = {node}.get({part!r})")
        w.emit(depth, f"if {child} is None:")
        w.emit(depth + 1, f"{child} = {node}[{part!r}] = {{}}")
        node = child
    w.emit(depth, f"{node}[{parts[-1]!r}] = {value}")


def _field(w: _Writer, target: str, spec: FieldSpec, zone: tzinfo) -> None:
    sources = [spec.from_] if isinstance(spec.from_, str) else list(spec.from_)
    source = " or ".join(sources)
    for index, path in enumerate(sources):
        depth = 1 + index
        _read(w, depth, path)
        if index < len(sources) - 1:
            w.emit(depth, 'if v is MISSING or v is None or v == "":')
    depth = 1
    convert = w.bind("conv", converter_for(spec, zone))
    w.emit(depth, 'if v is MISSING or v is None or v == "":')
    if spec.required:
        w.emit(depth + 1, f"raise NormalizeError({f'required field {source!r} is missing'!r})")
    elif spec.default is not None:
        default = w.bind("default", spec.default)
        _write(w, depth + 1, target, f"deepcopy({default})")
    else:
        w.emit(depth + 1, "pass")
    w.emit(depth, "else:")
    fast = _FAST_TYPES.get(spec.type) if is_plain(spec) else None
    inner = depth + 1
    if fast:
        w.emit(inner, f"if v.__class__ is not {fast}:")
        inner += 1
    w.emit(inner, "try:")
    w.emit(inner + 1, f"v = {convert}(v)")
    w.emit(inner, "except (ValueError, TypeError, RecursionError) as exc:")
    reason = w.bind("why", f"{source}: ")
    if spec.required:
        w.emit(inner + 1, f"raise NormalizeError({reason} + _why(exc)) from None")
    else:
        left_out = w.bind("left_out", f"{target} left out: {source}: ")
        w.emit(inner + 1, f"warnings.append({left_out} + _why(exc))")
        w.emit(inner + 1, "v = MISSING")
    w.emit(depth + 1, "if v is not MISSING:")
    _write(w, depth + 2, target, "v")


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else "wrong type"


def _constants_literal(constants: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in constants.items():
        parts = name.split(".") if name != "@timestamp" else [name]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def compile_mapping(spec: MappingFile, zone: tzinfo) -> Apply:
    """The generated ``apply(event) -> ECS document`` for one mapping and time zone."""
    w = _Writer()
    w.names["_why"] = _why
    w.emit(0, "def apply(event):")
    constants = _constants_literal(spec.set)
    # repr() of plain YAML data (str, int, float, bool, None, lists, dicts) is a literal
    # that builds fresh objects on every call.
    w.emit(1, f"doc = {constants!r}")
    w.emit(1, "warnings = []")
    for target, field_spec in spec.fields.items():
        _field(w, target, field_spec, zone)
    w.emit(1, "if warnings:")
    w.emit(2, "s = doc.get('socd')")
    w.emit(2, "if s is None:")
    w.emit(3, "s = doc['socd'] = {}")
    w.emit(2, "s['warnings'] = warnings")
    w.emit(1, "return doc")
    source = "\n".join(w.lines)
    namespace = dict(w.names)
    exec(compile(source, f"<connector {spec.name}>", "exec"), namespace)
    function: Apply = namespace["apply"]
    function.__doc__ = source
    return function
