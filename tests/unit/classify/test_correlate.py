"""Correlation rules: counting per group within a timespan, upgrading the firing event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.classify import BoundRules, RuleSet
from socd.classify.correlate import event_time

ROOT = Path(__file__).resolve().parents[3]
WriteRule = Callable[..., Path]
BASE = "5a1e2b3c-0000-4000-8000-0000000000a1"
OTHER = "5a1e2b3c-0000-4000-8000-0000000000a2"
CORR = "5a1e2b3c-0000-4000-8000-0000000000c1"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def event(seconds: float, ip: str | None = "10.0.0.1", kind: str = "a", **extra: Any
          ) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": at(seconds), "kind": kind, **extra}
    if ip is not None:
        doc["source"] = {"ip": ip}
    return doc


def write_correlation(tmp_path: Path, correlation: dict[str, Any], *, level: str = "critical",
                      rule_id: str = CORR, name: str = "corr.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"title": "correlated", "id": rule_id, "level": level,
                                    "correlation": correlation}, sort_keys=False))
    return path


@pytest.fixture
def bases(write_rule: WriteRule) -> None:
    write_rule({"selection": {"kind": "a"}, "condition": "selection"}, name="base.yml",
               id=BASE, level="high")
    write_rule({"selection": {"kind": "b"}, "condition": "selection"}, name="other.yml",
               id=OTHER, level="low")


def bound(tmp_path: Path, correlation: dict[str, Any], **options: Any) -> BoundRules:
    write_correlation(tmp_path, correlation, **options)
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert problems == []
    return rules.bind({"product": "test"})


def classes(rules: BoundRules, events: list[dict[str, Any]]) -> list[str | None]:
    return [v.threat_class if (v := rules.classify(e)) else None for e in events]


COUNT3 = {"type": "event_count", "rules": [BASE], "group-by": ["source.ip"], "timespan": "10m",
          "condition": {"gte": 3}}


@pytest.mark.usefixtures("bases")
def test_event_count_upgrades_the_event_that_completes_the_count(tmp_path: Path) -> None:
    """The third matching event of one source within 10 minutes is critical, with the
    correlation as its rule; the count then starts afresh."""
    rules = bound(tmp_path, COUNT3)
    verdicts = [rules.classify(event(i * 60)) for i in range(7)]
    assert [v.threat_class for v in verdicts if v] == [
        "high-risk", "high-risk", "critical", "high-risk", "high-risk", "critical", "high-risk"]
    fired = verdicts[2]
    assert fired is not None and fired.rule.id == CORR and fired.rule_ids == (CORR, BASE)


@pytest.mark.usefixtures("bases")
def test_window_slides_and_groups_are_separate(tmp_path: Path) -> None:
    """Events further apart than the timespan, other sources, and events without the group-by
    field do not add up."""
    rules = bound(tmp_path, COUNT3)
    stream = [event(0), event(400), event(700, ip="10.0.0.2"), event(800, ip=None),
              event(900), event(950)]
    # at 900 the event of 0 has left the window ending there; 400, 900, 950 are within it
    assert classes(rules, stream) == ["high-risk"] * 5 + ["critical"]


@pytest.mark.usefixtures("bases")
def test_gt_needs_one_more(tmp_path: Path) -> None:
    """``gt: 2`` fires on the third event, like ``gte: 3``."""
    rules = bound(tmp_path, {**COUNT3, "condition": {"gt": 2}})
    assert classes(rules, [event(i) for i in range(3)])[-1] == "critical"


@pytest.mark.usefixtures("bases")
def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    """value_count fires when the group shows N distinct values of the field."""
    rules = bound(tmp_path, {"type": "value_count", "rules": [BASE], "group-by": ["source.ip"],
                             "timespan": "1h", "condition": {"gte": 3, "field": "port"}})
    ports = [22, 22, 23, 23, 25]
    assert classes(rules, [event(i, port=p) for i, p in enumerate(ports)]) == [
        "high-risk"] * 4 + ["critical"]


@pytest.mark.usefixtures("bases")
def test_temporal_needs_every_rule_in_any_order(tmp_path: Path) -> None:
    """temporal fires once every named rule matched in the group within the timespan; a
    rule below high can take part, and the correlation gives the class."""
    rules = bound(tmp_path, {"type": "temporal", "rules": [BASE, OTHER],
                             "group-by": ["source.ip"], "timespan": "5m"})
    assert classes(rules, [event(0, kind="b"), event(10, kind="b"), event(20)]) == [
        None, None, "critical"]
    assert classes(rules, [event(1000), event(1400, kind="b")]) == ["high-risk", None]


@pytest.mark.usefixtures("bases")
def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    """temporal_ordered fires only when the rules matched in the listed order."""
    rules = bound(tmp_path, {"type": "temporal_ordered", "rules": [OTHER, BASE],
                             "group-by": ["source.ip"], "timespan": "5m"})
    assert classes(rules, [event(0), event(10, kind="b")]) == ["high-risk", None]
    assert classes(rules, [event(20)]) == ["critical"]


@pytest.mark.usefixtures("bases")
def test_aliases_name_the_group_field_per_rule(tmp_path: Path) -> None:
    """An alias groups events whose rules keep the value in different fields."""
    rules = bound(tmp_path, {
        "type": "temporal", "rules": [BASE, OTHER], "group-by": ["host"], "timespan": "5m",
        "aliases": {"host": {BASE: "source.ip", OTHER: "destination.ip"}}})
    first = event(0, kind="b", ip=None, destination={"ip": "10.9.9.9"})
    assert classes(rules, [first, event(5, ip="10.9.9.9")]) == [None, "critical"]


@pytest.mark.usefixtures("bases")
def test_correlations_can_count_correlations(tmp_path: Path) -> None:
    """A correlation firing counts as a match of its id for a correlation naming it."""
    write_correlation(tmp_path, {**COUNT3, "condition": {"gte": 2}}, level="high",
                      rule_id=CORR)
    outer = "5a1e2b3c-0000-4000-8000-0000000000c2"
    rules = bound(tmp_path, {"type": "event_count", "rules": [CORR], "timespan": "1h",
                             "condition": {"gte": 2}}, rule_id=outer, name="outer.yml")
    verdicts = [rules.classify(event(i)) for i in range(4)]
    assert [v.rule.id for v in verdicts if v] == [BASE, BASE, BASE, outer]


@pytest.mark.usefixtures("bases")
def test_unresolvable_correlations_are_problems(tmp_path: Path) -> None:
    """A reference to no loaded rule and a window-closing condition are reported with file
    and line, and the correlation is left out."""
    write_correlation(tmp_path, {**COUNT3, "rules": ["no-such-rule"]})
    write_correlation(tmp_path, {**COUNT3, "condition": {"lte": 3}}, name="lte.yml",
                      rule_id="5a1e2b3c-0000-4000-8000-0000000000c3")
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert rules.correlations == ()
    messages = sorted((Path(p.file or "").name, p.line, p.message) for p in problems)
    assert [m[:2] for m in messages] == [("corr.yml", 6), ("lte.yml", 11)]
    assert "no-such-rule" in messages[0][2] and "gte or gt" in messages[1][2]


def test_correlation_on_a_rule_that_did_not_compile_is_a_problem(
    write_rule: WriteRule, tmp_path: Path
) -> None:
    """A rule that parses but does not compile cannot be counted: the correlation naming it
    is reported too, not loaded to wait for matches that never come."""
    write_rule({"selection": {"kind|expand": "%nowhere%"}, "condition": "selection"},
               name="base.yml", id=BASE, level="high")
    write_correlation(tmp_path, COUNT3)
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert rules.rules == () and rules.correlations == ()
    by_file = {Path(p.file or "").name: p.message for p in problems}
    assert "%nowhere%" in by_file["base.yml"] and BASE in by_file["corr.yml"]


@pytest.mark.usefixtures("bases")
def test_groups_are_bounded(tmp_path: Path) -> None:
    """At most max_groups groups are kept per correlation: the least recent go first."""
    write_correlation(tmp_path, COUNT3)
    rules, _ = RuleSet.load([tmp_path], max_groups=5)
    bound_rules = rules.bind(None)
    for i in range(50):
        bound_rules.classify(event(i, ip=f"10.0.1.{i}"))
    assert rules.correlator is not None and rules.correlator.groups() == 5
    # the newest groups survived: two more events of the last source complete its count
    assert classes(bound_rules, [event(60, ip="10.0.1.49"), event(61, ip="10.0.1.49")]) == [
        "high-risk", "critical"]


@pytest.mark.usefixtures("bases")
def test_expired_groups_are_dropped(tmp_path: Path) -> None:
    """Groups whose newest event left the timespan are dropped as newer events arrive."""
    write_correlation(tmp_path, COUNT3)
    rules, _ = RuleSet.load([tmp_path])
    bound_rules = rules.bind(None)
    for i in range(10):
        bound_rules.classify(event(i, ip=f"10.0.2.{i}"))
    bound_rules.classify(event(3600, ip="10.0.3.1"))
    assert rules.correlator is not None and rules.correlator.groups() == 1


@pytest.mark.usefixtures("bases")
def test_reload_keeps_state_of_unchanged_correlations(tmp_path: Path) -> None:
    """keep_state carries windows over to a reloaded set when the correlation is defined as
    before, and starts them empty when it changed."""
    write_correlation(tmp_path, COUNT3)
    old, _ = RuleSet.load([tmp_path])
    for i in range(2):
        old.bind(None).classify(event(i))
    same, _ = RuleSet.load([tmp_path])
    assert same.keep_state(old) == 1
    assert classes(same.bind(None), [event(3)]) == ["critical"]
    for i in range(2):
        same.bind(None).classify(event(10 + i))
    write_correlation(tmp_path, {**COUNT3, "timespan": "11m"})
    changed, _ = RuleSet.load([tmp_path])
    assert changed.keep_state(same) == 0
    assert classes(changed.bind(None), [event(20)]) == ["high-risk"]


@pytest.mark.usefixtures("bases")
def test_match_does_not_count(tmp_path: Path) -> None:
    """Only classify feeds the correlator: match() and rules without correlations do not."""
    rules = bound(tmp_path, COUNT3)
    for i in range(5):
        rules.match(event(i))
    assert classes(rules, [event(10)]) == ["high-risk"]


@settings(max_examples=30, deadline=None)
@given(gaps=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40),
       need=st.integers(min_value=1, max_value=6))
def test_event_count_matches_a_direct_count(tmp_path_factory: pytest.TempPathFactory,
                                            gaps: list[int], need: int) -> None:
    """For any arrival times, event_count fires exactly when a plain re-count of the events
    since the last firing, within the timespan, reaches N."""
    base = tmp_path_factory.mktemp("corr")
    (base / "base.yml").write_text(yaml.safe_dump({
        "title": "base", "id": BASE, "level": "high", "logsource": {"product": "test"},
        "detection": {"selection": {"kind": "a"}, "condition": "selection"}}))
    rules = bound(base, {**COUNT3, "condition": {"gte": need}})
    times: list[int] = []
    fired: list[bool] = []
    since: list[int] = []
    for gap in gaps:
        now = (times[-1] if times else 0) + gap
        times.append(now)
        since = [t for t in [*since, now] if t >= now - 600]
        expected = len(since) >= need
        if expected:
            since = []
        fired.append(expected)
    assert [c == "critical" for c in classes(rules, [event(t) for t in times])] == fired


def test_event_time_reads_iso_and_epoch() -> None:
    """@timestamp is read as ISO 8601 (Z or offset), epoch seconds or milliseconds."""
    assert event_time({"@timestamp": "2026-01-05T01:00:00Z"}) == T0.timestamp()
    assert event_time({"@timestamp": "2026-01-05T08:00:00+07:00"}) == T0.timestamp()
    assert event_time({"@timestamp": T0.timestamp() * 1000}) == T0.timestamp()
    assert event_time({"@timestamp": 1_700_000_000}) == 1_700_000_000


def test_shipped_correlation_twenty_high_risk_threats_make_one_critical() -> None:
    """With the shipped rules, the 20th high-risk threat from one source.ip within 10 minutes
    is critical, classified by the correlation rule; another source is not affected."""
    rules, problems = RuleSet.load([ROOT / "rules"])
    assert problems == [] and len(rules.correlations) == 1
    cyradar = rules.bind({"product": "cyradar"})

    def brute(seconds: int, ip: str) -> dict[str, Any]:
        return {"@timestamp": at(seconds), "rule": {"category": "bruteforce"},
                "event": {"severity": 8, "action": "blocked"}, "source": {"ip": ip}}

    stream = [brute(i * 25, "203.0.113.7") for i in range(20)]
    stream.insert(5, brute(130, "198.51.100.9"))
    verdicts = [cyradar.classify(e) for e in stream]
    assert [v.threat_class for v in verdicts if v] == ["high-risk"] * 20 + ["critical"]
    assert verdicts[-1] is not None and verdicts[-1].rule.id == rules.correlations[0].id
