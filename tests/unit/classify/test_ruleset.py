"""Verdicts, logsource binding, and the index never hiding a matching rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.classify import RuleSet, Verdict
from socd.classify.index import PartitionedIndex, RuleIndex
from socd.classify.plan import LIMIT as PLAN_LIMIT

WriteRule = Callable[..., Path]
C2 = {"selection": {"rule.category": "apt_c2"}, "condition": "selection"}
CYRADAR_EVENT = {"event": {"severity": 8}, "rule": {"category": "apt_c2"},
                 "threat": {"technique": {"id": ["T1071.001"]}}}


def test_issue_example_classifies_end_to_end(write_rule: WriteRule) -> None:
    """The example event of the daemon's first need is classified critical on its input."""
    path = write_rule(
        {"sel": {"event.severity|gte": 8, "rule.category": "apt_c2",
                 "threat.technique.id|startswith": "T1071"}, "condition": "sel"},
        id="5a1e2b3c-0000-4000-8000-000000000100", level="critical",
        logsource={"product": "cyradar"}, socd={"layer": 2},
    )
    rules, _ = RuleSet.load([path])
    verdict = rules.bind({"product": "cyradar"}).classify(CYRADAR_EVENT)
    assert isinstance(verdict, Verdict)
    assert verdict.threat_class == "critical"
    assert verdict.rule.layer == 2
    assert verdict.rule_ids == ("5a1e2b3c-0000-4000-8000-000000000100",)
    assert rules.bind({"product": "suricata"}).classify(CYRADAR_EVENT) is None


def test_most_severe_rule_wins_and_ids_are_ordered(write_rule: WriteRule,
                                                  tmp_path: Path) -> None:
    """The winner is the most severe match; rule_ids start with it, then severity, load order."""
    write_rule(C2, name="a.yml", id="00000000-0000-4000-8000-00000000000a", level="medium")
    write_rule(C2, name="b.yml", id="00000000-0000-4000-8000-00000000000b", level="high")
    write_rule(C2, name="c.yml", id="00000000-0000-4000-8000-00000000000c", level="critical")
    write_rule(C2, name="d.yml", id="00000000-0000-4000-8000-00000000000d", level="high")
    rules, _ = RuleSet.load([tmp_path])
    verdict = rules.classify(CYRADAR_EVENT)
    assert verdict is not None
    assert verdict.threat_class == "critical"
    assert verdict.rule.id.endswith("c")
    assert [i[-1] for i in verdict.rule_ids] == ["c", "b", "d", "a"]
    assert [r.id[-1] for r in rules.match(CYRADAR_EVENT)] == ["a", "b", "c", "d"]


def test_ties_go_to_load_order(write_rule: WriteRule, tmp_path: Path) -> None:
    """Among equally severe matches, the first in load order (sorted path, position) wins."""
    write_rule(C2, name="z.yml", id="00000000-0000-4000-8000-000000000001", level="high")
    write_rule(C2, name="m/a.yml", id="00000000-0000-4000-8000-000000000002", level="high")
    rules, _ = RuleSet.load([tmp_path])
    verdict = rules.classify(CYRADAR_EVENT)
    assert verdict is not None and verdict.rule.id.endswith("2")
    assert verdict.threat_class == "high-risk"


def test_no_verdict_below_high(write_rule: WriteRule) -> None:
    """Matches of medium and lower rules give no verdict (but do show in match())."""
    rules, _ = RuleSet.load([write_rule(C2, level="medium")])
    assert rules.classify(CYRADAR_EVENT) is None
    assert len(rules.match(CYRADAR_EVENT)) == 1
    assert rules.classify({"rule": {"category": "scan"}}) is None


def test_logsource_binding(write_rule: WriteRule, tmp_path: Path) -> None:
    """A rule meets an input when every logsource key it names equals the input's (any case);
    keys the rule does not name do not matter; a None logsource ignores logsource."""
    write_rule(C2, name="1.yml", title="cyradar", logsource={"product": "cyradar"})
    write_rule(C2, name="2.yml", title="cyradar-apt",
               logsource={"product": "cyradar", "category": "APT"})
    write_rule(C2, name="3.yml", title="apt", logsource={"category": "apt"})
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert [p.message for p in problems] == []

    def titles(logsource: dict[str, str] | None) -> list[str]:
        return [r.title for r in rules.match(CYRADAR_EVENT, logsource)]

    assert titles({"product": "CyRadar"}) == ["cyradar"]
    assert titles({"product": "cyradar", "category": "apt"}) == ["cyradar", "cyradar-apt", "apt"]
    assert titles({"product": "suricata", "category": "Apt"}) == ["apt"]
    assert titles({"product": "suricata"}) == []
    assert titles({}) == []
    assert titles(None) == ["cyradar", "cyradar-apt", "apt"]
    assert [r.title for r in rules.bind({"product": "cyradar"}).rules] == ["cyradar"]


def test_odd_events_do_not_break_classification(write_rule: WriteRule) -> None:
    """Non-string keys, deep nesting and odd value types are tolerated by the hot path."""
    path = write_rule({"k": ["needle"], "s": {"a.b|contains": "x"}, "condition": "k or s"})
    rules, _ = RuleSet.load([path])
    bound = rules.bind(None, indexed=True)
    odd: dict[Any, Any] = {1: "needle", "a": {"b": [[["xx"]], {"c": 2}], 3: None}}
    assert bound.match(odd)
    assert not bound.match({"a": {"b": b"x", "c": object()}, "d": [1.5, float("nan")]})


def test_bind_is_cached(write_rule: WriteRule) -> None:
    """Binding the same logsource twice gives the same precomputed object."""
    rules, _ = RuleSet.load([write_rule(C2)])
    assert rules.bind({"product": "x"}) is rules.bind({"product": "X"})


# A rule per kind of value test, to check that the index never drops a matching rule.
INDEXED_RULES: list[dict[str, Any]] = [
    {"s": {"a": "alpha"}, "condition": "s"},
    {"s": {"a|contains": "lph"}, "condition": "s"},
    {"s": {"a|startswith": "al"}, "condition": "s"},
    {"s": {"a|endswith": "ha"}, "condition": "s"},
    {"s": {"a": "a*a"}, "condition": "s"},
    {"s": {"a": "?eta"}, "condition": "s"},
    {"s": {"a": "*"}, "condition": "s"},
    {"s": {"a|re": "^(alp|bet)"}, "condition": "s"},
    {"s": {"a|re": "^[a-c]l"}, "condition": "s"},  # no literal: the index runs it
    {"s": {"a|re|i": "^B[e]T"}, "condition": "s"},
    {"s": {"a|re": "[[:alpha:]]pha"}, "condition": "s"},  # RE2's POSIX class, not "]pha"
    {"s": {"a|re|i": "ALPHAB?E"}, "condition": "s"},
    {"s": {"n|re": "^[0-5]$"}, "f": {"a|re": "^a"}, "condition": "s and not f"},
    {"s": {"n": 5}, "condition": "s"},
    {"s": {"n|gte": 3}, "condition": "s"},
    {"s": {"n": "5"}, "condition": "s"},
    {"s": {"b": True}, "condition": "s"},
    {"s": {"a": None}, "condition": "s"},
    {"s": {"a|exists": True}, "condition": "s"},
    {"s": {"a|exists": False}, "condition": "s"},
    {"s": {"x.y": "alpha"}, "condition": "s"},
    {"s": {"x.y|contains": "et"}, "condition": "s"},
    {"s": {"a|fieldref": "x.y"}, "condition": "s"},
    {"s": {"a": "alpha"}, "f": {"n": 5}, "condition": "s and not f"},
    {"s": {"a": "alpha"}, "f": {"n": 5}, "condition": "s or f"},
    {"k": ["lph", "eta"], "condition": "k"},  # decided by the index alone
    {"k": ["ha be", "al*ha"], "condition": "k"},  # a space, a wildcard: not decided there
    {"k": ["x\x02y"], "condition": "k"},
    {"k": [5], "condition": "k"},
    {"s": {"a|cased": "Alpha"}, "condition": "s"},
    {"s": {"ip|cidr": "10.0.0.0/8"}, "condition": "s"},
    {"s": {"a|contains": ["al", "lp", "ph", "ha", "be", "et", "ta"] * 5}, "condition": "s"},
]
WORDS = st.sampled_from(["alpha", "ALPHA", "beta", "Alpha", "gamma", "", "al", "10.1.2.3",
                         "5", "x\x02y", "alphabetagamma", "xAlphaBetaGamma", "betagamma\x01"])
SCALARS = st.one_of(WORDS, st.integers(0, 7), st.sampled_from([5.0, True, False, None]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
EVENTS = st.dictionaries(
    st.sampled_from(["a", "n", "b", "ip", "other"]),
    st.one_of(VALUES, st.dictionaries(st.sampled_from(["y", "z"]), VALUES, max_size=2)),
    max_size=4,
).map(lambda d: {**d, **({"x": d.pop("other")} if isinstance(d.get("other"), dict) else {})})


LONG = "alphabetagamma"
MANY_SUBSTRINGS = sorted({LONG[i:i + n] for n in (8, 9, 10) for i in range(len(LONG) - n + 1)})
RULE_SETS = {
    # keywords make the index walk the whole event
    "walk": INDEXED_RULES,
    # few fields and no keywords: the index fetches each field
    "fetch": [r for r in INDEXED_RULES if "k" not in r],
    # many substrings on one field: an RE2 set of its own
    "own-set": [*INDEXED_RULES, {"s": {"a|contains": MANY_SUBSTRINGS}, "condition": "s"},
                {"s": {"x.y|endswith": MANY_SUBSTRINGS}, "condition": "s"}],
    # most rules need one of a few values of n (as a pipeline's event ids): split by n
    "partition": [*INDEXED_RULES, *(
        {"s": rule["s"], "p": {"n": value}, "condition": "s and p"}
        for value in (0, 1, "2", [3, 4]) for rule in INDEXED_RULES if rule["condition"] == "s")],
}
_BOUND: dict[str, tuple[Any, Any]] = {}


def _indexed_and_plain(kind: str, directory: Path) -> tuple[Any, Any]:
    for number, detection in enumerate(RULE_SETS[kind]):
        (directory / f"r{number:03d}.yml").write_text(yaml.safe_dump({
            "title": f"r{number}", "id": f"00000000-0000-4000-8000-{number:012d}",
            "level": "high", "logsource": {"product": "test"}, "detection": detection,
        }))
    rules, problems = RuleSet.load([directory])
    assert problems == []
    return rules.bind(None, indexed=True), rules.bind(None, indexed=False)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(RULE_SETS)), event=EVENTS)
def test_index_never_hides_a_matching_rule(
    tmp_path_factory: Any, kind: str, event: dict[str, Any]
) -> None:
    """With the index, an event matches exactly the rules it matches when all are evaluated."""
    if kind not in _BOUND:
        _BOUND[kind] = _indexed_and_plain(kind, tmp_path_factory.mktemp(kind))
    indexed, plain = _BOUND[kind]
    assert [r.id for r in indexed.match(event)] == [r.id for r in plain.match(event)]


_PLANNED: dict[str, tuple[Any, Any]] = {}


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(k for k, v in RULE_SETS.items() if len(v) <= PLAN_LIMIT)),
       event=EVENTS)
def test_plan_matches_what_every_predicate_matches(
    tmp_path_factory: Any, kind: str, event: dict[str, Any]
) -> None:
    """A small set's plan (fields fetched once, rules found by their equality terms) matches
    exactly the rules that evaluating every predicate matches."""
    if kind not in _PLANNED:
        directory = tmp_path_factory.mktemp(f"plan-{kind}")
        plain = _indexed_and_plain(kind, directory)[1]
        rules, _ = RuleSet.load([directory])
        _PLANNED[kind] = (rules.bind(None), plain)
    planned, plain = _PLANNED[kind]
    assert planned.plan is not None
    assert [r.id for r in planned.match(event)] == [r.id for r in plain.match(event)]


def test_plan_flattens_fields_and_keeps_predicates_for_the_rest(write_rule: WriteRule,
                                                               tmp_path: Path) -> None:
    """Rules over fields (and, or, not) are flattened; keyword and field-reference rules keep
    their predicates; literal dotted keys, nested objects and lists all match."""
    write_rule({"s": {"rule.category": ["apt_c2", "botnet"], "event.severity|gte": 7},
                "f": {"source.domain|endswith": ".gov.vn"}, "condition": "s and not f"},
               name="a.yml")
    write_rule({"k": ["implant"], "condition": "k"}, name="b.yml")
    write_rule({"s": {"a|fieldref": "b"}, "condition": "s"}, name="c.yml")
    rules, _ = RuleSet.load([tmp_path])
    bound = rules.bind(None)
    assert bound.plan is not None and bound.index is None
    nested = {"rule": {"category": "APT_C2"}, "event": {"severity": 8}}
    assert [r.title for r in bound.match(nested)] == ["test rule"]
    assert bound.match({"rule.category": "botnet", "event.severity": "9"})
    assert bound.match({"rule": {"category": ["x", "Botnet"]}, "event": {"severity": 7}})
    assert not bound.match({**nested, "source": {"domain": "portal.GOV.vn"}})
    assert not bound.match({"rule": {"category": "apt_c2"}, "event": {"severity": 6}})
    assert len(bound.match({"msg": "an implant", "a": "x", "b": "X"})) == 2


def test_index_modes_are_exercised(tmp_path: Path) -> None:
    """The rule sets above do reach the walk, fetch, own-set and partition paths."""
    indexes = {}
    for kind in RULE_SETS:
        (tmp_path / kind).mkdir()
        indexes[kind] = _indexed_and_plain(kind, tmp_path / kind)[0]
    walk, fetch, own, split = (
        indexes[k].index for k in ("walk", "fetch", "own-set", "partition"))
    assert isinstance(walk, RuleIndex) and isinstance(fetch, RuleIndex)
    assert isinstance(own, RuleIndex) and isinstance(split, PartitionedIndex)
    assert walk._anywhere is not None and not walk._getters
    assert fetch._anywhere is None and fetch._getters
    assert own._fields["a"].texts is not None and own._fields["x.y"].texts is not None
    assert split.field == "n" and len(split._loose) < len(INDEXED_RULES)
    decided = [r.title for r, p in zip(indexes["walk"].rules, indexes["walk"]._predicates,
                                       strict=True) if p.__name__ == "_decided"]
    assert decided == ["r" + str(next(i for i, r in enumerate(INDEXED_RULES)
                                     if r.get("k") == ["lph", "eta"]))]


@pytest.mark.parametrize("dfa_limit", [0, 10_000])
def test_text_automata_find_every_candidate(
    tmp_path: Path, monkeypatch: Any, dfa_limit: int
) -> None:
    """A field's many text atoms go to one automaton (a DFA when small, an NFA when large):
    substrings, prefixes, suffixes and whole values are each found where they hold, in any
    case, in values that contain the automaton's own separators too."""
    import socd.classify.index as index_module

    monkeypatch.setattr(index_module, "_DFA_PATTERNS", dfa_limit)
    needles = [f"needle-{n:05d}-value" for n in range(600)]
    path = tmp_path / "many.yml"
    path.write_text(yaml.safe_dump({
        "title": "many", "id": "00000000-0000-4000-8000-00000000abcd", "level": "high",
        "logsource": {"product": "test"},
        "detection": {"s": {"cmd|contains": needles}, "p": {"cmd|startswith": "head-"},
                      "e": {"cmd|endswith": "-tail"}, "x": {"cmd|contains": "\x01mid\x02"},
                      "condition": "1 of them"},
    }))
    rules, _ = RuleSet.load([path])
    bound = rules.bind(None, indexed=True)
    assert bound.index is not None and bound.index._fields["cmd"].texts is not None
    for needle in (needles[0], needles[299], needles[-1]):
        assert bound.match({"cmd": f"run {needle.upper()} now"})
        assert bound.match({"cmd": ["other", f"\x02{needle}\x01"]})
    assert bound.match({"cmd": "HEAD-first"}) and bound.match({"cmd": "last-TAIL"})
    assert bound.match({"cmd": "a \x01MID\x02 b"})
    assert not bound.match({"cmd": "needle-99999-value"})
    assert not bound.match({"cmd": "a head-first"}) and not bound.match({"cmd": "-tail end"})


def test_public_names() -> None:
    """socd.classify exports exactly its documented interface."""
    import socd.classify

    assert sorted(socd.classify.__all__) == [
        "BoundRules", "Placeholders", "RuleInfo", "RuleSet", "ThreatClass", "Verdict"]
    assert all(hasattr(socd.classify, name) for name in socd.classify.__all__)


def test_remembered_values_stay_bounded_and_right(tmp_path: Path, monkeypatch: Any) -> None:
    """What the index remembers per value is bounded (two generations) and never changes
    an answer: a value seen again, forgotten, or too long to keep matches the same rules."""
    import socd.classify.index as index_module

    monkeypatch.setattr(index_module, "_REMEMBERED", 4)
    monkeypatch.setattr(index_module, "_REMEMBERED_LENGTH", 12)
    indexed, plain = _indexed_and_plain("own-set", tmp_path)
    assert isinstance(indexed.index, RuleIndex)
    values = ["alpha", "xbetay", "gammaalpha", "alphabetagamma-long", *(
        f"v{n}alph" for n in range(20))]
    for value in values * 3:
        for event in ({"a": value}, {"x": {"y": value}}, {"other": value, "a": "beta"}):
            assert [r.id for r in indexed.match(event)] == [r.id for r in plain.match(event)]
    recent = indexed.index._fields["a"].texts._recent  # type: ignore[union-attr]
    assert 0 < len(recent.newer) <= 4 and len(recent.older) <= 4
    assert all(len(text) <= 12 for text in (*recent.newer, *recent.older))


def test_generic_rules_meet_inputs_that_no_other_rule_meets(write_rule: WriteRule,
                                                            tmp_path: Path) -> None:
    """Rules of logsource product ecs (the generic policy) meet an input of that logsource,
    and any input that no other rule meets; never an input that has rules of its own."""
    write_rule(C2, name="c.yml", title="cyradar", logsource={"product": "cyradar"})
    write_rule(C2, name="g.yml", title="generic", logsource={"product": "ecs"})
    write_rule(C2, name="w.yml", title="ecs web", logsource={"product": "ecs",
                                                             "category": "webserver"})
    rules, _ = RuleSet.load([tmp_path])

    def titles(logsource: dict[str, str] | None) -> list[str]:
        return [r.title for r in rules.bind(logsource).rules]

    assert titles({"product": "cyradar"}) == ["cyradar"]
    assert titles({"product": "ECS"}) == ["generic"]
    assert titles({"product": "ecs", "category": "webserver"}) == ["generic", "ecs web"]
    assert titles({}) == ["generic"]
    assert titles({"product": "acme"}) == ["generic"]
    assert titles({"category": "webserver"}) == ["generic"]  # "ecs web" names product ecs
    assert titles(None) == ["cyradar", "generic", "ecs web"]  # logsource ignored
    verdict = rules.bind({"product": "acme"}).classify(CYRADAR_EVENT)
    assert verdict is not None and verdict.rule.title == "generic"


def test_without_generic_rules_an_unmet_input_meets_nothing(write_rule: WriteRule) -> None:
    """With no rule of product ecs loaded, an input no rule meets stays without rules."""
    rules, _ = RuleSet.load([write_rule(C2, logsource={"product": "cyradar"})])
    assert rules.bind({"product": "acme"}).rules == ()
    assert rules.bind({}).classify(CYRADAR_EVENT) is None
