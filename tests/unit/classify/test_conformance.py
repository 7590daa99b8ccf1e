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
