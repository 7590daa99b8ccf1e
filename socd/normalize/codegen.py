"""Compile a mapping file into one plain Python function, the connector's hot path.

Interpreting field specs event by event costs a call and a loop per field; the generated
function instead

* reads each object on the way to a source once (``alert`` for ``alert.signature`` and
  ``alert.severity``) into a local, and each source with one ``dict.get``; the fields that
  all read from one absent object (``dns.*`` of an alert) are skipped together;
* keeps a second variant for the rare event with literal dotted keys (Zeek's
  ``"id.orig_h"``), taken when the event has a key the mapping could read that way;
* converts a value inline when it already has the wanted shape (a ``str`` for a string, an
  ``int`` in range for a port, a canonical dotted quad for an ip, a key of a map), and calls
  the field's converter (:func:`~socd.normalize.mapping.converter_for`) otherwise;
* writes into the document's objects through locals, creating each object once.

It behaves exactly as the spec in :mod:`socd.normalize.mapping` says; ``tests/unit/normalize``
checks the generated function against a plain interpreter of the spec on the same events.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.convert import is_canonical_ipv4
from socd.normalize.mapping import FieldSpec, MappingFile, converter_for, map_table
from socd.normalize.paths import drop_path, lookup, put_default, put_path

Apply = Callable[[dict[str, Any]], dict[str, Any]]
"""decoded message → ECS document. It owns the message: passthrough mappings reuse it."""

_EMPTY: dict[str, Any] = {}


def _split(name: str) -> list[str]:
    return [name] if name == "@timestamp" else name.split(".")


def _ident(parts: list[str]) -> str:
    return "_".join("".join(ch if ch.isalnum() else "_" for ch in part) for part in parts)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "EMPTY": _EMPTY, "NormalizeError": NormalizeError,
            "deepcopy": copy.deepcopy, "IPV4": is_canonical_ipv4, "_why": _why,
            "_lookup": lookup, "_put": put_path, "_drop": drop_path,
            "_put_default": put_default}
        self.literal = False  # reading with literal dotted keys (the slow variant)
        self.base = 0  # extra indentation (inside a group of fields)
        self.objects: dict[tuple[str, ...], str] = {}   # source object path → local
        self.targets: dict[tuple[str, ...], str] = {}   # document object path → local
        self.made: set[tuple[str, ...]] = set()         # ... that the constants create

    def fresh(self, value: Any) -> str:
        """An expression that yields ``value``, a new copy each time when it is mutable."""
        if not isinstance(value, list | dict):
            return self.bind("const", value)
        try:
            factory = eval(f"lambda: {value!r}", {})  # plain YAML data: repr is a literal
        except SyntaxError:
            return f"deepcopy({self.bind('const', value)})"
        return f"{self.bind('make', factory)}()"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * (depth + self.base) + line)

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else "wrong type"


# -- reading ---------------------------------------------------------------------------------

def _source_objects(w: _Writer, spec: MappingFile) -> None:
    """One local per object on the way to a source (``EMPTY`` when it is not an object)."""
    prefixes = sorted({tuple(parts[:depth])
                       for field in spec.fields.values() for path in field.sources
                       for parts in [path.split(".")] for depth in range(1, len(parts))},
                      key=len)
    for prefix in prefixes:
        name = f"o_{_ident(list(prefix))}_{len(w.objects)}"
        parent = w.objects.get(prefix[:-1], "event") if len(prefix) > 1 else "event"
        w.emit(1, f"{name} = {parent}.get({prefix[-1]!r})")
        w.emit(1, f"if {name}.__class__ is not dict:")
        w.emit(2, f"{name} = EMPTY")
        w.objects[prefix] = name


def _read(w: _Writer, depth: int, path: str) -> None:
    parts = path.split(".")
    if len(parts) == 1:
        w.emit(depth, f"v = event.get({path!r})")
    elif w.literal:
        w.emit(depth, f"v = _lookup(event, {path!r})")
    else:
        w.emit(depth, f"v = {w.objects[tuple(parts[:-1])]}.get({parts[-1]!r})")


def _null_test(spec: MappingFile) -> str:
    nulls = [text for text in spec.null_values if text != ""]
    test = 'v is None or v == ""'
    if nulls:
        test += f" or (v.__class__ is str and v in {frozenset(nulls)!r})"
    return test


# -- writing ---------------------------------------------------------------------------------

def _target_object(w: _Writer, depth: int, parts: list[str]) -> str:
    """The local that holds the document object ``parts``, created here if still None."""
    if not parts:
        return "doc"
    key = tuple(parts)
    name = w.targets[key]
    if key not in w.made:
        w.emit(depth, f"if {name} is None:")
        parent = _target_object(w, depth + 1, parts[:-1])
        w.emit(depth + 1, f"{name} = {parent}[{parts[-1]!r}] = {{}}")
    return name


def _prepare_targets(w: _Writer, spec: MappingFile) -> None:
    """Build the constants (``set:``) and a local for every object a field writes into."""
    tree: dict[str, Any] = {}
    for name, value in spec.set.items():
        node = tree
        parts = _split(name)
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    parents = {tuple(_split(target)[:depth]) for target in spec.fields
               for depth in range(1, len(_split(target)))}
    for parent in sorted(parents, key=len):
        w.targets[parent] = f"t_{_ident(list(parent))}_{len(w.targets)}"

    def build(node: dict[str, Any], path: tuple[str, ...]) -> str:
        # repr() of plain YAML data is a literal that builds fresh objects on every call
        items = []
        for key, value in node.items():
            child = (*path, key)
            if isinstance(value, dict) and child in w.targets:
                items.append(f"{key!r}: {build(value, child)}")
            else:
                items.append(f"{key!r}: {value!r}")
        literal = "{" + ", ".join(items) + "}"
        if path in w.targets:
            w.emit(1, f"{w.targets[path]} = {literal}")
            return w.targets[path]
        return literal

    literal = build({key: value for key, value in tree.items()}, ())
    w.emit(1, f"doc = {literal}")
    w.made = {path for path in w.targets if _in_tree(tree, path)}
    rest = [name for path, name in w.targets.items() if path not in w.made]
    if rest:
        w.emit(1, " = ".join(rest) + " = None")


def _in_tree(tree: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, dict)


def _write(w: _Writer, depth: int, target: str, value: str, passthrough: bool) -> None:
    parts = _split(target)
    if passthrough:
        w.emit(depth, f"_put(doc, {parts!r}, {value})")
        return
    holder = _target_object(w, depth, parts[:-1])
    w.emit(depth, f"{holder}[{parts[-1]!r}] = {value}")


# -- one field -------------------------------------------------------------------------------

def _fast_path(w: _Writer, spec: FieldSpec, nulls: frozenset[str]
               ) -> tuple[str, str, bool] | None:
    """``(test, expression, may_be_none)``: when ``test`` holds, ``v`` has the common shape,
    is not a null value, and ``expression`` is its ECS value (None: write nothing)."""
    not_null = f" and v not in {w.bind('nulls', nulls | {''})}" if nulls else " and v"
    if spec.map is not None:
        if spec.lowercase or spec.min is not None or spec.max is not None:
            return None
        skip = {text.lower() for text in nulls} | {""}
        table = {key: value for key, value in map_table(spec.map).items() if key not in skip}
        may_be_none = any(value is None for value in table.values())
        if any(isinstance(value, list | dict) for value in table.values()):
            # each value as a factory of fresh copies: T[key]() builds a new list
            table = {key: eval(f"lambda: {value!r}", {}) for key, value in table.items()}
            call = "()"
        else:
            call = ""
        if spec.type == "string":
            keys = w.bind("table", table)
            return (f"v.__class__ is str and v.lower() in {keys}", f"{keys}[v.lower()]{call}",
                    may_be_none)
        if spec.type == "integer":
            ints = {int(key): value for key, value in table.items()
                    if key.lstrip("-").isdigit()}
            keys = w.bind("table", ints)
            return f"v.__class__ is int and v in {keys}", f"{keys}[v]{call}", may_be_none
        return None
    if spec.thresholds is not None:
        return None
    low = spec.min
    high = spec.max
    if spec.type == "string":
        if low is not None or high is not None:
            return None
        test = "v.__class__ is str" + not_null
    elif spec.type in ("integer", "port"):
        if spec.type == "port":
            low = 0 if low is None else max(low, 0)
            high = 65535 if high is None else min(high, 65535)
        test = "v.__class__ is int"
        if low is not None and high is not None:
            test += f" and {low!r} <= v <= {high!r}"
        elif low is not None:
            test += f" and v >= {low!r}"
        elif high is not None:
            test += f" and v <= {high!r}"
    elif spec.type == "ip":
        if low is not None or high is not None:
            return None
        test = "v.__class__ is str and IPV4(v) is not None" + (not_null if nulls else "")
    else:
        return None
    expression = "v.lower()" if spec.lowercase else "v"
    if spec.value is not None:
        expression = w.fresh(spec.value)
    return test, expression, False


def _group(spec: FieldSpec) -> str | None:
    """The top-level object all of the field's sources sit in, when the field does
    nothing at all without it (no default, not required)."""
    if spec.required or spec.default is not None:
        return None
    firsts = {path.split(".")[0] for path in spec.sources if "." in path}
    if len(firsts) != 1 or any("." not in path for path in spec.sources):
        return None
    return firsts.pop()


def _field(w: _Writer, mapping: MappingFile, target: str, spec: FieldSpec,
           zone: tzinfo) -> None:
    """Read, convert and write one field::

        v = <read>
        if <v has the common shape>:   v = <inline conversion>; <write>
        elif <v is not null>:          v = convert(v) (or a warning); <write>
        else:                          <required: reject | default | nothing>
    """
    sources = spec.sources
    source = " or ".join(sources)
    null = _null_test(mapping)
    for index, path in enumerate(sources):
        _read(w, 1 + index, path)
        if index < len(sources) - 1:
            w.emit(1 + index, f"if {null}:")
    passthrough = mapping.passthrough
    replaces_own = passthrough and target in sources
    fast = _fast_path(w, spec, frozenset(mapping.null_values) - {""})
    if fast is not None:
        test, expression, may_be_none = fast
        w.emit(1, f"if {test}:")
        if expression != "v":
            w.emit(2, f"v = {expression}")
        if may_be_none:
            w.emit(2, "if v is not None:")
            _write(w, 3, target, "v", passthrough)
        else:
            _write(w, 2, target, "v", passthrough)
        if expression == "v" and spec.type == "string":
            w.emit(1, "elif v.__class__ is int:")  # to_string of an int, inline
            _write(w, 2, target, "str(v)", passthrough)
        w.emit(1, f"elif not ({null}):")
    else:
        w.emit(1, f"if not ({null}):")
    convert = w.bind("conv", converter_for(spec, zone))
    w.emit(2, "try:")
    w.emit(3, f"v = {convert}(v)")
    w.emit(2, "except (ValueError, TypeError, RecursionError) as exc:")
    if spec.required:
        reason = w.bind("why", f"{source}: ")
        w.emit(3, f"raise NormalizeError({reason} + _why(exc)) from None")
    else:
        left_out = w.bind("left_out", f"{target} left out: {source}: ")
        w.emit(3, f"warnings.append({left_out} + _why(exc))")
        w.emit(3, "v = None")
    w.emit(2, "if v is not None:")
    _write(w, 3, target, "v", passthrough)
    if replaces_own:
        w.emit(2, "else:")
        w.emit(3, f"_drop(doc, {_split(target)!r})")
    if spec.required:
        w.emit(1, "else:")
        w.emit(2, f"raise NormalizeError({f'required field {source!r} is missing'!r})")
    elif spec.default is not None:
        w.emit(1, "else:")
        _write(w, 2, target, w.fresh(spec.default), passthrough)
    elif replaces_own:
        w.emit(1, "else:")
        w.emit(2, f"_drop(doc, {_split(target)!r})")


# -- the function ----------------------------------------------------------------------------

def _function(w: _Writer, spec: MappingFile, zone: tzinfo, name: str,
              dotted: frozenset[str], literal: bool) -> None:
    w.objects, w.targets, w.made, w.literal = {}, {}, set(), literal
    w.emit(0, f"def {name}(event):")
    if not literal:
        if spec.unwrap is not None:
            w.emit(1, f"inner = event.get({spec.unwrap!r})")
            w.emit(1, "if inner.__class__ is dict:")
            w.emit(2, "event = inner")
        if dotted:
            # a literal key with dots (Zeek's "id.orig_h") must be found too: such events
            # take the variant that looks for them
            w.emit(1, f"if not {w.bind('dotted', dotted)}.isdisjoint(event):")
            w.emit(2, "return apply_literal(event)")
    w.emit(1, "warnings = []")
    if spec.passthrough:
        w.emit(1, "doc = event")
        w.emit(1, "if 'socd' in doc:")
        w.emit(2, "del doc['socd']")
        w.emit(2, "warnings.append('socd left out: the socd namespace is socd\\'s own')")
        for target, value in spec.set.items():
            w.emit(1, f"_put_default(doc, {_split(target)!r}, {value!r})")
    else:
        _prepare_targets(w, spec)
    if not literal:
        _source_objects(w, spec)
    group = None
    for target, field_spec in spec.fields.items():
        key = None if literal or spec.passthrough else _group(field_spec)
        if key != group:
            w.base = 0
            if key is not None:
                # none of these fields can write anything when their object is absent
                w.emit(1, f"if {w.objects[(key,)]} is not EMPTY:")
                w.base = 1
            group = key
        _field(w, spec, target, field_spec, zone)
    w.base = 0
    w.emit(1, "if warnings:")
    w.emit(2, "s = doc.get('socd')")
    w.emit(2, "if s is None:")
    w.emit(3, "s = doc['socd'] = {}")
    w.emit(2, "s['warnings'] = warnings")
    w.emit(1, "return doc")


def compile_mapping(spec: MappingFile, zone: tzinfo) -> Apply:
    """The generated ``apply(event) -> ECS document`` for one mapping and time zone."""
    w = _Writer()
    # ecs messages arrive with their dotted keys already expanded (see codecs)
    dotted = frozenset() if spec.format == "ecs" else frozenset(
        ".".join(parts[:depth])
        for field in spec.fields.values() for path in field.sources
        for parts in [path.split(".")] for depth in range(2, len(parts) + 1))
    _function(w, spec, zone, "apply", dotted, literal=False)
    if dotted:
        _function(w, spec, zone, "apply_literal", dotted, literal=True)
    source = "\n".join(w.lines)
    namespace = dict(w.names)
    exec(compile(source, f"<connector {spec.name}>", "exec"), namespace)
    function: Apply = namespace["apply"]
    function.__doc__ = source
    return function
