"""YAML files read with the line of every key, so that errors can name file, line and key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from socd.errors import Problem

KeyLines = Mapping[tuple[str, ...], int]
"""Key path (strings; list items by index) → 1-based line in the file."""


class YamlFileError(Exception):
    """The file cannot be read or is not YAML; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_yaml(path: Path) -> tuple[Any, KeyLines]:
    """Parse one YAML document and map each key path to its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(Problem(str(path), f"cannot read the file: {exc.strerror}")) from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(Problem(str(path), "the file is not UTF-8 text")) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise YamlFileError(Problem(str(path), f"not valid YAML: {exc}", line=line)) from exc
    return data, key_lines(node)


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


def line_of(lines: KeyLines, loc: tuple[str, ...]) -> int | None:
    """The line of ``loc``, or of its nearest enclosing key that the file has."""
    for length in range(len(loc), -1, -1):
        if loc[:length] in lines:
            return lines[loc[:length]]
    return None


def validation_problems(exc: ValidationError, path: Path, lines: KeyLines,
                        unknown_key_hint: str) -> list[Problem]:
    """One Problem per pydantic error, with the file, line and dotted key."""
    problems = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        problems.append(Problem(str(path), humane(err["msg"], unknown_key_hint),
                                line=line_of(lines, loc), key=".".join(loc) or None))
    return problems


def humane(message: str, unknown_key_hint: str) -> str:
    message = message.removeprefix("Value error, ")
    if message == "Extra inputs are not permitted":
        return f"unknown key; {unknown_key_hint}"
    if message == "Field required":
        return "required key is missing"
    return message
