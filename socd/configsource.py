"""Where configuration values come from: the file (with the line of each key) and the
``SOCD_*`` environment variables that override keys.

An environment variable ``SOCD_<SECTION>__<KEY>`` (``__`` between levels, list items by their
number from 0) sets one key. Its value is read by the type of that key (:func:`env_value`):
as written for a text key, so that ``SOCD_KAFKA__SASL_PASSWORD=0123`` stays the text
``0123`` and ``no`` stays ``no``; as a list of strings, comma-separated or ``[a, b]``, for a
list of strings; as YAML for the others (numbers, ``true``/``false``, ``[...]``, ``{...}``).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr

from socd.errors import Problem
from socd.yamlfile import KeyLines, line_of

ENV_PREFIX = "SOCD_"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a configuration came from: its file, the line of each key in it, and the
    environment variables that overrode keys."""

    path: Path
    lines: KeyLines = field(default_factory=dict)
    env: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    """Key path → the variable that set it."""

    def problem(self, loc: Sequence[str | int], message: str, *,
                warning: bool = False) -> Problem:
        """A problem about the key at ``loc``: on the variable that set it (or, for a section
        the file does not have, the first variable that set a key inside it), or on its line
        in the file (the nearest enclosing key the file has)."""
        path = tuple(str(part) for part in loc)
        key = ".".join(path) or "(top level)"
        for length in range(len(path), 0, -1):
            variable = self.env.get(path[:length])
            if variable is not None:
                return Problem(None, message, key=f"{key} (from {variable})", warning=warning)
        if path and path not in self.lines:
            inside = sorted(v for keys, v in self.env.items() if keys[:len(path)] == path)
            if inside:
                return Problem(None, message, key=f"{key} (from {inside[0]})", warning=warning)
        return Problem(str(self.path), message, line=line_of(self.lines, path), key=key,
                       warning=warning)


def apply_environment(data: dict[str, Any], environ: Mapping[str, str],
                      root: type[BaseModel]) -> tuple[dict[tuple[str, ...], str], list[Problem]]:
    """Set the keys the ``SOCD_*`` variables of ``environ`` name in ``data`` (the file's
    sections; ``root`` is the model they are validated with). Returns key path → variable for
    each key set, and a problem for each variable that could not be applied."""
    applied: dict[tuple[str, ...], str] = {}
    problems: list[Problem] = []
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if any(not part for part in keys):
            problems.append(Problem(None, "empty key part; write SOCD_SECTION__KEY", key=name))
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # os.environ keeps undecodable bytes as surrogates
            problems.append(Problem(None, (
                f"the value is not UTF-8 text (byte 0x{ord(text[exc.start]) & 0xFF:02x} at "
                f"position {exc.start}): set it in UTF-8"), key=name))
            continue
        error = _set_path(data, keys, env_value(root, keys, text))
        if error:
            problems.append(Problem(None, error, key=name))
        else:
            applied[keys] = name
    return applied, problems


def env_value(root: type[BaseModel], keys: tuple[str, ...], text: str) -> Any:
    """An environment value as the key at ``keys`` takes it: text as written for a text key,
    the text itself (split later at commas) or a ``[...]`` list for a list of strings, YAML
    for the others."""
    kind = kind_at(root, keys)
    if kind == "text":
        return text
    if kind == "texts" and not text.lstrip().startswith("["):
        return text
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
    return text if value is None else value


def kind_at(root: type[BaseModel], keys: Sequence[str]) -> Literal["text", "texts", "other"]:
    """Whether the key at ``keys`` of ``root`` holds text, a list of strings, or something
    else (a number, a switch, a section, an unknown key)."""
    annotation: Any = root
    for key in keys:
        annotation = _bare(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found = annotation.model_fields.get(key)
            if found is None:
                return "other"
            annotation = found.annotation
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return "other"
    annotation = _bare(annotation)
    if annotation in (str, Path, SecretStr):
        return "text"
    if get_origin(annotation) is list and _bare(get_args(annotation)[0]) in (str, Path):
        return "texts"
    return "other"


def _bare(annotation: Any) -> Any:
    """``annotation`` without ``Annotated[...]`` and without ``| None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _set_path(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> str | None:
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                return (f"{key!r} is not the number of an item the file's list has (items "
                        f"are numbered from 0; there are {len(node)}): the environment can "
                        "change items, not add them")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
            continue
        if not isinstance(node, dict):
            return "this key reaches inside a value that is not a section: check its name"
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
    return None
