"""Declarative connector mappings: a YAML file says how a sensor's fields become ECS.

A mapping file (see ``connectors/*.yaml`` and ``connectors/README.md``)::

    name: cyradar
    format: json                    # how the bytes are decoded
    logsource: {product: cyradar}   # the Sigma logsource of its events
    fields:                         # ECS field ← sensor field, in order
      "@timestamp": {from: detected_at, type: timestamp, required: true}
      event.severity: {from: severity, type: integer, min: 1, max: 10, required: true}
      threat.indicator.type: {from: ioc.type, map: {domain: domain-name, ip: ipv4-addr}}
    set:                            # constants on every event
      event.kind: alert

A field spec takes ``from`` (a dotted path, or a list of paths: the first present wins),
``type`` (string, integer, float, port, boolean, ip, strings, timestamp), ``required``,
``min``/``max``, ``lowercase``, ``map`` (value → ECS value, unknown values dropped unless
``default``), ``thresholds`` (``[[lowest, label], ...]``: a number becomes the label of the
highest threshold it reaches), ``value`` (a constant written when the source is present),
and ``default`` (written when the source is missing).

A missing optional field is left out. A present field whose value does not fit its type is
left out too and named in ``socd.warnings`` (an invalid IP never reaches an ``ip`` field). A
missing or unfit required field rejects the message (:class:`~socd.errors.NormalizeError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socd.errors import ConnectorError, NormalizeError
from socd.normalize.convert import CONVERTERS, Converter, timestamp_converter
from socd.yamlfile import YamlFileError, read_yaml, validation_problems

FieldType = Literal["string", "integer", "float", "port", "boolean", "ip", "strings", "timestamp"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Model):
    from_: Annotated[str | list[str], Field(alias="from")]
    type: FieldType = "string"
    required: bool = False
    min: float | None = None
    max: float | None = None
    lowercase: bool = False
    map: dict[str, Any] | None = None
    thresholds: list[tuple[float, Any]] | None = None
    value: Any = None
    default: Any = None

    @model_validator(mode="after")
    def _one_transform(self) -> FieldSpec:
        chosen = [name for name in ("map", "thresholds", "value")
                  if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"use one of map, thresholds, value (not {' and '.join(chosen)})")
        return self


class MappingFile(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    description: str = ""
    format: Literal["json"] = "json"
    logsource: dict[Literal["product", "category", "service"], str] = Field(default_factory=dict)
    fields: dict[str, FieldSpec]
    set: dict[str, Any] = Field(default_factory=dict)


Getter = Callable[[Mapping[str, Any]], Any]
_MISSING: Any = object()


def _getter(path: str) -> Getter:
    """Look up a dotted path: the literal key first, then nested objects."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        return lambda event: event.get(path, _MISSING)

    def get(event: Mapping[str, Any]) -> Any:
        value = event.get(path, _MISSING)
        if value is not _MISSING:
            return value
        node: Any = event
        for part in parts:
            if not isinstance(node, dict):
                return _MISSING
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return _MISSING
        return node

    return get


def put(doc: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Set a nested field, creating the objects on the way."""
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


@dataclass(frozen=True, slots=True)
class _CompiledField:
    target: str
    parts: tuple[str, ...]
    getters: tuple[Getter, ...]
    source: str
    convert: Converter
    required: bool
    default: Any

    def read(self, event: Mapping[str, Any]) -> Any:
        for get in self.getters:
            value = get(event)
            if value is not _MISSING and value is not None and value != "":
                return value
        return _MISSING


def _compile_field(target: str, spec: FieldSpec, zone: tzinfo) -> _CompiledField:
    base = timestamp_converter(zone) if spec.type == "timestamp" else CONVERTERS[spec.type]
    convert = base
    if spec.lowercase:
        inner = convert

        def convert_lower(value: Any) -> Any:
            result = inner(value)
            return result.lower() if isinstance(result, str) else result

        convert = convert_lower
    if spec.min is not None or spec.max is not None:
        inner_range, low, high = convert, spec.min, spec.max

        def convert_range(value: Any) -> Any:
            result = inner_range(value)
            if (low is not None and result < low) or (high is not None and result > high):
                raise ValueError(f"{result!r} is outside {low}..{high}")
            return result

        convert = convert_range
    if spec.map is not None:
        inner_map = convert
        table = {str(k).lower(): v for k, v in spec.map.items()}

        def convert_map(value: Any) -> Any:
            key = str(inner_map(value)).lower()
            if key in table:
                return table[key]
            if spec.default is not None:
                return spec.default
            raise ValueError(f"{value!r} is not one of {sorted(table)}")

        convert = convert_map
    elif spec.thresholds is not None:
        inner_thr = convert
        steps = sorted(spec.thresholds, key=lambda step: step[0], reverse=True)

        def convert_thresholds(value: Any) -> Any:
            number = inner_thr(value)
            for lowest, label in steps:
                if number >= lowest:
                    return label
            raise ValueError(f"{number!r} is below every threshold")

        convert = convert_thresholds
    elif spec.value is not None:
        inner_const, constant = convert, spec.value

        def convert_const(value: Any) -> Any:
            inner_const(value)
            return constant

        convert = convert_const
    sources = [spec.from_] if isinstance(spec.from_, str) else list(spec.from_)
    return _CompiledField(
        target=target,
        parts=tuple(target.split(".")),
        getters=tuple(_getter(path) for path in sources),
        source=" or ".join(sources),
        convert=convert,
        required=spec.required,
        default=spec.default,
    )


class Mapping_:
    """A compiled mapping: ``apply(event)`` returns the ECS document for one decoded event."""

    def __init__(self, spec: MappingFile, zone: tzinfo) -> None:
        self.spec = spec
        self._fields = tuple(_compile_field(t, f, zone) for t, f in spec.fields.items())
        self._constants = tuple((tuple(k.split(".")), v) for k, v in spec.set.items())

    def apply(self, event: Mapping[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        warnings: list[str] | None = None
        for constant_parts, constant in self._constants:
            put(doc, constant_parts, constant)
        for compiled in self._fields:
            value = compiled.read(event)
            if value is _MISSING:
                if compiled.required:
                    raise NormalizeError(f"required field {compiled.source!r} is missing")
                if compiled.default is not None:
                    put(doc, compiled.parts, compiled.default)
                continue
            try:
                converted = compiled.convert(value)
            except ValueError as exc:
                if compiled.required:
                    raise NormalizeError(f"{compiled.source}: {exc}") from None
                if warnings is None:
                    warnings = []
                warnings.append(f"{compiled.target} left out: {compiled.source}: {exc}")
                continue
            except (TypeError, RecursionError):
                if compiled.required:
                    raise NormalizeError(f"{compiled.source}: wrong type") from None
                if warnings is None:
                    warnings = []
                warnings.append(f"{compiled.target} left out: {compiled.source}: wrong type")
                continue
            put(doc, compiled.parts, converted)
        if warnings:
            put(doc, ("socd", "warnings"), warnings)
        return doc


def load_mapping_file(path: Path) -> MappingFile:
    """Read and validate one mapping file; raise ConnectorError naming the file, line, key."""
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise ConnectorError([exc.problem]) from exc
    try:
        return MappingFile.model_validate(data)
    except ValidationError as exc:
        raise ConnectorError(validation_problems(
            exc, path, lines, "see connectors/README.md for the keys a mapping takes")) from exc
