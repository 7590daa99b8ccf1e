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
``type`` (string, integer, float, port, boolean, ip, ips, strings, timestamp), ``required``,
``min``/``max``, ``lowercase``, ``map`` (value → ECS value; ``null`` writes nothing; other
values are dropped unless ``unmapped`` or ``default``), ``thresholds`` (``[[lowest, label],
...]``: a number becomes the label of the highest threshold it reaches), ``value`` (a
constant written when the source is present), ``unmapped`` (written when the value is
present but not in ``map``) and ``default`` (written when the source is missing, and for
an unmapped value when there is no ``unmapped``).

The file itself also takes ``format`` (json, cef, leef, ecs: see :mod:`socd.normalize.codecs`),
``unwrap`` (a key whose object, when present, is the event: e.g. ``_source`` of an exported
search hit), ``null_values`` (strings that mean "unset", like Zeek's ``-``) and
``passthrough`` (the message's own fields are kept; ``fields`` check and convert some of
them, ``set`` fills only what the message lacks).

A missing optional field is left out. A present field whose value does not fit its type is
left out too and named in ``socd.warnings`` (an invalid IP never reaches an ``ip`` field). A
missing or unfit required field rejects the message (:class:`~socd.errors.NormalizeError`).
"""

from __future__ import annotations

import copy
from datetime import tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socd.errors import ConnectorError
from socd.normalize.convert import CONVERTERS, Converter, timestamp_converter
from socd.yamlfile import YamlFileError, read_yaml, validation_problems

FieldType = Literal["string", "integer", "float", "port", "boolean", "ip", "ips", "strings",
                    "timestamp"]
Format = Literal["json", "cef", "leef", "ecs"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Model):
    from_: Annotated[str | list[str], Field(alias="from")]
    type: FieldType = "string"
    required: bool = False
    min: float | None = None
    max: float | None = None
    lowercase: bool = False
    map: dict[str | int | float | bool, Any] | None = None
    thresholds: list[tuple[float, Any]] | None = None
    value: Any = None
    unmapped: Any = None
    default: Any = None

    @model_validator(mode="after")
    def _one_transform(self) -> FieldSpec:
        chosen = [name for name in ("map", "thresholds", "value")
                  if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"use one of map, thresholds, value (not {' and '.join(chosen)})")
        if self.unmapped is not None and self.map is None:
            raise ValueError("unmapped needs a map")
        return self

    @property
    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


class MappingFile(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    description: str = ""
    format: Format = "json"
    logsource: dict[Literal["product", "category", "service"], str] = Field(default_factory=dict)
    unwrap: Annotated[str, Field(min_length=1)] | None = None
    null_values: list[str] = Field(default_factory=list)
    passthrough: bool = False
    fields: dict[str, FieldSpec]
    set: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _targets_fit(self) -> MappingFile:
        targets = sorted([*self.fields, *self.set])
        for name in targets:
            if name in self.fields and name in self.set:
                raise ValueError(f"{name} is both a field and a constant (set:); keep one")
            parts = name.split(".")
            for depth in range(1, len(parts)):
                parent = ".".join(parts[:depth])
                if parent in self.fields or parent in self.set:
                    raise ValueError(f"{name} would go inside {parent}, which is a value")
        return self


def converter_for(spec: FieldSpec, zone: tzinfo) -> Converter:
    """The field's type conversion composed with its range check and transform."""
    convert = timestamp_converter(zone) if spec.type == "timestamp" else CONVERTERS[spec.type]
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
        table = map_table(spec.map)
        fallback = spec.unmapped if spec.unmapped is not None else spec.default

        def convert_map(value: Any) -> Any:
            key = str(inner_map(value)).lower()
            if key in table:
                return copy.deepcopy(table[key])  # None: "write nothing"
            if fallback is not None:
                return copy.deepcopy(fallback)
            known = sorted(table)
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ValueError(f"{_show(value)} is not one of {shown}")

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
    return convert


def map_table(mapping: dict[str | int | float | bool, Any]) -> dict[str, Any]:
    """A map's keys as the converter compares them: strings, lower-cased."""
    return {str(key).lower(): value for key, value in mapping.items()}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
