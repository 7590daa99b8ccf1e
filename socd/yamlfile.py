"""YAML files read with the line of every key, so that errors can name file, line and key.

Also the words socd puts around pydantic's validation errors (:func:`describe`), so that a
message says which key is wrong, what it holds and what it should hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from socd.errors import Problem

KeyLines = Mapping[tuple[str, ...], int]
"""Key path (strings; list items by index) → 1-based line in the file."""

MERGE_KEY = "<<"
"""YAML's merge key: it may appear more than once in a mapping."""


class YamlFileError(Exception):
    """The file cannot be read, is not YAML, or repeats a key; ``problems`` say where and why
    (``problem`` is the first)."""

    def __init__(self, problem: Problem, *more: Problem) -> None:
        self.problems: tuple[Problem, ...] = (problem, *more)
        super().__init__("\n".join(str(p) for p in self.problems))
        self.problem = problem


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One YAML document: its data, the line of each key, and the keys it repeats."""

    data: Any
    lines: KeyLines
    duplicates: list[Problem] = field(default_factory=list)
    """One problem per key written twice in one mapping (YAML forbids it; PyYAML would
    silently keep the last value)."""


def parse_yaml(path: Path) -> YamlDocument:
    """Parse one YAML document; report repeated keys instead of keeping the last one.

    Raises :class:`YamlFileError` when the file cannot be read, is not UTF-8 or not YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(Problem(
            str(path), f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"offset {exc.start}): save it as UTF-8")) from exc
    except OSError as exc:
        raise YamlFileError(Problem(str(path), _unreadable(exc))) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(part) for part in (getattr(exc, "context", None),
                                               getattr(exc, "problem", None)) if part)
        lines = text.splitlines()
        shown = lines[line - 1].strip() if line is not None and 0 < line <= len(lines) else ""
        shown = f" (in {shown[:80]!r})" if shown else ""
        raise YamlFileError(Problem(str(path), f"not valid YAML: {what or exc}{shown}: fix "
                                    "the syntax at this line", line=line)) from exc
    return YamlDocument(data, key_lines(node), duplicate_keys(node, str(path)))


def read_yaml(path: Path) -> tuple[Any, KeyLines]:
    """Parse one YAML document and map each key path to its line.

    Raises :class:`YamlFileError` when the file cannot be read, is not YAML, or repeats a key
    in one mapping (every repeated key is reported).
    """
    document = parse_yaml(path)
    if document.duplicates:
        raise YamlFileError(*document.duplicates)
    return document.data, document.lines


def _unreadable(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "this is a folder: give the path of a file"
    if isinstance(exc, FileNotFoundError):
        return "no such file: check the path"
    if isinstance(exc, PermissionError):
        return "permission denied: make the file readable by the user socd runs as"
    return f"cannot read the file: {exc.strerror or exc}"


def key_lines(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    lines: dict[tuple[str, ...], int] = {}

    def walk(current: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                path = (*prefix, str(key_node.value))
                lines[path] = key_node.start_mark.line + 1
                walk(value_node, path)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                path = (*prefix, str(index))
                lines[path] = item.start_mark.line + 1
                walk(item, path)

    if node is not None:
        lines[()] = node.start_mark.line + 1
        walk(node, ())
    return lines


def duplicate_keys(node: yaml.Node | None, file: str) -> list[Problem]:
    """A problem for each key written again in the same mapping (the YAML 1.2 spec, 3.2.1.1:
    "the content of a mapping node is an unordered set of key/value node pairs, with the
    restriction that each of the keys is unique"). Merge keys (``<<``) are not counted."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()

    def walk(current: yaml.Node, prefix: tuple[str, ...]) -> None:
        if id(current) in seen_nodes:  # an alias: already walked
            return
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in first and key != MERGE_KEY:
                    problems.append(Problem(
                        file, f"the key is written twice (also at line {first[key]}); YAML "
                        "allows a key once in a section: keep one", line=line,
                        key=".".join((*prefix, key))))
                first.setdefault(key, line)
                walk(value_node, (*prefix, key))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*prefix, str(index)))

    if node is not None:
        walk(node, ())
    return problems


def line_of(lines: KeyLines, loc: tuple[str, ...]) -> int | None:
    """The line of ``loc``, or of its nearest enclosing key that the file has."""
    for length in range(len(loc), -1, -1):
        if loc[:length] in lines:
            return lines[loc[:length]]
    return None


def error_key(err: ErrorDetails) -> tuple[str, ...]:
    """The key path of a pydantic error (``[key]`` markers of dict keys left out)."""
    return tuple(str(part) for part in err["loc"] if part != "[key]")


def validation_problems(exc: ValidationError, path: Path, lines: KeyLines,
                        unknown_key_hint: str) -> list[Problem]:
    """One Problem per pydantic error, with the file, line and dotted key."""
    problems = []
    for err in exc.errors():
        loc = error_key(err)
        problems.append(Problem(str(path), describe(err, unknown_key_hint),
                                line=line_of(lines, loc), key=".".join(loc) or None))
    return problems


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED: Mapping[str, str] = {
    "string_type": "text",
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list (YAML [a, b], or one '- item' a line)",
    "tuple_type": "a list (YAML [a, b], or one '- item' a line)",
    "dict_type": "a section of keys (a YAML mapping such as {key: value})",
    "model_type": "a section of keys (a YAML mapping such as {key: value})",
    "model_attributes_type": "a section of keys (a YAML mapping such as {key: value})",
    "path_type": "a file or folder path",
}
"""pydantic error type → what the key should hold, in socd's words."""

_COMPARISONS: Mapping[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than"),
}


def describe(err: ErrorDetails, unknown_key_hint: str) -> str:
    """A pydantic error in socd's words: what is wrong with the value and what to write
    instead. The key itself is named by the caller (see :class:`~socd.errors.Problem`)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key; {unknown_key_hint}"
    if kind == "missing":
        return "required key is missing: add it"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "string_unicode" or (kind == "string_type" and isinstance(value, bytes)):
        return ("the value is not valid Unicode text (it holds a lone surrogate or bytes "
                "that are not UTF-8): write it in UTF-8")
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        if err["loc"] and err["loc"][-1] == "[key]":
            return f"{_shown(value)} is not a key allowed here: use {expected}"
        return f"must be one of {expected}, not {_shown(value)}"
    if kind in _COMPARISONS:
        name, words = _COMPARISONS[kind]
        return f"must be {words} {ctx.get(name)}, not {_shown(value)}"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        if least == 1:
            return "must not be empty: write a value or leave the key out for its default"
        return f"must be at least {least} characters long, not {_shown(value)}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_short":
        return f"give at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"give at most {ctx.get('max_length')} item(s)"
    if kind == "string_pattern_mismatch":
        return f"{_shown(value)} does not have the required form ({ctx.get('pattern')})"
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = ": put it in quotes (\"...\") to make it text"
        return f"expected {_EXPECTED[kind]}, not {_shown(value)}{hint}"
    return f"{err['msg']} (the value is {_shown(value)}): correct the value"
