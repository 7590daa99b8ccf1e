"""socd's own checks of a rule's top-level keys, run before pySigma reads the rule.

pySigma stops at (or trips over) the first value of a wrong kind: ``id: 1`` makes it fail
with a Python error that names no key. These checks look at every top-level key the Sigma
specification defines a kind for (https://github.com/SigmaHQ/sigma-specification,
``Sigma_specification.md``: ``title`` text, ``id`` a UUID string, ``status`` and ``level``
one of their words, ``tags`` a list of text, ``logsource`` a mapping of text, ``detection``
a mapping holding ``condition``) and report each wrong one with its key and what to write.
The keys found wrong are left out of what pySigma reads, so its checks of the rest still run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socd.classify.locate import Lines
from socd.classify.model import LEVELS
from socd.errors import Problem

STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
"""The rule statuses of the Sigma specification."""

_TEXT_KEYS = ("title", "description", "author", "date", "modified", "license")
_TEXT_LIST_KEYS = ("tags", "references", "falsepositives", "fields")
_LOGSOURCE_KEYS = ("category", "product", "service", "definition")
_EXAMPLE_ID = "0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01"


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _problem(key: str, value: Any) -> str | None:
    """What is wrong with top-level ``key`` holding ``value`` (None: nothing socd checks)."""
    if key == "id":
        if not isinstance(value, str):
            return (f"the id must be a UUID string, not {_shown(value)}: write the id as a "
                    f"quoted UUID, for example id: '{_EXAMPLE_ID}'")
        return None
    if key == "level":
        if not isinstance(value, str):
            return f"level must be one of {', '.join(LEVELS)}, not {_shown(value)}"
        return None
    if key == "status":
        if not isinstance(value, str):
            return f"status must be one of {', '.join(STATUSES)}, not {_shown(value)}"
        return None
    if key in _TEXT_KEYS:
        # date and modified may be YAML dates (pySigma takes both)
        if key in ("date", "modified") and not isinstance(value, (str, list, Mapping)):
            return None
        if not _is_text(value):
            return f"{key} must be text, not {_shown(value)}: write it in quotes"
        return None
    if key in _TEXT_LIST_KEYS:
        if key != "tags" and _is_text(value):
            return None  # one item written alone: pySigma takes it
        if not isinstance(value, list) or not all(_is_text(item) for item in value):
            return (f"{key} must be a list of text (YAML [a, b], or one '- item' a line), "
                    f"not {_shown(value)}")
        return None
    if key == "logsource":
        if not isinstance(value, Mapping):
            return (f"logsource must be a mapping of {', '.join(_LOGSOURCE_KEYS)} to text, "
                    f"not {_shown(value)}: for example logsource: {{product: windows}}")
        wrong = [str(k) for k, v in value.items() if not _is_text(v)]
        if wrong:
            return (f"logsource {', '.join(wrong)} must be text: write "
                    f"{'each' if len(wrong) > 1 else 'it'} in quotes")
        return None
    if key == "detection":
        if not isinstance(value, Mapping):
            return ("detection must be a mapping of named selections and a condition, not "
                    f"{_shown(value)}")
        if "condition" not in value:
            return "detection has no condition: add 'condition:' under detection (e.g. sel)"
        condition = value["condition"]
        items = condition if isinstance(condition, list) else [condition]
        if not items or not all(_is_text(item) and item.strip() for item in items):
            return (f"detection.condition must be text such as 'sel and not filter' (or a "
                    f"list of them), not {_shown(condition)}")
        return None
    return None


def check_top_level(name: str, data: Mapping[Any, Any], lines: Lines,
                    start: int | None) -> tuple[list[Problem], set[str]]:
    """Every wrong top-level key of one rule document: its problems (file, line, key) and
    the keys found wrong (to leave out of what pySigma reads)."""
    problems: list[Problem] = []
    wrong: set[str] = set()
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        message = _problem(key, value)
        if message is None:
            continue
        wrong.add(key)
        problems.append(Problem(name, message, line=lines.get((key,), start), key=key))
    return problems, wrong
