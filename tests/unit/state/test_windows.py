"""Correlation windows as stored documents: every type's state survives the JSON round trip,
counting against stored windows gives the in-memory verdicts, and a replayed event gets its
recorded verdict without being counted again (the I/O of the store is tested on the real
server in tests/integration/test_state_windows.py)."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.classify import BoundRules, RuleSet
from socd.classify.correlate import Correlator, StoredGroup
from socd.classify.ruleset import Deferred
from socd.state.applied import AppliedSet
from socd.state.windows import decode, decode_data, encode, encode_data, prune_fired, window_id
from tests.unit.classify.test_correlate import BASE, CORR, OTHER, event, write_correlation

PARTITION = "sensors/0"

KINDS: dict[str, dict[str, Any]] = {
    "event_count": {"type": "event_count", "rules": [BASE], "group-by": ["source.ip"],
                    "timespan": "10m", "condition": {"gte": 3}},
    "value_count": {"type": "value_count", "rules": [BASE], "group-by": ["source.ip"],
                    "timespan": "10m", "condition": {"gte": 3, "field": "port"}},
    "temporal": {"type": "temporal", "rules": [BASE, OTHER], "group-by": ["source.ip"],
                 "timespan": "5m"},
    "temporal_ordered": {"type": "temporal_ordered", "rules": [OTHER, BASE],
                         "group-by": ["source.ip"], "timespan": "5m"},
}


def load(tmp_path: Path, correlation: dict[str, Any]) -> tuple[RuleSet, BoundRules]:
    base = {"title": "base", "logsource": {"product": "test"}}
    (tmp_path / "base.yml").write_text(orjson.dumps({
        **base, "id": BASE, "level": "high",
        "detection": {"selection": {"kind": "a"}, "condition": "selection"}}).decode())
    (tmp_path / "other.yml").write_text(orjson.dumps({
        **base, "id": OTHER, "level": "low",
        "detection": {"selection": {"kind": "b"}, "condition": "selection"}}).decode())
    write_correlation(tmp_path, correlation)
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert problems == []
    return rules, rules.bind({"product": "test"})


class Stored:
    """The store's write and read, without a server: each touched group written as its
    JSON document (applied raised to the batch's end) and read back from it."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.writes = 0
        self.committed: dict[str, int] = {}

    def load(self, correlator: Correlator, docs: list[dict[str, Any]],
             deferred: list[Deferred]) -> None:
        for doc, item in zip(docs, deferred, strict=True):
            for window, positions in correlator.reach(item.inputs):
                for position in positions:
                    key = window.keys[position](doc)
                    if key is None or key in window.groups:
                        continue
                    found = self.docs.get(window_id(window.correlation, key))
                    window.groups[key] = (
                        decode(window.correlation, orjson.loads(found), (1, 1)) if found
                        else window.stored(key))

    def write(self, correlator: Correlator, end: int) -> None:
        for correlation, key, group in correlator.take_touched():
            for partition in group.counted:
                group.applied = group.applied.raise_floor(partition, end)
            prune_fired(group, correlation.seconds, self.committed)
            group.counted.clear()
            self.docs[window_id(correlation, key)] = orjson.dumps(
                encode(correlation, key, group, now=0.0))
            self.writes += 1

    def settle(self, rules: RuleSet, bound: BoundRules, batch: list[tuple[int, dict[str, Any]]],
               *, restart: bool) -> list[str | None]:
        """Count one batch (offset, event); ``restart``: the cache is lost first."""
        correlator = rules.correlator
        assert correlator is not None
        if restart:
            for correlation in correlator.correlations:
                correlator.window_of(correlation).groups.clear()
        triaged = [(offset, doc, bound.triage(doc)) for offset, doc in batch]
        deferred = [(o, d, t) for o, d, t in triaged if isinstance(t, Deferred)]
        self.load(correlator, [d for _, d, _ in deferred], [t for _, _, t in deferred])
        verdicts: dict[int, str | None] = {}
        for offset, doc, item in triaged:
            if isinstance(item, Deferred):
                fired = correlator.count_at(doc, item.inputs, PARTITION, offset)
                verdict = bound.decide(item, fired)
            else:
                verdict = item
            verdicts[offset] = verdict.threat_class if verdict else None
        if batch:
            self.write(correlator, batch[-1][0] + 1)
        return [verdicts[offset] for offset, _ in batch]


def stream(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Events in time order (some seconds apart), a few sources, both rules, a few ports."""
    out, t = [], 0.0
    for _ in range(n):
        t += rng.choice([0, 1, 5, 30, 90, 400])
        out.append(event(t, ip=rng.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3", None]),
                         kind=rng.choice("aab"), port=rng.choice([22, 23, 25, 80])))
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(1, 9), min_size=1, max_size=12))
def test_stored_windows_give_the_in_memory_verdicts(
        tmp_path_factory: pytest.TempPathFactory, kind: str, seed: int, cuts: list[int]) -> None:
    """Cut a stream into batches; after each batch the touched windows go through their JSON
    document, and at random the cache is lost (a restart, a rebalance): every event gets the
    verdict the in-memory correlator gives the same stream uninterrupted."""
    rng = random.Random(seed)
    events = stream(rng, 40)
    _, memory = load(tmp_path_factory.mktemp("memory"), KINDS[kind])
    expected = [v.threat_class if (v := memory.classify(e)) else None for e in events]
    rules, bound = load(tmp_path_factory.mktemp("stored"), KINDS[kind])
    store, got, at = Stored(), [], 0
    while at < len(events):
        size = cuts[len(got) % len(cuts)]
        batch = list(enumerate(events))[at:at + size]
        got += store.settle(rules, bound, batch, restart=rng.random() < 0.4)
        at += size
    assert got == expected


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_replay_gets_the_recorded_verdicts_and_writes_nothing(
        tmp_path_factory: pytest.TempPathFactory, kind: str) -> None:
    """Batches 1–3 counted; then a new process (empty cache) reads batches 2–3 again, in
    other cuts: the same verdicts, not one window written, the stored windows unchanged;
    then batch 4 continues the window as the uninterrupted run does."""
    rng = random.Random(13)
    events = stream(rng, 48)
    _, memory = load(tmp_path_factory.mktemp("memory"), KINDS[kind])
    expected = [v.threat_class if (v := memory.classify(e)) else None for e in events]
    rules, bound = load(tmp_path_factory.mktemp("stored"), KINDS[kind])
    numbered = list(enumerate(events))
    store = Stored()
    first = [v for i in (0, 12, 24)
             for v in store.settle(rules, bound, numbered[i:i + 12], restart=False)]
    assert first == expected[:36]
    assert "critical" in expected[:36]
    before, writes = dict(store.docs), store.writes
    replayed = (store.settle(rules, bound, numbered[12:19], restart=True)
                + store.settle(rules, bound, numbered[19:36], restart=False))
    assert replayed == expected[12:36]
    assert store.writes == writes and store.docs == before
    assert store.settle(rules, bound, numbered[36:], restart=True) == expected[36:]


def test_a_group_counts_an_event_once_however_many_inputs_it_meets(tmp_path: Path) -> None:
    """An event matching both rules of a temporal correlation counts at both positions of
    its group once: a replay of it is recognised at each."""
    rules, bound = load(tmp_path, KINDS["temporal"])
    correlator = rules.correlator
    assert correlator is not None
    both = event(0, kind="a")
    item = bound.triage(both)
    assert isinstance(item, Deferred)
    correlator.window_of(correlator.correlations[0]).groups.clear()
    assert correlator.count_at(both, item.inputs, PARTITION, 7) == []
    assert len(correlator.take_touched()) == 1
    assert correlator.count_at(both, item.inputs, PARTITION, 7) == []
    assert correlator.take_touched() == []


VALUES = st.recursive(
    st.one_of(st.text(max_size=8), st.integers(-2**53, 2**53),
              st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
    lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6)
TIMES = st.floats(0, 4e9, allow_nan=False)


@given(data=st.one_of(
    st.tuples(st.just("event_count"), st.lists(TIMES, max_size=20).map(sorted)),
    st.tuples(st.just("value_count"), st.dictionaries(VALUES, TIMES, max_size=10)),
    st.tuples(st.just("temporal"), st.dictionaries(st.integers(0, 5), TIMES, max_size=6)),
    st.tuples(st.just("temporal_ordered"),
              st.lists(st.one_of(st.none(), TIMES), min_size=3, max_size=3))))
def test_every_type_survives_the_json_round_trip(data: tuple[str, Any]) -> None:
    """What each type keeps comes back equal (values as the correlator builds them: lists
    as tuples; times as the same doubles)."""
    kind, value = data
    back = decode_data(kind, orjson.loads(orjson.dumps(encode_data(kind, value))), 3)
    assert back == value
    if isinstance(value, dict):
        assert list(back) == list(value)


def test_the_document_round_trip_keeps_every_part(tmp_path: Path) -> None:
    """Applied offsets, firings, times and expiry as written; ``newest`` of a window that
    starts afresh stays unset."""
    rules, _ = load(tmp_path, KINDS["value_count"])
    assert rules.correlator is not None
    correlation = rules.correlator.correlations[0]
    group = StoredGroup({("a", 1): 10.5, 22: 11.25})
    group.latest = 11.25
    group.applied = AppliedSet().raise_floor("t/0", 40).add("t/1", 7, 9)
    group.fired = {"t/0": {39: 11.25}}
    key: Hashable = ("10.0.0.1",)
    doc = orjson.loads(orjson.dumps(encode(correlation, key, group, now=100.0)))
    assert doc["expires"] == (100 + 600) * 1000 and doc["newest"] is None
    back = decode(correlation, doc, (5, 1))
    assert back.data == group.data and back.applied == group.applied
    assert back.fired == group.fired and back.version == (5, 1)
    assert back.latest == 11.25 and back.newest == -math.inf
    with pytest.raises(ValueError, match="kind"):
        decode(correlation, {**doc, "kind": "temporal"})


def test_window_ids_differ_by_definition_and_key(tmp_path: Path) -> None:
    """Same definition and key → same id in every process; another key or definition →
    another id; 1 and "1" are different groups."""
    rules, _ = load(tmp_path, KINDS["event_count"])
    assert rules.correlator is not None
    correlation = rules.correlator.correlations[0]
    ids = {window_id(correlation, key) for key in [("1",), (1,), ("10.0.0.1",), ()]}
    assert len(ids) == 4
    assert window_id(correlation, ("x",)) == window_id(correlation, ("x",))
    other, _ = load(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path,
                    {**KINDS["event_count"], "condition": {"gte": 4}})
    assert other.correlator is not None
    assert window_id(other.correlator.correlations[0], ("x",)) != window_id(correlation, ("x",))
    assert CORR in correlation.definition


def test_firings_are_forgotten_only_once_committed_and_out_of_the_timespan() -> None:
    """A firing stays while a replay may ask for it: within the timespan of the group's
    newest time, or at or above the committed offset of its partition."""
    group = StoredGroup([])
    group.latest = 1000.0
    group.fired = {"t/0": {5: 100.0, 50: 100.0, 60: 990.0}, "t/1": {1: 100.0}}
    prune_fired(group, 600.0, {"t/0": 40})
    assert group.fired == {"t/0": {50: 100.0, 60: 990.0}, "t/1": {1: 100.0}}
    prune_fired(group, 600.0, {"t/0": 70, "t/1": 2})
    assert group.fired == {"t/0": {60: 990.0}}


def test_the_cache_keeps_max_groups_and_windows_that_started_afresh(tmp_path: Path) -> None:
    """After a batch the cache keeps at most ``max_groups`` groups per correlation rule,
    the least recently touched dropped first (their documents stay in the store); a group
    whose window fired and started afresh is not taken for stale."""
    base = tmp_path / "rules"
    base.mkdir()
    load(base, KINDS["event_count"])
    rules, problems = RuleSet.load([base], strict=False, max_groups=2)
    assert problems == [] and rules.correlator is not None
    bound = rules.bind({"product": "test"})
    correlator = rules.correlator
    window = correlator.window_of(correlator.correlations[0])
    for offset, ip in enumerate(["10.0.0.1"] * 3 + ["10.0.0.2", "10.0.0.3"]):
        doc = event(offset, ip=ip)
        item = bound.triage(doc)
        assert isinstance(item, Deferred)
        correlator.count_at(doc, item.inputs, PARTITION, offset)
    assert len(window.groups) == 3
    assert correlator.trim() == 1
    assert list(window.groups) == [("10.0.0.2",), ("10.0.0.3",)]
    correlator.take_touched()
    for offset in range(5, 8):  # 10.0.0.4: three events, it fires on the third
        doc = event(offset, ip="10.0.0.4")
        item = bound.triage(doc)
        assert isinstance(item, Deferred)
        correlator.count_at(doc, item.inputs, PARTITION, offset)
    assert correlator.trim() == 1
    fresh = window.groups[("10.0.0.4",)]
    assert isinstance(fresh, StoredGroup) and fresh.newest == -math.inf and fresh.data == []
