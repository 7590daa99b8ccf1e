"""What a mapping file means, checked against the ECS reference (the second step of loading).

The schema (:mod:`socd.normalize.mapping`) says which keys a file takes; this module says
whether the file can do what it says, every event, so that a file that loads never fails at
run time and never writes a value Elasticsearch would refuse:

* every target is an ECS field socd can write (:mod:`socd.normalize.ecs`), a key of an
  object of free keys (``labels.env``) or a field under the connector's namespace;
* the ``type`` writes values of the field's ECS type (a field without ``type`` gets the
  ECS field's own); a field whose ECS values are restricted (``event.kind``) writes only
  constants, each of them allowed; every constant (``set``, ``map``, ``default`` …) is
  JSON of the field's type (no ``.inf``, ``.nan``, YAML dates or numbers Elasticsearch
  cannot store);
* options fit their type (``min``/``max`` and ``thresholds`` on numbers, ``lowercase`` on
  text, ``map`` keys the type can read), ``of`` names fields written above, every case but
  the last has a ``when``, and a field outside ECS keeps one kind of value.

Each problem names the file, the line, the key and what to do.
"""

from __future__ import annotations

import math
from datetime import UTC
from pathlib import Path
from typing import Any, cast

from socd.errors import Problem
from socd.normalize.ecs import (
    FITS,
    KINDS,
    WRITABLE,
    EcsField,
    constant_problem,
    ecs_field,
    field_sets,
    inferred,
    suggestion,
    value_kinds,
)
from socd.normalize.mapping import FieldSpec, FieldType, MappingFile, base_converter, show
from socd.yamlfile import KeyLines, line_of

Loc = tuple[str, ...]

_READS = {"integer": "whole numbers", "port": "port numbers", "float": "numbers",
          "boolean": "true/false", "ip": "IP addresses", "ips": "IP addresses",
          "timestamp": "times", "string": "text", "strings": "text"}


def check_mapping(spec: MappingFile, path: Path, lines: KeyLines
                  ) -> tuple[MappingFile, list[Problem]]:
    """The file with every field's ``type`` resolved, and every problem found."""
    return _Checker(spec, path, lines).run()


def split(name: str) -> list[str]:
    return [name] if name == "@timestamp" else name.split(".")


def trusted(spec: MappingFile, target: str, field: FieldSpec) -> bool:
    """Whether an ``of`` field may take its values as they are: each names a field this
    (not passthrough) mapping wrote above with the same ECS type and the same ``type``, one
    value at a time, so that converting it again would give it back unchanged. (A field with
    placeholders, bounds or ``lowercase`` of its own converts.)"""
    if not field.refs or spec.passthrough or field.nulls or field.min is not None \
            or field.max is not None or field.lowercase:
        return False
    own = ecs_field(target)
    if field.family is not None:
        wanted = "ip"
    elif own is None or own.type not in WRITABLE or inferred(own) != field.kind:
        return False
    else:
        wanted = own.type
    for ref in field.refs:
        other = ecs_field(ref)
        if other is None or other.type != wanted or ref in spec.set or ref not in spec.fields:
            return False
        entry = spec.fields[ref]
        for case in entry if isinstance(entry, list) else [entry]:
            if case.kind != field.kind:
                return False
            constants = [value for _, value in _Checker.constants(case, ())]
            if case.all or any(isinstance(value, list | dict) or value == ""
                               or value in spec.null_values
                               for value in constants if value is not None):
                return False  # (a constant that is a placeholder would be read as none)
    return True


class _Checker:
    def __init__(self, spec: MappingFile, path: Path, lines: KeyLines) -> None:
        self.spec = spec
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(str(self.path), message, line=line_of(self.lines, loc),
                                     key=".".join(loc) or None))

    def run(self) -> tuple[MappingFile, list[Problem]]:
        spec = self.spec
        for target, value in spec.set.items():
            ok, field = self.target(target, ("set", target))
            if ok:
                problem = constant_problem(value, field)
                if problem is None and value is None:
                    problem = "null writes nothing: remove the constant"
                if problem is None and field is None and len(value_kinds(value)) > 1:
                    problem = (f"{target} gets values of different kinds "
                               f"({', '.join(sorted(value_kinds(value)))}); Elasticsearch "
                               "keeps one: write one kind")
                if problem is not None:
                    self.add(("set", target), problem)
        written = set(spec.set)
        resolved: dict[str, Any] = {}
        for target, cases in spec.targets():
            ok, field = self.target(target, ("fields", target))
            many = isinstance(spec.fields[target], list)
            done = []
            kinds: dict[str, Loc] = {}
            for index, case in enumerate(cases):
                loc = ("fields", target, str(index)) if many else ("fields", target)
                if many and index < len(cases) - 1 and case.when is None:
                    self.add(loc, f"case {index + 1} of {len(cases)} has no `when:`, so the "
                                  "cases after it never apply: give it a `when:` or put it last")
                self.paths(case, loc, written)
                if spec.passthrough:
                    self.passthrough(target, case, loc, many)
                done.append(self.case(target, field if ok else None, case, loc, ok, kinds))
            if ok and field is None and len(kinds) > 1:
                where = ", ".join(f"{kind} from {'.'.join(loc[2:]) or 'from'}"
                                  for kind, loc in sorted(kinds.items()))
                self.add(("fields", target), f"{target} gets values of different kinds "
                         f"({where}); Elasticsearch keeps one: write one kind")
            resolved[target] = done if many else done[0]
            written.add(target)
        self.collisions()
        self.problems.sort(key=lambda problem: problem.line or 0)
        return spec.model_copy(update={"fields": resolved}), self.problems

    # -- targets ---------------------------------------------------------------------------

    def target(self, target: str, loc: Loc) -> tuple[bool, EcsField | None]:
        """(usable, its ECS field or None for the vendor namespace); a problem if not."""
        parts = split(target)
        namespace = self.spec.vendor
        if any(not part for part in parts):
            self.add(loc, f"{target!r} is not a field name: write names joined by single dots")
            return False, None
        if parts[0] == "socd":
            self.add(loc, f"{target}: socd.* holds socd's own verdict and notes; map to an "
                          f"ECS field or under {namespace}.*")
            return False, None
        field = ecs_field(target)
        if field is not None:
            if field.type not in WRITABLE:
                self.add(loc, f"{target} is an ECS {field.type} field, which a mapping cannot "
                              f"write: map the fields inside it ({target}.<name>)")
                return False, None
            return True, field
        if parts[0] == namespace and namespace not in field_sets():
            if len(parts) == 1:
                self.add(loc, f"{target} is the namespace itself: name a field under it "
                              f"({namespace}.<name>)")
                return False, None
            return True, None
        if parts[0] == namespace:
            fix = (f"fields outside ECS go under the connector's namespace, and {namespace} "
                   "is an ECS field set: give the file `namespace:` the vendor's name")
        else:
            fix = (f"use an ECS field (the ECS 9.4 field reference lists them) or put the "
                   f"value under this connector's namespace, e.g. {namespace}.{parts[-1]}")
        self.add(loc, f"{target} is not an ECS field{suggestion(target)}; {fix}")
        return False, None

    def paths(self, case: FieldSpec, loc: Loc, written: set[str]) -> None:
        for path in case.sources:
            if not path or any(not part for part in path.split(".")):
                self.add((*loc, "from"), f"{path!r} is not a path: write keys joined by "
                                         "single dots")
        for ref in case.refs:
            if ref not in written:
                self.add((*loc, "of"), f"of: {ref} is not written above this field: list it "
                                       "under fields: before this one, or read the message "
                                       "with from:")
        for path in case.when or {}:
            if not path or any(not part for part in path.split(".")):
                self.add((*loc, "when", path), f"{path!r} is not a path: write keys joined "
                                               "by single dots")

    def passthrough(self, target: str, case: FieldSpec, loc: Loc, many: bool) -> None:
        """A passthrough message keeps its own fields: a field the mapping names must check
        the value the message brings too, whatever else it reads."""
        if many or case.when is not None:
            self.add(loc, f"{target}: a passthrough mapping cannot make a field depend on "
                          "`when:` (the message's own value would go unchecked): remove it")
        elif target not in case.sources:
            self.add((*loc, "of" if case.refs else "from"),
                     f"{target}: in a passthrough mapping the field must read its own value "
                     f"too, so that what the message brings is checked: write from: "
                     f"[{', '.join([*case.sources, target])}]")

    def collisions(self) -> None:
        spec = self.spec
        for name in sorted([*spec.fields, *spec.set]):
            loc = ("fields", name) if name in spec.fields else ("set", name)
            if name in spec.fields and name in spec.set:
                self.add(loc, f"{name} is both a field and a constant (set:); keep one")
            parts = split(name)
            for depth in range(1, len(parts)):
                parent = ".".join(parts[:depth])
                if parent in spec.fields or parent in spec.set:
                    self.add(loc, f"{name} would go inside {parent}, which is a value; "
                                  "remove one of them")

    # -- one case --------------------------------------------------------------------------

    def case(self, target: str, field: EcsField | None, case: FieldSpec, loc: Loc,
             usable: bool, kinds: dict[str, Loc]) -> FieldSpec:
        kind = self.resolve(case, field, loc)
        resolved = case.model_copy(update={"type": kind})
        self.options(resolved, loc)
        transform = case.transform
        raw = transform in (None, "replace")
        if usable and field is not None and raw:
            if field.type not in FITS[kind]:
                where = (*loc, "type") if case.type is not None else loc
                self.add(where, f"{target} is an ECS {field.type} field and type {kind} "
                                f"writes {_READS[kind]}: use type: {inferred(field)} "
                                "(or leave type out)")
            if field.allowed:
                self.add(loc, f"{target} takes only {', '.join(sorted(field.allowed))}: "
                              "give a map: from the sensor's values to these")
        if raw:
            kinds.setdefault(KINDS[kind], loc)
        for key, value in self.constants(case, loc):
            problem = constant_problem(value, field if usable else None)
            if problem is not None:
                self.add(key, problem)
            elif usable and field is None:
                for found in value_kinds(value):
                    kinds.setdefault(found, key)
        if case.family is not None and usable:
            for ref in case.refs:
                other = ecs_field(ref)
                if other is not None and other.type != "ip":
                    self.add((*loc, "of"), f"family reads IP addresses, and {ref} is an ECS "
                                           f"{other.type} field: read an ip field")
        return resolved

    def resolve(self, case: FieldSpec, field: EcsField | None, loc: Loc) -> FieldType:
        """The conversion type: as given, else the ECS field's, else what the transform
        reads (family: addresses; thresholds: numbers)."""
        transform = case.transform
        if case.family is not None:
            if case.type not in (None, "ip"):
                self.add((*loc, "type"), "family reads an IP address or network: remove "
                                         "type:")
            return "ip"
        if case.type is not None:
            return case.type
        if transform in (None, "replace"):
            return cast(FieldType, inferred(field)) if field is not None else "string"
        return "float" if transform == "thresholds" else "string"

    def options(self, case: FieldSpec, loc: Loc) -> None:
        kind = case.kind
        numeric = kind in ("integer", "float", "port")
        for name in ("min", "max"):
            bound = getattr(case, name)
            if bound is None:
                continue
            if not numeric:
                self.add((*loc, name), f"{name} bounds numbers: give type: integer or float")
            elif not math.isfinite(bound):
                self.add((*loc, name), f"{name}: {bound} is not a finite number; write one "
                                       "(or leave it out)")
        if case.min is not None and case.max is not None and case.min > case.max:
            self.add((*loc, "min"), f"min {case.min} is above max {case.max}: no value would "
                                    "fit; swap them")
        if case.thresholds is not None:
            if not numeric:
                self.add((*loc, "thresholds"), "thresholds compare numbers: give type: "
                                               "integer or float")
            for index, (lowest, _) in enumerate(case.thresholds):
                if not math.isfinite(lowest):
                    self.add((*loc, "thresholds", str(index)),
                             f"{lowest} is not a finite number; write one")
        if case.lowercase and kind not in ("string", "strings"):
            self.add((*loc, "lowercase"), f"lowercase changes text, and type {kind} reads "
                                          f"{_READS[kind]}: remove it or use type: string")
        for name in ("map", "replace"):
            table = getattr(case, name)
            if table is not None:
                self.keys(case, name, table, loc)

    def keys(self, case: FieldSpec, name: str, table: dict[Any, Any], loc: Loc) -> None:
        kind = case.kind
        if kind in ("strings", "ips", "timestamp") or (name == "replace" and kind != "string"):
            gives = "a list" if kind in ("strings", "ips") else "UTC times"
            self.add((*loc, name), f"{name} compares one value as text, and type {kind} "
                                   f"gives {gives}: use type: string")
            return
        convert = base_converter(case, UTC)
        seen: dict[str, Any] = {}
        for key, value in table.items():
            where = (*loc, name, str(key))
            if isinstance(key, bool) and kind != "boolean":
                self.add(where, f"YAML reads {str(key).lower()} (and yes, no, on, off) as a "
                                "boolean: write the key in quotes ('yes')")
                continue
            try:
                text = str(convert(key)).lower()
            except (ValueError, TypeError):
                self.add(where, f"the key {show(key)} can never match: type {kind} reads "
                                f"{_READS[kind]}")
                continue
            if text in seen and seen[text] != value:
                self.add(where, f"the key {show(key)} is the same {kind} as another key with "
                                "a different value: keep one")
            seen[text] = value

    @staticmethod
    def constants(case: FieldSpec, loc: Loc) -> list[tuple[Loc, Any]]:
        """Every constant the case may write, with the key it is written at."""
        found: list[tuple[Loc, Any]] = []
        for name in ("map", "family", "replace"):
            table = getattr(case, name)
            if table is not None:
                found += [((*loc, name, str(key)), value) for key, value in table.items()]
        if case.thresholds is not None:
            found += [((*loc, "thresholds", str(index)), label)
                      for index, (_, label) in enumerate(case.thresholds)]
        for name in ("value", "unmapped", "default"):
            value = getattr(case, name)
            if value is not None:
                found.append(((*loc, name), value))
        return found
