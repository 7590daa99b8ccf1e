"""A rule's top-level keys: every wrong one reported in one run, in socd's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from socd.classify import RuleSet

GOOD: dict[str, object] = {
    "title": "T",
    "id": "0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01",
    "status": "test",
    "level": "high",
    "logsource": {"product": "cyradar"},
    "detection": {"sel": {"event.severity": 10}, "condition": "sel"},
}

PYTHON_WORDS = ("object has no attribute", "'int'", "'list'", "'dict'", "NoneType",
                "Traceback", "TypeError", "AttributeError", "KeyError", "not subscriptable",
                "not iterable")


def problems_of(path: Path) -> list[str]:
    _, found = RuleSet.load([path], strict=False)
    return [str(problem) for problem in found]


def test_issue_example_level_and_condition_in_one_run(tmp_path: Path) -> None:
    """A wrong level no longer hides an undefined detection in the condition."""
    path = tmp_path / "r.yml"
    path.write_text("""\
title: T
id: 0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01
status: test
level: hgh
logsource: {product: cyradar}
detection:
  sel:
    event.severity: 10
  condition: sel and nope
""")
    assert problems_of(path) == [
        f"{path}:4: level: 'hgh' is not a valid Sigma rule level: use one of informational, "
        "low, medium, high, critical",
        f"{path}:9: detection.condition: detection 'nope' not defined in detections: name a "
        "detection defined under 'detection:'",
    ]


def test_issue_example_numeric_id(tmp_path: Path) -> None:
    """``id: 1``: the key and the fix, no Python internals, and the other problems too."""
    path = tmp_path / "r.yml"
    path.write_text("""\
title: T
id: 1
level: hgh
logsource: {product: cyradar}
detection:
  sel:
    event.severity: 10
  condition: sel
""")
    assert problems_of(path) == [
        f"{path}:2: id: the id must be a UUID string, not 1: write the id as a quoted UUID, "
        "for example id: '0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01'",
        f"{path}:3: level: 'hgh' is not a valid Sigma rule level: use one of informational, "
        "low, medium, high, critical",
    ]


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("id", 1, "id: the id must be a UUID string, not 1: write the id as a quoted UUID"),
    ("id", ["a"], "id: the id must be a UUID string, not a list"),
    ("id", {"a": 1}, "id: the id must be a UUID string, not a mapping"),
    ("id", "not-a-uuid", "id: "),
    ("title", 5, "title: title must be text, not 5: write it in quotes"),
    ("title", ["x"], "title: title must be text, not a list"),
    ("level", 3, "level: level must be one of informational, low, medium, high, critical, "
                 "not 3"),
    ("level", ["high"], "level: level must be one of"),
    ("status", 1, "status: status must be one of stable, test, experimental, deprecated, "
                  "unsupported, not 1"),
    ("status", "tested", "status: "),
    ("tags", "attack.t1", "tags: tags must be a list of text"),
    ("tags", [1, 2], "tags: tags must be a list of text"),
    ("tags", {"a": "b"}, "tags: tags must be a list of text"),
    ("description", ["a"], "description: description must be text"),
    ("references", 5, "references: references must be a list of text"),
    ("falsepositives", [{"a": 1}], "falsepositives: falsepositives must be a list of text"),
    ("logsource", ["cyradar"], "logsource: logsource must be a mapping of category, product, "
                               "service, definition to text, not a list"),
    ("logsource", "cyradar", "logsource: logsource must be a mapping"),
    ("logsource", {"product": ["a"]}, "logsource: logsource product must be text"),
    ("detection", ["sel"], "detection: detection must be a mapping of named selections and a "
                           "condition, not a list"),
    ("detection", {"sel": {"a": 1}}, "detection: detection has no condition: add "
                                     "'condition:' under detection"),
    ("detection", {"sel": {"a": 1}, "condition": 5}, "detection: detection.condition must be "
                                                      "text"),
    ("detection", {"sel": {"a": 1}, "condition": {"x": 1}}, "detection: detection.condition "
                                                             "must be text"),
])
def test_wrong_top_level_values_in_socd_words(tmp_path: Path, key: str, value: object,
                                              needle: str) -> None:
    """Each wrong top-level key: one problem on its line naming the key, no Python words;
    a second wrong key (level) is reported in the same run."""
    rule = dict(GOOD, **{key: value})
    if key != "level":
        rule["level"] = "hgh"
    path = tmp_path / "r.yml"
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    found = problems_of(path)
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith(f"{key}:"))
    mine = [text for text in found if text.startswith(f"{path}:{line}: {key}")]
    assert len(mine) == 1 and needle in mine[0], found
    if key != "level":
        assert any(": level: 'hgh' is not a valid Sigma rule level" in t for t in found), found
    for text in found:
        assert not any(word in text for word in PYTHON_WORDS), text


def test_a_python_error_from_pysigma_is_told_in_socd_words(tmp_path: Path) -> None:
    """In a file of several documents (read by pySigma as a collection) a wrong-typed key
    still gives a message in socd's words, never Python's."""
    rule = dict(GOOD, id=1)
    path = tmp_path / "r.yml"
    path.write_text(yaml.safe_dump_all([rule, dict(GOOD, title="Two")], sort_keys=False))
    found = problems_of(path)
    assert found, found
    for text in found:
        assert not any(word in text for word in PYTHON_WORDS), text
