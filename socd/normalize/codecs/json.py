"""JSON messages: orjson, with the dead-letter reason when the bytes are not an object."""

from __future__ import annotations

from typing import Any

import orjson

from socd.errors import DecodeError, NormalizeError


def decode_json(raw: bytes) -> dict[str, Any]:
    """orjson, and the reason code when it fails: not_utf8 or not_json."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "UTF-8" in text or "surrogates" in text:
            raise DecodeError(f"not UTF-8: {text}", reason="not_utf8") from None
        raise DecodeError(f"not JSON: {text}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"JSON {type(value).__name__}, not an object")
    return value


MAX_DEPTH = 20
"""Objects nested deeper are refused: Elasticsearch's default index.mapping.depth.limit."""
MAX_NESTING = 128
"""Objects and lists nested deeper are refused (the encoder to Elasticsearch stops at 255)."""


def decode_ecs(raw: bytes) -> dict[str, Any]:
    """A JSON object in ECS; keys with dots (``"source.ip"``) become nested objects, the
    form Elasticsearch itself gives them, so that a mapping reads one shape. A document
    deeper than Elasticsearch takes is refused here rather than at indexing."""
    event = decode_json(raw)
    try:
        event = expand_dotted(event)
    except RecursionError:
        raise NormalizeError("the event nests too deeply") from None
    objects, nesting = depth(event)
    if objects > MAX_DEPTH or nesting > MAX_NESTING:
        raise NormalizeError(f"nests too deeply: {objects} levels of objects (at most "
                             f"{MAX_DEPTH}, Elasticsearch's index.mapping.depth.limit), "
                             f"{nesting} of objects and lists (at most {MAX_NESTING})")
    return event


def depth(value: dict[str, Any]) -> tuple[int, int]:
    """(levels of objects, levels of objects and lists) in ``value``, found iteratively so
    that any depth is safe."""
    deepest = (0, 0)
    stack: list[tuple[Any, int, int]] = [(value, 1, 1)]
    while stack:
        node, objects, nesting = stack.pop()
        deepest = (max(deepest[0], objects), max(deepest[1], nesting))
        children = node.values() if node.__class__ is dict else node
        for child in children:
            if child.__class__ is dict:
                stack.append((child, objects + 1, nesting + 1))
            elif child.__class__ is list:
                stack.append((child, objects, nesting + 1))
    return deepest


def expand_dotted(node: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` → ``{"a": {"b": 1, "c": 2}}``, at every level.

    When a dotted key and an object disagree (``{"a": 1, "a.b": 2}``), the dotted key's
    value wins. Objects inside lists are left as they are, as Elasticsearch does.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if value.__class__ is dict:
            value = expand_dotted(value)
        if "." not in key or key.startswith(".") or key.endswith(".") or ".." in key:
            existing = out.get(key)
            if existing.__class__ is dict and value.__class__ is dict:
                existing.update(value)
            else:
                out[key] = value
            continue
        parts = key.split(".")
        target = out
        for part in parts[:-1]:
            child = target.get(part)
            if child.__class__ is not dict:
                child = target[part] = {}
            target = child
        last = parts[-1]
        existing = target.get(last)
        if existing.__class__ is dict and value.__class__ is dict:
            existing.update(value)
        else:
            target[last] = value
    return out
