"""Helpers that write Sigma rules into a temporary directory and load them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from socd.classify import RuleSet

_numbers = itertools.count(1)


def rule_text(detection: Mapping[str, Any], **fields: Any) -> str:
    """A rule as YAML: ``detection`` plus title/id/level/logsource defaults and ``fields``."""
    rule: dict[str, Any] = {
        "title": fields.pop("title", "test rule"),
        "id": fields.pop("id", str(uuid.uuid4())),
        "level": fields.pop("level", "high"),
        "logsource": fields.pop("logsource", {"product": "test"}),
        "detection": dict(detection),
    }
    rule.update(fields)
    return yaml.safe_dump(rule, sort_keys=False, allow_unicode=True)


@pytest.fixture
def write_rule(tmp_path: Path) -> Callable[..., Path]:
    """Write one rule file (named ``name`` or numbered) and return its path."""

    def write(detection: Mapping[str, Any], name: str | None = None, **fields: Any) -> Path:
        path = tmp_path / (name or f"rule{next(_numbers):04d}.yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rule_text(detection, **fields), encoding="utf-8")
        return path

    return write


@pytest.fixture
def matches(write_rule: Callable[..., Path]) -> Callable[..., bool]:
    """``matches(detection, event, **loader options)``: does a one-rule set match the event?"""

    def check(detection: Mapping[str, Any], event: Mapping[str, Any], **options: Any) -> bool:
        path = write_rule(detection)
        rules, _ = RuleSet.load([path], **options)
        return bool(rules.match(event))

    return check
