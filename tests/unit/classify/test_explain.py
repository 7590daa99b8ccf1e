"""``socd rules test --explain``: which selections of a matching rule held, on which fields."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from socd.classify import tools

WriteRule = Callable[..., Path]
RULE_ID = "5a1e2b3c-0000-4000-8000-0000000000d1"
KEYWORD_ID = "5a1e2b3c-0000-4000-8000-0000000000d2"


def _run(rules: Path, tmp_path: Path, *events: dict[str, object]) -> list[dict[str, object]]:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = io.StringIO()
    assert tools.test([str(rules)], str(path), strict=False, out=out, explain=True) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_explain_names_selections_and_matched_fields(write_rule: WriteRule,
                                                     tmp_path: Path) -> None:
    """For a matching rule, every detection is reported true or false, and each field test
    that matched is listed with the event's value; a rule that did not match is absent."""
    write_rule({"selection": {"rule.category": ["bruteforce", "ddos"], "event.severity|gte": 8},
                "by_name": {"rule.name|contains": "ssh"},
                "filter": {"source.ip": "10.0.0.9"},
                "condition": "(selection or by_name) and not filter"},
               name="rules/r.yml", id=RULE_ID)
    lines = _run(tmp_path / "rules", tmp_path,
                 {"rule": {"category": "bruteforce", "name": "RDP"}, "event": {"severity": 9},
                  "source": {"ip": "10.0.0.1"}},
                 {"rule": {"category": "scan"}, "event": {"severity": 9}})
    assert lines[0]["matches"] == [RULE_ID]
    assert lines[0]["explain"] == {RULE_ID: {
        "selections": {"selection": True, "by_name": False, "filter": False},
        "fields": [{"selection": "selection", "field": "rule.category", "value": "bruteforce"},
                   {"selection": "selection", "field": "event.severity", "value": 9}],
    }}
    assert lines[1]["explain"] == {}


def test_explain_keywords_show_the_value_that_matched(write_rule: WriteRule,
                                                      tmp_path: Path) -> None:
    """A keyword (field-less) search reports field null and the event value it found."""
    write_rule({"keywords": ["mimikatz"], "condition": "keywords"}, name="rules/k.yml",
               id=KEYWORD_ID)
    lines = _run(tmp_path / "rules", tmp_path, {"cmd": "run Mimikatz.exe now", "n": 1})
    assert lines[0]["explain"][KEYWORD_ID] == {  # type: ignore[index]
        "selections": {"keywords": True},
        "fields": [{"selection": "keywords", "field": None, "value": "run Mimikatz.exe now"}],
    }


def test_without_explain_lines_are_unchanged(write_rule: WriteRule, tmp_path: Path) -> None:
    """Without explain the output keeps its three keys."""
    write_rule({"s": {"a": 1}, "condition": "s"}, name="rules/a.yml", id=RULE_ID)
    path = tmp_path / "e.jsonl"
    path.write_text('{"a": 1}\n')
    out = io.StringIO()
    tools.test([str(tmp_path / "rules")], str(path), strict=False, out=out)
    assert json.loads(out.getvalue()) == {"line": 1, "matches": [RULE_ID], "class": "high-risk"}
