"""The shared conformance data: SigmaHQ's regression cases and the whole SigmaHQ rule set.

These tests read ../shared beside the checkout and skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from socd.classify import RuleSet


def _cases(shared: Path) -> list[dict[str, Any]]:
    lines = (shared / "conformance/sigma/cases.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_regression_case_fires(shared_dir: Path) -> None:
    """Each of the 202 SigmaHQ regression rules matches at least one of its recorded events."""
    base = shared_dir / "conformance/sigma"
    cases = _cases(shared_dir)
    assert len(cases) == 202
    failing = []
    for case in cases:
        rules, _ = RuleSet.load([base / case["rule"]])
        bound = rules.bind(None)
        events = _events(base / case["events"])
        if not any(case["rule_id"] in [r.id for r in bound.match(e)] for e in events):
            failing.append(case["rule"])
    assert failing == []


@pytest.fixture(scope="module")
def sigmahq(shared_dir: Path) -> tuple[RuleSet, list[Any]]:
    return RuleSet.load([shared_dir / "conformance/sigmahq-rules"], strict=False)


def test_whole_sigmahq_set_loads(sigmahq: tuple[RuleSet, list[Any]]) -> None:
    """Every SigmaHQ rule compiles, or is reported with its file, line and reason."""
    rules, problems = sigmahq
    assert len(rules.rules) + len(problems) == 3754
    assert len(rules.rules) >= 3750
    for problem in problems:
        assert problem.file and problem.line and problem.message


def test_index_agrees_with_full_evaluation_on_sigmahq(
    shared_dir: Path, sigmahq: tuple[RuleSet, list[Any]]
) -> None:
    """On every regression event, the indexed whole set matches exactly what evaluating every
    rule matches."""
    rules, _ = sigmahq
    indexed, plain = rules.bind(None, indexed=True), rules.bind(None, indexed=False)
    events = [e for p in sorted((shared_dir / "conformance/sigma/events").glob("*.jsonl"))
              for e in _events(p)]
    assert len(events) > 200
    for event in events:
        assert [r.id for r in indexed.match(event)] == [r.id for r in plain.match(event)]


def test_every_regression_case_fires_fitted_to_windows_logs(shared_dir: Path) -> None:
    """Fitted with socd's windows pipeline and bound to an input of product windows, each
    regression rule still matches one of its recorded events: the pipeline's channels and
    event ids are those the real events carry."""
    base = shared_dir / "conformance/sigma"
    rules, problems = RuleSet.load([base / "rules"], pipelines=[("windows",)])
    assert problems == []
    bound = rules.bind({"product": "windows"}, pipelines=("windows",))
    failing = []
    for case in _cases(shared_dir):
        events = _events(base / case["events"])
        if not any(case["rule_id"] in [r.id for r in bound.match(e)] for e in events):
            failing.append(case["rule"])
    assert failing == []


def test_windows_fitted_set_splits_by_event_id_and_hides_nothing(shared_dir: Path) -> None:
    """The whole SigmaHQ set fitted to Windows logs is split by EventID (the conditions the
    pipeline adds), and the split index matches exactly what evaluating every rule matches."""
    rules, _ = RuleSet.load([shared_dir / "conformance/sigmahq-rules"], strict=False,
                            pipelines=[("windows",)])
    windows = {"product": "windows"}
    indexed = rules.bind(windows, pipelines=("windows",), indexed=True)
    plain = rules.bind(windows, pipelines=("windows",), indexed=False)
    assert getattr(indexed.index, "field", None) == "EventID"
    events = [e for p in sorted((shared_dir / "conformance/sigma/events").glob("*.jsonl"))
              for e in _events(p)]
    for event in [*events, {**events[0], "EventID": "1"}, {**events[0], "EventID": [1, 7]},
                  {k: v for k, v in events[0].items() if k != "EventID"}]:
        assert [r.id for r in indexed.match(event)] == [r.id for r in plain.match(event)]
