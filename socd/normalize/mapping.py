"""Declarative connector mappings: a YAML file says how a sensor's fields become ECS.

A mapping file (see ``connectors/*.yaml`` and ``connectors/README.md``)::

    name: cyradar
    format: json                    # how the bytes are decoded
    logsource: {product: cyradar}   # the Sigma logsource of its events
    fields:                         # ECS field ← sensor field, in order
      "@timestamp": {from: detected_at, type: timestamp, required: true}
      event.severity: {from: severity, type: integer, min: 1, max: 10, required: true}
      network.protocol: {from: app_proto, null_values: [failed], replace: {ftp-data: ftp}}
      threat.indicator.type:        # cases: the first whose `when` holds applies
        - {when: {ioc.type: ip}, from: ioc.value, family: {ipv4: ipv4-addr, ipv6: ipv6-addr}}
        - {from: ioc.type, map: {domain: domain-name, url: url}}
      related.ip: {of: [source.ip, destination.ip], all: true}
    set:                            # constants on every event
      event.kind: alert

A field spec reads ``from`` (a dotted path of the message, or a list of paths: the first
present wins) or ``of`` (fields this mapping wrote above), converts the value with ``type``
(string, integer, float, port, boolean, ip, ips, strings, timestamp; without one, the ECS
field's own type), and may transform it with one of ``map`` (value → ECS value, with
``unmapped``), ``thresholds``, ``value``, ``family`` (an IP address's family → ECS value) or
``replace`` (listed values replaced, others kept). ``null_values`` lists the field's
placeholders (values that mean "none"); ``when`` makes it depend on other message values;
``all`` writes every present value as a list; ``required``, ``min``/``max``, ``lowercase``
and ``default`` do what they say. ``connectors/README.md`` documents every key.

The file itself also takes ``format`` (json, cef, leef, ecs: see :mod:`socd.normalize.codecs`),
``namespace`` (where fields outside ECS go; default: ``name``), ``unwrap`` (a key whose
object, when present, is the event), ``null_values`` (placeholders of every field, like
Zeek's ``-``) and ``passthrough`` (the message's own fields are kept).

Loading (:func:`load_mapping_file`) checks the file in two steps, and reports every problem
with its file, line and key: the keys and their types (this module), then what the file
means against the ECS reference (:mod:`socd.normalize.check`). A file that loads compiles
(:mod:`socd.normalize.codegen`) and normalises any message into a document Elasticsearch
indexes, or rejects it for a missing or unfit required field.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from collections.abc import Callable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from socd.errors import ConnectorError, Problem
from socd.normalize.convert import CONVERTERS, Converter, timestamp_converter, to_ip
from socd.yamlfile import KeyLines, YamlFileError, describe, error_key, line_of, read_yaml

FieldType = Literal["string", "integer", "float", "port", "boolean", "ip", "ips", "strings",
                    "timestamp"]
Format = Literal["json", "cef", "leef", "ecs"]
Scalar = str | int | float | bool
Limits = tuple[float, float]
"""The numbers a field's Elasticsearch type stores: (lowest, highest)."""

TRANSFORMS = ("map", "thresholds", "value", "family", "replace")
_NAME = r"^[a-z0-9][a-z0-9_-]*$"
HINT = "see connectors/README.md for the keys a mapping takes"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Model):
    """How one ECS field is made (one case of it, when it has several)."""

    from_: Annotated[str | Annotated[list[str], Field(min_length=1)] | None,
                     Field(alias="from")] = None
    of: str | Annotated[list[str], Field(min_length=1)] | None = None
    when: Annotated[dict[str, Scalar | Annotated[list[Scalar], Field(min_length=1)]],
                    Field(min_length=1)] | None = None
    type: FieldType | None = None
    required: bool = False
    all: bool = False
    null_values: list[str | int] = Field(default_factory=list)
    min: float | None = None
    max: float | None = None
    lowercase: bool = False
    map: dict[Scalar, Any] | None = None
    thresholds: list[tuple[float, Any]] | None = None
    value: Any = None
    family: dict[Literal["ipv4", "ipv6"], Any] | None = None
    replace: dict[Scalar, Any] | None = None
    unmapped: Any = None
    default: Any = None

    @model_validator(mode="after")
    def _one_of_each(self) -> FieldSpec:
        if (self.from_ is None) == (self.of is None):
            raise ValueError("give `from:` (the message's field) or `of:` (a field written "
                             "above), one of the two")
        chosen = [name for name in TRANSFORMS if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"use one of {', '.join(TRANSFORMS)} (not {' and '.join(chosen)})")
        if self.unmapped is not None and self.map is None:
            raise ValueError("unmapped needs a map")
        if self.family is not None and set(self.family) != {"ipv4", "ipv6"}:
            raise ValueError("family takes both ipv4 and ipv6 (null: write nothing)")
        return self

    @property
    def sources(self) -> list[str]:
        """The message paths read (``from``), first present wins; [] for ``of``."""
        found = self.from_
        return [] if found is None else [found] if isinstance(found, str) else list(found)

    @property
    def refs(self) -> list[str]:
        """The document fields read (``of``); [] for ``from``."""
        found = self.of
        return [] if found is None else [found] if isinstance(found, str) else list(found)

    @property
    def paths(self) -> list[str]:
        """Every message path the field reads: its sources and its ``when`` keys."""
        return self.sources + list(self.when or {})

    @property
    def kind(self) -> FieldType:
        """The conversion type (``string`` until :mod:`socd.normalize.check` resolves it)."""
        return self.type or "string"

    @property
    def transform(self) -> str | None:
        """The transform key the field uses (map, thresholds, value, family, replace)."""
        return next((name for name in TRANSFORMS if getattr(self, name) is not None), None)

    @property
    def nulls(self) -> frozenset[str]:
        """The field's own placeholders, as text."""
        return frozenset(str(item) for item in self.null_values if not isinstance(item, bool))


def _cases_or_one(value: Any) -> str:
    return "cases" if isinstance(value, list) else "one"


Entry = Annotated[Annotated[FieldSpec, Tag("one")]
                  | Annotated[Annotated[list[FieldSpec], Field(min_length=1)], Tag("cases")],
                  Discriminator(_cases_or_one)]


class MappingFile(_Model):
    name: Annotated[str, Field(pattern=_NAME)]
    description: str = ""
    format: Format = "json"
    namespace: Annotated[str, Field(pattern=_NAME)] | None = None
    logsource: dict[Literal["product", "category", "service"], str] = Field(default_factory=dict)
    unwrap: Annotated[str, Field(min_length=1)] | None = None
    null_values: list[str] = Field(default_factory=list)
    passthrough: bool = False
    fields: dict[str, Entry]
    set: dict[str, Any] = Field(default_factory=dict)

    @property
    def vendor(self) -> str:
        """The namespace of the fields outside ECS (``namespace``, else ``name``)."""
        return self.namespace or self.name

    def targets(self) -> Iterator[tuple[str, list[FieldSpec]]]:
        """Each target with its cases (one case for a plain field), in file order."""
        for target, entry in self.fields.items():
            yield target, entry if isinstance(entry, list) else [entry]

    def specs(self) -> Iterator[tuple[str, FieldSpec]]:
        """Every (target, case) of the file."""
        for target, cases in self.targets():
            for case in cases:
                yield target, case


# -- converters ------------------------------------------------------------------------------

def base_converter(spec: FieldSpec, zone: tzinfo) -> Converter:
    """The field's ``type`` conversion, then ``lowercase``."""
    convert = timestamp_converter(zone) if spec.kind == "timestamp" else CONVERTERS[spec.kind]
    if spec.lowercase:
        inner = convert

        def convert_lower(value: Any) -> Any:
            result = inner(value)
            if result.__class__ is list:
                return [item.lower() for item in result]
            return result.lower() if isinstance(result, str) else result

        convert = convert_lower
    return convert


def converter_for(spec: FieldSpec, zone: tzinfo, *, limits: Limits | None = None,
                  trusted: bool = False) -> Converter:
    """The field's conversion composed with its range checks and its transform.

    ``limits`` are the numbers the target's Elasticsearch type stores; ``trusted`` values
    (read with ``of`` from a field of the same ECS type) are taken as they are.
    Raises ValueError('why') for a value that does not fit.
    """
    if spec.family is not None:
        convert: Converter = address_family
    elif trusted:
        convert = _same
    else:
        convert = base_converter(spec, zone)
    if spec.min is not None or spec.max is not None:
        convert = _ranged(convert, spec.min, spec.max, "")
    if limits is not None and not (spec.min is not None and spec.min >= limits[0]
                                   and spec.max is not None and spec.max <= limits[1]):
        convert = _ranged(convert, limits[0], limits[1], " (what its field stores)")
    if spec.map is not None:
        inner_map = convert
        table = map_table(spec.map, base_converter(spec, zone))
        fallback = spec.unmapped if spec.unmapped is not None else spec.default

        def convert_map(value: Any) -> Any:
            key = str(inner_map(value)).lower()
            if key in table:
                return fresh(table[key])  # None: "write nothing"
            if fallback is not None:
                return fresh(fallback)
            known = sorted(table)
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ValueError(f"{show(value)} is not one of {shown}")

        return convert_map
    if spec.replace is not None:
        inner_replace = convert
        replacements = map_table(spec.replace, base_converter(spec, zone))

        def convert_replace(value: Any) -> Any:
            result = inner_replace(value)
            key = str(result).lower()
            return fresh(replacements[key]) if key in replacements else result

        return convert_replace
    if spec.thresholds is not None:
        inner_thr = convert
        steps = sorted(spec.thresholds, key=lambda step: step[0], reverse=True)

        copies = any(label.__class__ in (list, dict) for _, label in steps)

        def convert_thresholds(value: Any) -> Any:
            number = inner_thr(value)
            for lowest, label in steps:
                if number >= lowest:
                    return fresh(label) if copies else label
            raise ValueError(f"{number!r} is below every threshold")

        return convert_thresholds
    if spec.family is not None:
        inner_family, labels = convert, spec.family

        def convert_family(value: Any) -> Any:
            return fresh(labels[inner_family(value)])

        return convert_family
    if spec.value is not None:
        inner_const, constant = convert, spec.value

        def convert_const(value: Any) -> Any:
            inner_const(value)
            return constant

        def convert_copy(value: Any) -> Any:
            inner_const(value)
            return copy.deepcopy(constant)

        return convert_copy if constant.__class__ in (list, dict) else convert_const
    return convert


def fresh(value: Any) -> Any:
    """A constant to write: lists and objects copied (no two documents share them)."""
    return copy.deepcopy(value) if value.__class__ in (list, dict) else value


def _same(value: Any) -> Any:
    return value


def _ranged(inner: Converter, low: float | None, high: float | None,
            what: str) -> Converter:
    def convert_range(value: Any) -> Any:
        result = inner(value)
        if (low is not None and result < low) or (high is not None and result > high):
            raise ValueError(f"{show(result)} is outside {low}..{high}{what}")
        return result

    return convert_range


def address_family(value: Any) -> str:
    """``ipv4`` or ``ipv6``: the family of an IP address or network (``10.0.0.0/8``),
    after the same canonical reading as an ``ip`` field (an IPv4-mapped IPv6 address is
    the IPv4 address it holds, when :func:`~socd.normalize.convert.to_ip` says so)."""
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address, got {type(value).__name__}")
    try:
        return "ipv6" if ":" in to_ip(value) else "ipv4"
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{show(value)} is not an IP address or network") from None
    return "ipv4" if network.version == 4 else "ipv6"


def map_table(mapping: dict[Scalar, Any], convert: Callable[[Any], Any] | None = None
              ) -> dict[str, Any]:
    """A map's keys as the converter compares them: each key read with the field's
    ``type`` (so that ``"01"`` of an integer map meets 1), then as lower-cased text.
    A key the type cannot read is kept as text (the check refuses such a file)."""
    table = {}
    for key, value in mapping.items():
        text = str(key).lower()
        if convert is not None:
            with contextlib.suppress(ValueError, TypeError):
                text = str(convert(key)).lower()
        table[text] = value
    return table


def when_key(value: Any) -> str | None:
    """How ``when`` compares a value: as lower-cased text (a number or boolean as its
    text); None for anything else (a list, an object, null)."""
    if value.__class__ is str:
        return value.lower()
    if isinstance(value, bool | int | float):
        return str(value).lower()
    return None


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- loading ---------------------------------------------------------------------------------

def load_mapping_file(path: Path) -> MappingFile:
    """Read, validate and check one mapping file.

    Returns the file with every field's ``type`` resolved. Raises ConnectorError with
    every problem found, each naming the file, the line and the key, and what to do.
    """
    from socd.normalize.check import check_mapping

    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise ConnectorError([exc.problem]) from exc
    try:
        spec = MappingFile.model_validate(data)
    except ValidationError as exc:
        raise ConnectorError(schema_problems(exc, path, lines)) from exc
    checked, problems = check_mapping(spec, path, lines)
    if problems:
        raise ConnectorError(problems)
    return checked


def schema_problems(exc: ValidationError, path: Path, lines: KeyLines) -> list[Problem]:
    """One Problem per pydantic error, with the file, line and key as written."""
    problems = []
    for err in exc.errors():
        loc = error_key(err)
        if loc[:1] == ("fields",) and len(loc) > 2 and loc[2] in ("one", "cases"):
            loc = loc[:2] + loc[3:]  # the entry's shape (one spec or a list), not a key
        problems.append(Problem(str(path), describe(err, HINT),
                                line=line_of(lines, loc), key=".".join(loc) or None))
    return problems
