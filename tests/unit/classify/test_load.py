"""Loading: files and directories, every problem collected with file and line, socd settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from socd.classify import RuleInfo, RuleSet
from socd.errors import Problem, RuleError

WriteRule = Callable[..., Path]
SELECTION = {"selection": {"a": "1"}, "condition": "selection"}


def load(*paths: Path | str) -> tuple[RuleSet, list[Problem]]:
    return RuleSet.load(list(paths), strict=False)


def test_rule_info_fields(write_rule: WriteRule) -> None:
    """RuleInfo carries id, title, level as written, class, socd settings, file, logsource."""
    path = write_rule(SELECTION, id="5a1e2b3c-0000-4000-8000-000000000001", title="C2",
                      level="critical", logsource={"product": "Cyradar", "category": "apt"},
                      socd={"layer": 2, "share": True})
    rules, problems = load(path)
    assert problems == []
    assert rules.rules == (RuleInfo(
        id="5a1e2b3c-0000-4000-8000-000000000001", title="C2", level="critical",
        threat_class="critical", layer=2, share=True, source=str(path),
        logsource={"product": "cyradar", "category": "apt"},
    ),)


@pytest.mark.parametrize(
    ("level", "threat_class"),
    [("critical", "critical"), ("high", "high-risk"), ("medium", None), ("low", None),
     ("informational", None)],
)
def test_level_decides_the_class(write_rule: WriteRule, level: str, threat_class: str) -> None:
    """critical → critical, high → high-risk, lower levels → no threat class."""
    rules, _ = load(write_rule(SELECTION, level=level))
    assert rules.rules[0].level == level
    assert rules.rules[0].threat_class == threat_class


def test_directories_are_searched_recursively_in_sorted_order(write_rule: WriteRule,
                                                              tmp_path: Path) -> None:
    """A directory yields its .yml and .yaml files at any depth, sorted by path."""
    write_rule(SELECTION, name="b/two.yaml", title="two")
    write_rule(SELECTION, name="a/deep/one.yml", title="one")
    write_rule(SELECTION, name="c.yml", title="three")
    (tmp_path / "notes.txt").write_text("not a rule")
    rules, problems = load(tmp_path)
    assert problems == []
    assert [r.title for r in rules.rules] == ["one", "two", "three"]


def test_problems_name_file_and_line(tmp_path: Path) -> None:
    """A bad key is reported with its file and line."""
    path = tmp_path / "bad.yml"
    path.write_text(
        "title: t\n"
        "id: 5a1e2b3c-0000-4000-8000-000000000002\n"
        "level: high\n"
        "logsource: {product: test}\n"
        "detection:\n"
        "  selection:\n"
        "    a|nosuchmodifier: 1\n"
        "  condition: selection\n"
    )
    rules, problems = load(path)
    assert rules.rules == ()
    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert problems[0].line == 7
    assert "nosuchmodifier" in problems[0].message


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    """A YAML syntax error names the line."""
    path = tmp_path / "broken.yml"
    path.write_text("title: t\nlevel: high\ndetection:\n  selection: [a\n")
    _, problems = load(path)
    assert len(problems) == 1
    assert problems[0].line is not None and problems[0].line >= 4
    assert "invalid YAML" in problems[0].message


def test_duplicate_yaml_key_is_a_problem(tmp_path: Path) -> None:
    """A key repeated in one mapping is reported at its second occurrence."""
    path = tmp_path / "dup.yml"
    path.write_text("title: t\nlevel: high\nlevel: low\n")
    _, problems = load(path)
    assert [(p.line, p.key) for p in problems] == [(3, "level")]


@pytest.mark.parametrize(
    ("socd", "message"),
    [
        ({"layer": 5}, "layer must be an integer from 1 to 4"),
        ({"layer": "2"}, "layer must be an integer from 1 to 4"),
        ({"layer": True}, "layer must be an integer from 1 to 4"),
        ({"share": "yes"}, "share must be true or false"),
        ({"sharing": True}, "unknown key 'sharing' under socd"),
        ("layer 2", "'socd' must be a mapping"),
    ],
)
def test_socd_section_is_validated(
    write_rule: WriteRule, socd: object, message: str
) -> None:
    """socd: takes layer 1..4 and share true/false; anything else is an error at its line."""
    path = write_rule(SELECTION, socd=socd)
    rules, problems = load(path)
    assert rules.rules == ()
    assert len(problems) == 1
    assert message in problems[0].message
    lines = path.read_text().splitlines()
    assert problems[0].line is not None
    assert lines[problems[0].line - 1].lstrip().startswith(("socd", "layer", "share", "sharing"))


def test_every_problem_is_collected_before_failing(write_rule: WriteRule,
                                                  tmp_path: Path) -> None:
    """strict loading raises one RuleError carrying the problems of every file."""
    write_rule(SELECTION, name="a.yml", socd={"layer": 9})
    write_rule({"selection": {"a|bad": 1}, "condition": "selection"}, name="b.yml")
    write_rule(SELECTION, name="c.yml")
    with pytest.raises(RuleError) as caught:
        RuleSet.load([tmp_path])
    assert [Path(p.file or "").name for p in caught.value.problems] == ["a.yml", "b.yml"]
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert len(rules.rules) == 1 and len(problems) == 2


def test_duplicate_ids_across_files(write_rule: WriteRule) -> None:
    """Two rules with one id: the first (in load order) is kept, the second reported."""
    same = "5a1e2b3c-0000-4000-8000-000000000003"
    first = write_rule(SELECTION, name="a.yml", id=same, title="first")
    second = write_rule(SELECTION, name="b.yml", id=same, title="second")
    rules, problems = load(first, second)
    assert [r.title for r in rules.rules] == ["first"]
    assert len(problems) == 1
    assert problems[0].file == str(second) and problems[0].line == 2
    assert "duplicate rule id" in problems[0].message and str(first) in problems[0].message


def test_missing_id_and_level_are_problems(tmp_path: Path) -> None:
    """socd needs an id (verdicts name rules) and a level (it decides the class)."""
    path = tmp_path / "r.yml"
    path.write_text("title: t\nlogsource: {product: x}\n"
                    "detection: {selection: {a: 1}, condition: selection}\n")
    _, problems = load(path)
    assert sorted(p.key or "" for p in problems) == ["id", "level"]


def test_unknown_condition_identifier(write_rule: WriteRule) -> None:
    """A condition naming a detection that does not exist is reported on the condition."""
    path = write_rule({"selection": {"a": 1}, "condition": "selection and nothere"})
    _, problems = load(path)
    assert len(problems) == 1
    assert "nothere" in problems[0].message
    assert problems[0].key == "detection.condition"


def test_missing_placeholder_is_reported_on_its_key(write_rule: WriteRule) -> None:
    """An |expand placeholder without configured values is a problem at its key."""
    path = write_rule({"selection": {"host|expand": "%Servers%"}, "condition": "selection"})
    _, problems = load(path)
    assert len(problems) == 1
    assert "%Servers%" in problems[0].message
    assert problems[0].key == "detection.selection.host|expand"
    line = path.read_text().splitlines()[(problems[0].line or 0) - 1]
    assert "host|expand" in line


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist is reported."""
    _, problems = load(tmp_path / "nope")
    assert len(problems) == 1 and "no such file" in problems[0].message


def test_collection_with_global_action(tmp_path: Path) -> None:
    """A file of several documents with action: global loads as pySigma does."""
    path = tmp_path / "multi.yml"
    path.write_text(
        "action: global\n"
        "title: shared\n"
        "level: high\n"
        "logsource: {product: test}\n"
        "detection: {condition: selection}\n"
        "---\n"
        "id: 5a1e2b3c-0000-4000-8000-000000000010\n"
        "detection: {selection: {a: '1'}}\n"
        "---\n"
        "id: 5a1e2b3c-0000-4000-8000-000000000011\n"
        "detection: {selection: {b: '1'}}\n"
    )
    rules, problems = load(path)
    assert problems == []
    assert [r.id[-2:] for r in rules.rules] == ["10", "11"]
    assert [r.id[-2:] for r in rules.match({"b": "1"})] == ["11"]


def test_correlation_rules_load_beside_their_base_rules(tmp_path: Path) -> None:
    """A correlation rule loads as a correlation (not a detection rule); one whose condition
    socd cannot decide as events arrive is reported with its file and line."""
    path = tmp_path / "corr.yml"
    path.write_text(
        "title: base\nid: 5a1e2b3c-0000-4000-8000-000000000020\nname: base\nlevel: high\n"
        "logsource: {product: test}\ndetection: {selection: {a: 1}, condition: selection}\n"
        "---\n"
        "title: many\nid: 5a1e2b3c-0000-4000-8000-000000000021\nlevel: high\n"
        "correlation: {type: event_count, rules: [base], group-by: [a], timespan: 1h,"
        " condition: {gte: 10}}\n"
    )
    rules, problems = load(path)
    assert [r.title for r in rules.rules] == ["base"]
    assert problems == []
    assert [c.title for c in rules.correlations] == ["many"]
    path.write_text(path.read_text().replace("{gte: 10}", "{lt: 10}"))
    rules, problems = load(path)
    assert rules.correlations == ()
    assert len(problems) == 1 and "gte or gt" in problems[0].message
    assert problems[0].line == 11


def test_rule_filters_apply_to_the_rules_they_name(tmp_path: Path) -> None:
    """A Sigma filter document excludes matching events from the rules it names."""
    rule = tmp_path / "a.yml"
    rule.write_text(
        "title: base\nid: 5a1e2b3c-0000-4000-8000-000000000030\nlevel: high\n"
        "logsource: {product: test}\ndetection: {selection: {a: '1'}, condition: selection}\n"
    )
    flt = tmp_path / "b_filter.yml"
    flt.write_text(
        "title: known host\nid: 5a1e2b3c-0000-4000-8000-000000000031\n"
        "logsource: {product: test}\n"
        "filter:\n  rules: [5a1e2b3c-0000-4000-8000-000000000030]\n"
        "  selection: {host: trusted}\n  condition: not selection\n"
    )
    rules, problems = load(tmp_path)
    assert problems == []
    assert rules.match({"a": "1", "host": "other"})
    assert not rules.match({"a": "1", "host": "trusted"})
