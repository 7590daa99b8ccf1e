"""Where a problem is: the line of the key it is about, and advice on what to change."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from sigma import exceptions as sx
from sigma.modifiers import modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem

from socd.classify.model import LEVELS
from socd.classify.sigmaconf import POLICY
from socd.errors import Problem

Lines = Mapping[tuple[str, ...], int]
"""Line (1-based) of each key path of a YAML document, e.g. ("detection", "selection")."""


class LazyLines(Mapping[tuple[str, ...], int]):
    """The key lines of one document of a file, worked out only when a problem needs them."""

    def __init__(self, text: str, position: int) -> None:
        self._text = text
        self._position = position
        self._lines: dict[tuple[str, ...], int] | None = None

    def _load(self) -> dict[tuple[str, ...], int]:
        if self._lines is None:
            self._lines = {}
            try:
                for position, node in enumerate(yaml.compose_all(self._text, yaml.CSafeLoader)):
                    if position == self._position:
                        _visit(node, (), self._lines, set())
                        break
            except yaml.YAMLError:
                pass
        return self._lines

    def __getitem__(self, path: tuple[str, ...]) -> int:
        return self._load()[path]

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _visit(
    node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], seen: set[int]
) -> None:
    """Record the line of every key path (each node once: aliases are not expanded)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            lines.setdefault((*path, key), key_node.start_mark.line + 1)
            _visit(value_node, (*path, key), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _visit(item, path, lines, seen)


_KEY_OF_ERROR: Mapping[type[sx.SigmaError], tuple[str, ...]] = {
    sx.SigmaTitleError: ("title",),
    sx.SigmaIdentifierError: ("id",),
    sx.SigmaLevelError: ("level",),
    sx.SigmaStatusError: ("status",),
    sx.SigmaDateError: ("date",),
    sx.SigmaTagError: ("tags",),
    sx.SigmaRelatedError: ("related",),
    sx.SigmaLogsourceError: ("logsource",),
    sx.SigmaFieldsError: ("fields",),
    sx.SigmaFalsePositivesError: ("falsepositives",),
    sx.SigmaAuthorError: ("author",),
    sx.SigmaDescriptionError: ("description",),
    sx.SigmaReferencesError: ("references",),
    sx.SigmaScopeError: ("scope",),
    sx.SigmaLicenseError: ("license",),
    sx.SigmaTaxonomyError: ("taxonomy",),
    sx.SigmaNameError: ("name",),
    sx.SigmaConditionError: ("detection", "condition"),
    sx.SigmaFilterConditionError: ("filter", "condition"),
}


_HINTS: tuple[tuple[type[sx.SigmaError], str, str], ...] = (
    (sx.SigmaModifierError, "Unknown modifier",
     "use one of " + ", ".join(sorted(modifier_mapping))),
    (sx.SigmaLogsourceError, "must have a log source",
     "add 'logsource:' naming a product, category or service"),
    (sx.SigmaDetectionError, "must have a detection",
     "add 'detection:' with a selection and a condition"),
    (sx.SigmaConditionError, "must contain at least one condition",
     "add 'condition:' under detection"),
    (sx.SigmaConditionError, "not defined in detections",
     "name a detection defined under 'detection:'"),
    (sx.SigmaTitleError, "must have a title", "add 'title:'"),
    (sx.SigmaLevelError, "not a valid Sigma rule level", "use one of " + ", ".join(LEVELS)),
    (sx.SigmaIdentifierError, "must be an UUID", "use a UUID such as those uuidgen prints"),
    (sx.SigmaTypeError, "Unsupported type",
     "a value must be a string, number, boolean or null, or a list of them"),
)
"""Advice appended to pySigma's messages: what to change."""


def message_of(error: BaseException) -> str:
    """A pySigma error's message for a person: lowercased start, with advice where known."""
    text = str(error.args[0]) if error.args else str(error) or type(error).__name__
    for kind, fragment, hint in _HINTS:
        if isinstance(error, kind) and fragment in text:
            text = f"{text}: {hint}"
            break
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def locate(
    name: str, message: str, error: BaseException | None, data: Any, lines: Lines,
    start: int | None,
) -> Problem:
    """A problem placed on the key it is about (the document start when unknown)."""
    path: tuple[str, ...] | None = None
    for kind in type(error).__mro__ if error is not None else ():
        if kind in _KEY_OF_ERROR:
            path = _KEY_OF_ERROR[kind]
            break
    is_modified = isinstance(error, sx.SigmaModifiedError) and message.startswith("rule modified")
    if is_modified:
        path = ("modified",)
    if path is None and isinstance(data, dict):
        path = _failing_detection(data.get("detection"))
    if path is None:
        return Problem(name, message, line=start)
    line = None
    for depth in range(len(path), 0, -1):
        line = lines.get(path[:depth])
        if line is not None:
            break
    return Problem(name, message, line=line if line is not None else start, key=".".join(path))


def _failing_detection(detection: Any) -> tuple[str, ...] | None:
    """The detection (and key) pySigma rejects, found by parsing each one on its own."""
    if not isinstance(detection, dict):
        return ("detection",)
    for ident, definition in detection.items():
        if ident == "condition":
            continue
        try:
            SigmaDetection.from_definition(definition, policy=POLICY)
        except Exception:
            items = definition if isinstance(definition, list) else [definition]
            for item in items:
                if not isinstance(item, dict):
                    continue
                for key, value in item.items():
                    try:
                        SigmaDetectionItem.from_mapping(key, value, policy=POLICY)
                    except Exception:
                        return ("detection", str(ident), str(key))
            return ("detection", str(ident))
    return None


def detection_key(lines: Lines, detection: str | None, field: str | None) -> tuple[str, ...]:
    """The key path of a field within a detection (matching the key whatever its modifiers)."""
    if detection is None:
        return ("detection",)
    base = ("detection", detection)
    if field is not None:
        for path in lines:
            if len(path) == 3 and path[:2] == base and path[2].split("|")[0] == field:
                return path
    return base
