"""The applied-offset set against a plain set of offsets, and updates against the oracle of
random delivery schedules (tests/unit/state/schedules.py)."""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.state.applied import (
    SCRIPT_SOURCE,
    AppliedSet,
    Update,
    apply_update,
    partition_key,
)
from tests.unit.state.schedules import build_schedule

PARTS = ("a/0", "a/1", "b.c/7")

ops = st.lists(st.tuples(
    st.sampled_from(("add", "floor")), st.sampled_from(PARTS),
    st.integers(0, 80), st.integers(0, 20)), max_size=25)


def build(operations: list[tuple[str, str, int, int]]) -> tuple[AppliedSet, dict[str, set[int]]]:
    """Apply ``operations`` to an AppliedSet and to the oracle (a set of offsets each)."""
    value, oracle = AppliedSet(), {p: set[int]() for p in PARTS}
    for op, p, start, length in operations:
        if op == "add":
            value = value.add(p, start, start + length)
            oracle[p] |= set(range(start, start + length))
        else:
            value = value.raise_floor(p, start)
            oracle[p] |= set(range(start))
    return value, oracle


def assert_canonical(value: AppliedSet) -> None:
    for p in value.partitions():
        floor, ranges = value.floor(p), value.ranges(p)
        assert floor > 0 or ranges
        at = floor
        for start, end in ranges:
            assert at < start < end  # above the floor, disjoint, not adjacent
            at = end


@given(ops)
def test_set_equals_the_plain_set_of_offsets(operations: list[tuple[str, str, int, int]]) -> None:
    """After any adds and floor raises, the offsets held, contains and the canonical form agree
    with a plain set of offsets."""
    value, oracle = build(operations)
    assert_canonical(value)
    for p in PARTS:
        assert set(value.offsets(p)) == oracle[p]
        for offset in range(0, 110):
            assert value.contains(p, offset) == (offset in oracle[p])


@given(ops, st.sampled_from(PARTS), st.integers(0, 100), st.integers(0, 30))
def test_new_part_and_covers(operations: list[tuple[str, str, int, int]], p: str,
                             start: int, length: int) -> None:
    """new_part gives exactly the offsets of the range not applied, as sorted disjoint ranges;
    covers is true exactly when there are none; adding the range adds exactly those."""
    value, oracle = build(operations)
    end = start + length
    parts = value.new_part(p, start, end)
    flat = [o for s, e in parts for o in range(s, e)]
    assert flat == sorted(set(range(start, end)) - oracle[p])
    assert all(s < e for s, e in parts)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(parts))
    assert value.covers(p, start, end) == (not flat)
    assert set(value.add(p, start, end).offsets(p)) - set(value.offsets(p)) == set(flat)


@given(ops, ops, ops)
def test_merge_is_a_union_commutative_associative_idempotent(
        x: list[tuple[str, str, int, int]], y: list[tuple[str, str, int, int]],
        z: list[tuple[str, str, int, int]]) -> None:
    """The merge holds the union of offsets, and the laws that make any order, duplication
    and grouping of updates give one result."""
    (a, oa), (b, ob), (c, _) = build(x), build(y), build(z)
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a
    assert a | AppliedSet() == a
    for p in PARTS:
        assert set(a.merge(b).offsets(p)) == oa[p] | ob[p]


@given(ops)
def test_json_round_trip(operations: list[tuple[str, str, int, int]]) -> None:
    """The JSON form goes through json and comes back equal."""
    value, _ = build(operations)
    assert AppliedSet.from_json(json.loads(json.dumps(value.to_json()))) == value
    assert value.longs() == sum(1 + 2 * len(e["ranges"]) for e in value.to_json().values())


@given(st.dictionaries(st.sampled_from(PARTS), st.tuples(
    st.integers(0, 50), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 20))))))
def test_from_json_compacts(raw: dict[str, tuple[int, list[tuple[int, int]]]]) -> None:
    """Ranges given overlapping, touching, empty or under the floor are read as the set they
    say, compacted: ranges under the floor dropped, the rest merged."""
    value = AppliedSet.from_json({p: {"floor": f, "ranges": [[s, s + n] for s, n in rs]}
                                  for p, (f, rs) in raw.items()})
    assert_canonical(value)
    for p, (floor, ranges) in raw.items():
        assert set(value.offsets(p)) == set(range(floor)).union(
            *(range(s, s + n) for s, n in ranges))


def test_compaction_folds_ranges_into_the_floor() -> None:
    """Ranges left by batches that overtook others fold into the floor when it passes them:
    the size goes back to one long per partition."""
    value = AppliedSet().add("t/0", 250, 500).add("t/0", 750, 1000).add("t/0", 0, 100)
    assert value.to_json() == {"t/0": {"floor": 100, "ranges": [[250, 500], [750, 1000]]}}
    assert value.longs() == 5
    value = value.raise_floor("t/0", 750)
    assert value.to_json() == {"t/0": {"floor": 1000, "ranges": []}}
    assert value.longs() == 1
    assert value.raise_floor("t/0", 10) == value  # a floor never goes down


@pytest.mark.parametrize("bad", [
    [], {"t/0": {"floor": -1, "ranges": []}}, {"t/0": {"floor": 0}},
    {"t/0": {"floor": 0, "ranges": [[5, 2]]}}, {"t/0": {"floor": 0, "ranges": [[1]]}},
    {"t/0": {"floor": 1.5, "ranges": []}}, {"": {"floor": 1, "ranges": []}},
    {"t/0": {"floor": 0, "ranges": [[0, 2**53 + 1]]}},
])
def test_from_json_refuses_wrong_shapes(bad: object) -> None:
    """A wrong shape or offset is refused with ValueError, not read as some other set."""
    with pytest.raises(ValueError, match="applied offsets"):
        AppliedSet.from_json(bad)


def test_bad_ranges_and_keys_are_refused() -> None:
    """Negative or reversed ranges and impossible partition names raise ValueError."""
    for start, end in [(-1, 3), (4, 3), (0, 2**53 + 1)]:
        with pytest.raises(ValueError, match="range"):
            AppliedSet().add("t/0", start, end)
    assert partition_key("sensors.x", 3) == "sensors.x/3"
    for topic, partition in [("", 0), ("a/b", 0), ("t", -1)]:
        with pytest.raises(ValueError, match="topic"):
            partition_key(topic, partition)
    with pytest.raises(ValueError, match="outside"):
        Update(AppliedSet().add("t/0", 0, 10), {"t/0": (10,)})


def test_the_doc_example_watermark_schedule() -> None:
    """docs/state.md: a partition's later batch lands before its earlier one (max_in_flight 2);
    a watermark loses the earlier batch's events, the applied set counts all of them."""
    stored, total = AppliedSet(), 0
    order = [(250, 500), (0, 250), (750, 1000), (500, 750)]
    for start, end in order:
        update = Update(AppliedSet().add("t/0", start, end), {"t/0": tuple(range(start, end))})
        stored, added = apply_update(stored, update)
        total += added
    assert total == 1000
    assert stored.to_json() == {"t/0": {"floor": 1000, "ranges": []}}
    # the same batches again, split differently (a re-read after a crash): nothing new
    for start in range(0, 1000, 400):
        end = min(1000, start + 400)
        update = Update(AppliedSet().add("t/0", start, end), {"t/0": tuple(range(start, end))})
        assert apply_update(stored, update) == (stored, 0)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_random_schedules_count_exactly(rng: random.Random) -> None:
    """Reordered, duplicated, differently split, overlapping and zombie updates: after every
    step the count equals the events among the delivered offsets, every delivered event's
    offset is in the stored set, the stored set holds only delivered offsets, and a replay of
    any update already applied changes nothing."""
    schedule = build_schedule(rng)
    stored, count = AppliedSet(), 0
    applied: list[Update] = []
    for step in schedule.steps:
        if step.update is not None:
            stored, added = apply_update(stored, step.update)
            count += added
            applied.append(step.update)
        assert count == step.count
        for p, delivered in step.delivered.items():
            assert set(stored.offsets(p)) <= delivered
            assert {o for o in schedule.events[p] if o in delivered} <= stored.offsets(p)
    for update in applied:
        assert apply_update(stored, update) == (stored, 0)


def test_params_shape_and_script_avoids_what_noida_db_refuses() -> None:
    """The script's params are the JSON form and the events per partition; the script uses
    none of the constructs docs/state.md found refused by noida-db (String.compareTo, Elvis,
    entrySet, map literals with entries) and writes the counter through its full path."""
    update = Update(AppliedSet().raise_floor("t/0", 5).add("t/0", 10, 20), {"t/0": (11, 11)})
    assert update.params() == {"applied": {"t/0": {"floor": 5, "ranges": [[10, 20]]}},
                               "events": {"t/0": [11, 11]}}
    code = "\n".join(line.split("//")[0] for line in SCRIPT_SOURCE.splitlines())
    assert "compareTo" not in code and "?:" not in code and "entrySet" not in code
    assert not re.search(r"\[\s*'[^']*'\s*:", code)  # a map literal with entries
    assert "ctx._source.socd.suppression.docs_count += added" in SCRIPT_SOURCE


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 16), st.randoms(use_true_random=False))
def test_ranges_above_the_floor_stay_within_half_the_batches_uncommitted(
        window: int, rng: random.Random) -> None:
    """The size bound of the module docstring: one process fetches batches in order, at most
    ``window`` fetched and not committed, each sent with the committed offset as its floor
    (or not sent when it holds no event of the document), landing in any order; commits
    follow fetch order. The document never holds more than ⌊window / 2⌋ ranges above its
    floor (a range needs a batch not landed below it), and none once everything landed."""
    stored, fetched_to, committed = AppliedSet(), 0, 0
    uncommitted: list[list[int]] = []  # [start, end, landed]
    pending: list[tuple[list[int], Update | None]] = []
    for _ in range(150):
        if len(uncommitted) < window and (not pending or rng.random() < 0.5):
            batch = [fetched_to, fetched_to + rng.randint(1, 5), 0]
            fetched_to = batch[1]
            uncommitted.append(batch)
            update = Update(AppliedSet().raise_floor("t/0", committed).add(
                "t/0", batch[0], batch[1]), {"t/0": (batch[0],)}) \
                if rng.random() < 0.6 else None
            pending.append((batch, update))
        else:
            batch, update = pending.pop(rng.randrange(len(pending)))
            if update is not None:
                stored, _ = apply_update(stored, update)
            batch[2] = 1
            while uncommitted and uncommitted[0][2]:
                committed = uncommitted.pop(0)[1]
            assert len(stored.ranges("t/0")) <= window // 2
    while pending:
        batch, update = pending.pop()
        if update is not None:
            stored, _ = apply_update(stored, update)
    last = AppliedSet().raise_floor("t/0", fetched_to).add("t/0", fetched_to, fetched_to + 1)
    stored, added = apply_update(stored, Update(last, {"t/0": (fetched_to,)}))
    assert added == 1 and stored.to_json() == {"t/0": {"floor": fetched_to + 1, "ranges": []}}
