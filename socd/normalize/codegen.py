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
* reads ``of`` fields back from the document's objects, and takes them as they are when
  they were written with the same ECS type (:func:`~socd.normalize.check.trusted`);
* writes into the document's objects through locals, creating each object once.

It behaves exactly as the spec in :mod:`socd.normalize.mapping` says; ``tests/unit/normalize``
checks the generated function against a plain interpreter of the spec on the same events.
It expects a file checked by :func:`~socd.normalize.mapping.load_mapping_file`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from socd.errors import NormalizeError
from socd.normalize.check import split, trusted
from socd.normalize.convert import is_canonical_ipv4, to_integer, to_string
from socd.normalize.ecs import ecs_field, limits
from socd.normalize.mapping import (
    FieldSpec,
    Limits,
    MappingFile,
    converter_for,
    map_table,
    when_key,
)
from socd.normalize.paths import drop_path, lookup, put_default, put_path

Apply = Callable[[dict[str, Any]], dict[str, Any]]
"""decoded message → ECS document. It owns the message: passthrough mappings reuse it."""

_EMPTY: dict[str, Any] = {}
_ERRORS = (ValueError, TypeError, RecursionError)


def _ident(parts: list[str]) -> str:
    return "_".join("".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in part)
                    for part in parts)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "EMPTY": _EMPTY, "NormalizeError": NormalizeError,
            "deepcopy": copy.deepcopy, "IPV4": is_canonical_ipv4, "_why": why,
            "_lookup": lookup, "_put": put_path, "_drop": drop_path,
            "_put_default": put_default, "_key": when_key, "_collect": collect}
        self.literal = False  # reading with literal dotted keys (the slow variant)
        self.base = 0  # extra indentation (inside a group of fields or a case)
        self.objects: dict[tuple[str, ...], str] = {}   # source object path → local
        self.targets: dict[tuple[str, ...], str] = {}   # document object path → local
        self.made: set[tuple[str, ...]] = set()         # ... that the constants create
        self.kept: dict[str, str] = {}  # field read back with `of` → local holding its value

    def fresh(self, value: Any) -> str:
        """An expression that yields ``value``, a new copy each time when it is mutable."""
        if not isinstance(value, list | dict):
            return self.bind("const", value)
        try:
            factory = eval(f"lambda: {value!r}", {})  # plain JSON data: repr is a literal
        except SyntaxError:
            return f"deepcopy({self.bind('const', value)})"
        return f"{self.bind('make', factory)}()"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * (depth + self.base) + line)

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name


def why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else "wrong type"


def collect(out: list[Any], value: Any, convert: Callable[[Any], Any],
            is_null: Callable[[Any], bool], warnings: list[str], left_out: str) -> None:
    """``all: true``: add each present item of ``value`` (a list gives each of its items),
    converted, to ``out`` unless it is there already; name the unfit ones."""
    for item in value if value.__class__ is list else (value,):
        if is_null(item):
            continue
        try:
            item = convert(item)
        except _ERRORS as exc:
            warnings.append(left_out + why(exc))
            continue
        for one in item if item.__class__ is list else (item,):
            if one is not None and one not in out:
                out.append(one)


# -- reading ---------------------------------------------------------------------------------

def _message_paths(spec: MappingFile) -> set[str]:
    return {path for _, case in spec.specs() for path in case.paths}


def _source_objects(w: _Writer, spec: MappingFile) -> None:
    """One local per object on the way to a source (``EMPTY`` when it is not an object)."""
    prefixes = sorted({tuple(parts[:depth]) for path in _message_paths(spec)
                       for parts in [path.split(".")] for depth in range(1, len(parts))},
                      key=len)
    for prefix in prefixes:
        name = f"o_{_ident(list(prefix))}_{len(w.objects)}"
        parent = w.objects.get(prefix[:-1], "event") if len(prefix) > 1 else "event"
        w.emit(1, f"{name} = {parent}.get({prefix[-1]!r})")
        w.emit(1, f"if {name}.__class__ is not dict:")
        w.emit(2, f"{name} = EMPTY")
        w.objects[prefix] = name


def _read(w: _Writer, depth: int, path: str, var: str = "v") -> None:
    parts = path.split(".")
    if len(parts) == 1:
        w.emit(depth, f"{var} = event.get({path!r})")
    elif w.literal:
        w.emit(depth, f"{var} = _lookup(event, {path!r})")
    else:
        w.emit(depth, f"{var} = {w.objects[tuple(parts[:-1])]}.get({parts[-1]!r})")


def _read_doc(w: _Writer, depth: int, path: str, passthrough: bool) -> None:
    """``v`` = the document's field ``path`` (written above), or None."""
    if path in w.kept:  # the value its field wrote, kept in a local
        w.emit(depth, f"v = {w.kept[path]}")
        return
    parts = split(path)
    parent = tuple(parts[:-1])
    local = w.targets.get(parent)
    if passthrough or (parent and local is None):
        w.emit(depth, f"v = _lookup(doc, {path!r})")
    elif not parent:
        w.emit(depth, f"v = doc.get({path!r})")
    elif parent in w.made:
        w.emit(depth, f"v = {local}.get({parts[-1]!r})")
    else:
        w.emit(depth, f"v = {local}.get({parts[-1]!r}) if {local} is not None else None")


def _nulls(mapping: MappingFile, spec: FieldSpec) -> tuple[frozenset[str], frozenset[int]]:
    """The placeholders of a field: as text (its own and the file's), and as integers."""
    texts = (frozenset(mapping.null_values) | spec.nulls) - {""}
    ints = set()
    for text in spec.nulls:
        with contextlib.suppress(ValueError):
            ints.add(to_integer(text))
    return texts, frozenset(ints)


def _null_test(w: _Writer, texts: frozenset[str], ints: frozenset[int]) -> str:
    test = 'v is None or v == ""'
    if texts:
        # the length first: hashing a long text (a whole log line) costs more than a test
        test += (f" or (v.__class__ is str and len(v) <= {max(map(len, texts))} "
                 f"and v in {w.bind('nulls', texts)})")
    if ints:
        test += f" or (v.__class__ is int and v in {w.bind('nulls', ints)})"
    return test


def _null_function(texts: frozenset[str], ints: frozenset[int]) -> Callable[[Any], bool]:
    def is_null(value: Any) -> bool:
        return (value is None or value == "" or (value.__class__ is str and value in texts)
                or (value.__class__ is int and value in ints))

    return is_null


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
        parts = split(name)
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    parents = {tuple(split(target)[:depth]) for target in spec.fields
               for depth in range(1, len(split(target)))}
    for parent in sorted(parents, key=len):
        w.targets[parent] = f"t_{_ident(list(parent))}_{len(w.targets)}"

    def build(node: dict[str, Any], path: tuple[str, ...]) -> str:
        # repr() of plain JSON data is a literal that builds fresh objects on every call
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
    parts = split(target)
    if passthrough:
        w.emit(depth, f"_put(doc, {parts!r}, {value})")
        return
    holder = _target_object(w, depth, parts[:-1])
    kept = f" = {w.kept[target]}" if target in w.kept else ""  # read back by an `of` below
    w.emit(depth, f"{holder}[{parts[-1]!r}]{kept} = {value}")


# -- one field -------------------------------------------------------------------------------

def _bounds(spec: FieldSpec, bound: Limits | None) -> tuple[float | None, float | None]:
    low, high = spec.min, spec.max
    if spec.kind == "port":
        low = 0 if low is None else max(low, 0)
        high = 65535 if high is None else min(high, 65535)
    if bound is not None:
        low = bound[0] if low is None else max(low, bound[0])
        high = bound[1] if high is None else min(high, bound[1])
    return low, high


def _fast_path(w: _Writer, spec: FieldSpec, texts: frozenset[str], ints: frozenset[int],
               bound: Limits | None, trust: bool) -> tuple[str, str, bool] | None:
    """``(test, expression, may_be_none)``: when ``test`` holds, ``v`` has the common shape,
    is not a placeholder, and ``expression`` is its ECS value (None: write nothing)."""
    not_null = (f" and v and (len(v) > {max(map(len, texts))} or v not in "
                f"{w.bind('nulls', texts)})") if texts else " and v"
    if trust:
        if spec.family is not None:
            four, six = spec.family["ipv4"], spec.family["ipv6"]
            return ("v.__class__ is str", f"({w.fresh(six)} if ':' in v else {w.fresh(four)})",
                    four is None or six is None)
        return ("v is not None", "v", False) if spec.transform is None else None
    if spec.family is not None:
        four = spec.family["ipv4"]
        test = "v.__class__ is str and IPV4(v) is not None"
        return test + (not_null if texts else ""), w.fresh(four), four is None
    ranged = spec.min is not None or spec.max is not None
    if spec.map is not None:
        if spec.lowercase or ranged:
            return None
        skip = {text.lower() for text in texts} | {""}
        converted = map_table(spec.map, to_string if spec.kind == "string" else to_integer)
        table = {key: value for key, value in converted.items() if key not in skip}
        may_be_none = any(value is None for value in table.values())
        if any(isinstance(value, list | dict) for value in table.values()):
            # each value as a factory of fresh copies: T[key]() builds a new list
            table = {key: eval(f"lambda: {value!r}", {}) for key, value in table.items()}
            call = "()"
        else:
            call = ""
        if spec.kind == "string":
            keys = w.bind("table", table)
            return (f"v.__class__ is str and v.lower() in {keys}", f"{keys}[v.lower()]{call}",
                    may_be_none)
        if spec.kind == "integer":
            low, high = _bounds(spec, bound)
            numbers = {}
            for key, value in table.items():
                try:
                    number = int(key)
                except ValueError:
                    continue
                if number not in ints and (low is None or number >= low) \
                        and (high is None or number <= high):
                    numbers[number] = value
            keys = w.bind("table", numbers)
            return f"v.__class__ is int and v in {keys}", f"{keys}[v]{call}", may_be_none
        return None
    if spec.replace is not None:
        if spec.kind != "string" or ranged or any(
                isinstance(value, list | dict) for value in spec.replace.values()):
            return None
        replacements = w.bind("table", map_table(spec.replace, to_string))
        lookup = "(v := v.lower()), v" if spec.lowercase else "v.lower(), v"
        return (f"v.__class__ is str{not_null}", f"{replacements}.get({lookup})",
                any(value is None for value in spec.replace.values()))
    if spec.thresholds is not None:
        return None
    if spec.kind == "string":
        if ranged:
            return None
        test = "v.__class__ is str" + not_null
    elif spec.kind in ("integer", "port"):
        low, high = _bounds(spec, bound)
        test = "v.__class__ is int"
        if low is not None and high is not None:
            test += f" and {low!r} <= v <= {high!r}"
        elif low is not None:
            test += f" and v >= {low!r}"
        elif high is not None:
            test += f" and v <= {high!r}"
        if ints:
            test += f" and v not in {w.bind('nulls', ints)}"
    elif spec.kind == "ip":
        if ranged:
            return None
        test = "v.__class__ is str and IPV4(v) is not None" + (not_null if texts else "")
    else:
        return None
    expression = "v.lower()" if spec.lowercase else "v"
    if spec.value is not None:
        expression = w.fresh(spec.value)
    return test, expression, False


def _group(spec: FieldSpec) -> str | None:
    """The top-level object all of the field's sources sit in, when the field does
    nothing at all without it (no default, not required, no condition)."""
    if spec.required or spec.default is not None or spec.when is not None or not spec.sources:
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
        elif <v is not a placeholder>: v = convert(v) (or a warning); <write>
        else:                          <required: reject | default | nothing>
    """
    texts, ints = _nulls(mapping, spec)
    null = _null_test(w, texts, ints)
    bound = limits(ecs_field(target), spec.kind)
    trust = trusted(mapping, target, spec)
    paths = spec.sources or spec.refs
    source = " or ".join(paths)
    passthrough = mapping.passthrough

    def read(depth: int, path: str) -> None:
        if spec.sources:
            _read(w, depth, path)
        else:
            _read_doc(w, depth, path, passthrough)

    convert = w.bind("conv", converter_for(spec, zone, limits=bound, trusted=trust))
    if spec.all:
        _collect_field(w, target, spec, read, convert, _null_function(texts, ints), trust,
                       passthrough)
        return
    for index, path in enumerate(paths):
        read(1 + index, path)
        if index < len(paths) - 1:  # (a value taken as it is is never a placeholder)
            w.emit(1 + index, "if v is None:" if trust else f"if {null}:")
    replaces_own = passthrough and target in spec.sources
    fast = _fast_path(w, spec, texts, ints, bound, trust)
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
        if expression == "v" and spec.kind == "string" and not trust:
            w.emit(1, "elif v.__class__ is int:")  # to_string of an int, inline
            _write(w, 2, target, "str(v)", passthrough)
        w.emit(1, f"elif not ({null}):")
    else:
        w.emit(1, f"if not ({null}):")
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
        w.emit(3, f"_drop(doc, {split(target)!r})")
    _missing(w, target, spec, source, passthrough, replaces_own)


def _missing(w: _Writer, target: str, spec: FieldSpec, source: str, passthrough: bool,
             replaces_own: bool) -> None:
    if spec.required:
        w.emit(1, "else:")
        w.emit(2, f"raise NormalizeError({f'required field {source!r} is missing'!r})")
    elif spec.default is not None:
        w.emit(1, "else:")
        _write(w, 2, target, w.fresh(spec.default), passthrough)
    elif replaces_own:
        w.emit(1, "else:")
        w.emit(2, f"_drop(doc, {split(target)!r})")


def _collect_field(w: _Writer, target: str, spec: FieldSpec, read: Callable[[int, str], None],
                   convert: str, null: Callable[[Any], bool], trust: bool,
                   passthrough: bool) -> None:
    """``all: true``: every present value of every path, as one list without repeats."""
    w.emit(1, "r = []")
    is_null = w.bind("is_null", null)
    for index, path in enumerate(spec.sources or spec.refs):
        if trust and spec.transform is None:  # one checked value of the same type: as it is
            _read_doc(w, 1, path, passthrough)
            w.emit(1, "if v is not None:" if index == 0 else "if v is not None and v not in r:")
            w.emit(2, "r.append(v)")
        else:
            read(1, path)
            left_out = w.bind("left_out", f"{target} left out: {path}: ")
            w.emit(1, "if v is not None:")
            w.emit(2, f"_collect(r, v, {convert}, {is_null}, warnings, {left_out})")
    w.emit(1, "if r:")
    _write(w, 2, target, "r", passthrough)
    source = " or ".join(spec.sources or spec.refs)
    if spec.required:
        w.emit(1, "else:")
        w.emit(2, f"raise NormalizeError({f'required field {source!r} has no value'!r})")
    elif spec.default is not None:
        w.emit(1, "else:")
        _write(w, 2, target, w.fresh(spec.default), passthrough)
    elif passthrough and target in spec.sources:  # the message's own value did not fit
        w.emit(1, "else:")
        w.emit(2, f"_drop(doc, {split(target)!r})")


def _target(w: _Writer, mapping: MappingFile, target: str, cases: list[FieldSpec],
            zone: tzinfo) -> None:
    """One target: its only field, or its cases (the first whose ``when`` holds)."""
    base = w.base
    for index, case in enumerate(cases):
        if case.when is None:  # the last case (the check makes it so)
            _field(w, mapping, target, case, zone)
            break
        tests = []
        for number, (path, wanted) in enumerate(case.when.items()):
            _read(w, 1, path, f"c{number}")
            values = wanted if isinstance(wanted, list) else [wanted]
            keys = frozenset(key for key in map(when_key, values) if key is not None)
            var = f"c{number}"  # text (the common case) compared inline
            tests.append(f"({var}.lower() if {var}.__class__ is str else _key({var})) in "
                         f"{w.bind('when', keys)}")
        w.emit(1, f"if {' and '.join(tests)}:")
        w.base += 1
        _field(w, mapping, target, case, zone)
        w.base -= 1
        if index < len(cases) - 1:
            w.emit(1, "else:")
            w.base += 1
    w.base = base


# -- the function ----------------------------------------------------------------------------

def _function(w: _Writer, spec: MappingFile, zone: tzinfo, name: str,
              dotted: frozenset[str], literal: bool) -> None:
    w.objects, w.targets, w.made, w.literal = {}, {}, set(), literal
    w.kept = {} if spec.passthrough else {
        ref: f"x_{_ident(split(ref))}_{index}" for index, ref in enumerate(sorted(
            {ref for _, case in spec.specs() for ref in case.refs if ref in spec.fields}))}
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
            w.emit(1, f"_put_default(doc, {split(target)!r}, {value!r})")
    else:
        _prepare_targets(w, spec)
    if w.kept:
        w.emit(1, " = ".join(w.kept.values()) + " = None")
    if not literal:
        _source_objects(w, spec)
    group = None
    for target, cases in spec.targets():
        simple = len(cases) == 1 and not literal and not spec.passthrough
        key = _group(cases[0]) if simple else None
        if key != group:
            w.base = 0
            if key is not None:
                # none of these fields can write anything when their object is absent
                w.emit(1, f"if {w.objects[(key,)]} is not EMPTY:")
                w.base = 1
            group = key
        _target(w, spec, target, cases, zone)
    w.base = 0
    w.emit(1, "if warnings:")
    w.emit(2, "s = doc.get('socd')")
    w.emit(2, "if s is None:")
    w.emit(3, "s = doc['socd'] = {}")
    w.emit(2, "s['warnings'] = warnings")
    w.emit(1, "return doc")


def compile_mapping(spec: MappingFile, zone: tzinfo) -> Apply:
    """The generated ``apply(event) -> ECS document`` for one checked mapping and zone."""
    w = _Writer()
    # ecs messages arrive with their dotted keys already expanded (see codecs)
    dotted = frozenset() if spec.format == "ecs" else frozenset(
        ".".join(parts[:depth]) for path in _message_paths(spec)
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
