"""Reading and writing dotted paths in events and documents (off the hot path).

The compiled mappings (:mod:`socd.normalize.codegen`) inline the common cases; these
functions serve the rare ones (literal dotted keys, passthrough documents) and the tests.
"""

from __future__ import annotations

import copy
from typing import Any

_MISSING: Any = object()


def lookup(event: dict[str, Any], path: str) -> Any:
    """The value at ``path``: a literal key with dots first, then nested objects."""
    value = event.get(path, _MISSING)
    if value is not _MISSING:
        return value
    node: Any = event
    for part in path.split("."):
        if node.__class__ is not dict:
            return None
        node = node.get(part)
    return node


def put_path(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    """doc[a][b]...[z] = value; an object on the way that is not a dict is replaced."""
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if child.__class__ is not dict:
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def put_default(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    """Write ``value`` unless the document already has something at that path."""
    node: Any = doc
    for part in parts:
        if node.__class__ is not dict or part not in node:
            put_path(doc, parts, copy.deepcopy(value))
            return
        node = node[part]


def drop_path(doc: dict[str, Any], parts: list[str]) -> None:
    """Remove doc[a][b]...[z] if present (objects left empty stay)."""
    node: Any = doc
    for part in parts[:-1]:
        node = node.get(part) if node.__class__ is dict else None
        if node is None:
            return
    if node.__class__ is dict:
        node.pop(parts[-1], None)
