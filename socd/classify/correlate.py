"""Sigma correlation rules, evaluated as events arrive: the state behind severity upgrades.

A correlation rule (``correlation:`` in a rule file, parsed by pySigma, resolved by
:mod:`socd.classify.correlations`) names base rules and counts their matches per group of
``group-by`` field values within ``timespan``. :class:`Correlator` is fed, for each event, the
ids of the rules it matched (only events matching a rule that some correlation names reach
it); it answers with the correlations that *fire* on that event, and
:meth:`socd.classify.BoundRules.classify` turns the most severe one into the event's verdict
when it outranks the event's own. Correlations may name correlations (chains): a firing counts
as a match of the correlation's id.

Types and when they fire (the event that completes the condition is the one upgraded):

- ``event_count``: the group has at least N matching events (``gte: N``; ``gt: N`` is N+1)
  within ``timespan``.
- ``value_count``: the matching events of the group carry at least N distinct values of
  ``condition.field`` within ``timespan``.
- ``temporal``: at least N of the named rules (default: all) matched in the group within
  ``timespan``, in any order.
- ``temporal_ordered``: the named rules matched in the order listed, the first and the last
  within ``timespan``.

A correlation that fires starts its group afresh, so a burst of 1,000 events under ``gte: 20``
upgrades 50 events, not 981. Conditions that can only be decided when a window closes
(``lt``, ``lte``, ``eq``, ``neq``) are rejected when the rules load.

**Time** is the event's ``@timestamp`` (ISO 8601, or epoch seconds/milliseconds), the moment
the sensor saw it; an event without one counts at the moment socd reads it. Windows slide: a
group's window ends at the newest time seen in it. Order (``temporal_ordered``) is the order
in which socd reads the events. An event lacking a ``group-by`` field is not counted.

**Bounds.** Each correlation rule keeps at most ``max_groups`` groups (10,000 by default); the
least recently touched group is dropped first, and groups whose newest event is older than the
timespan (measured from the newest event the rule has seen) are dropped as new events arrive.
A group holds at most N timestamps (``event_count``), N values (``value_count``) or one time
per named rule (``temporal``, ``temporal_ordered``): memory is bounded by
``max_groups × N`` small entries per correlation rule.

**What survives.** In the daemon (``socd run``), everything: each group's window is a
document in Elasticsearch (``<prefix>-state``, :mod:`socd.state.windows`), counted with
:meth:`Correlator.count_at` by the same step functions, in fetch order, and written before
the batch's documents and its commit. A restart or a rebalance reads a window on its first
use; a replayed event (read again after a crash) is not counted again and gets the verdict
it got the first time; several processes in one consumer group count each group in its one
document (a write that lost a race is answered 409, and the group is read again and the
batch counted on top). This process then keeps only a cache of the windows (``max_groups``
per correlation rule). What is not guaranteed: when one group's events come from several
partitions, which of them completes a count depends on how the partitions interleave (the
counts are exact; the event chosen is the same when a group's events share a partition).

Offline (``socd classify``, ``socd rules test``, coverage, benchmarks: no Elasticsearch),
:meth:`Correlator.count` keeps the windows in memory only: a new process starts them empty.
A rule reload keeps the windows of the correlation rules whose definition did not change
(:meth:`Correlator.adopt`; in the daemon their documents are found again anyway: the
document id is derived from the definition and the group).
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from socd.classify.fields import MISSING, Getter
from socd.classify.model import RuleInfo
from socd.state.applied import AppliedSet

Kind = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
"""The correlation types socd evaluates."""

GroupKey = tuple[Hashable, ...]
"""The group-by values of an event, in the order the rule lists its group-by fields."""

Inputs = tuple[tuple["_Window", tuple[int, ...]], ...]
"""Where an event counts: per correlation window, the input positions its rules have there."""

MAX_GROUPS: Final = 10_000
"""Groups kept per correlation rule unless the correlator is given another bound."""

TIME_FIELD: Final = "@timestamp"
"""The field that says when an event happened."""


@dataclass(frozen=True, slots=True)
class Correlation:
    """One resolved correlation rule, ready to evaluate."""

    info: RuleInfo
    kind: Kind
    seconds: float
    """The timespan."""
    threshold: int
    """Matching events, distinct values or distinct rules that make it fire."""
    inputs: tuple[str, ...]
    """Ids of the rules (or correlations) it counts, in the order the rule lists them."""
    group_by: tuple[tuple[Getter, ...], ...]
    """Per input: the getters of the group-by fields (aliases applied)."""
    value: Getter | None
    """``value_count``: the field whose distinct values are counted."""
    definition: str
    """The rule's definition as written: state carries over a reload only when it is equal."""


class _Group:
    """The state of one group: its newest time and what the type keeps."""

    __slots__ = ("data", "newest")

    def __init__(self, data: Any) -> None:
        self.newest = float("-inf")
        self.data = data


class StoredGroup(_Group):
    """A group whose window is kept in a store (:mod:`socd.state.windows`): besides what the
    type keeps, the offsets already counted in it and the offsets on which it fired.

    ``applied``: the durable applied-offset set (:class:`~socd.state.applied.AppliedSet`).
    ``counted``: per ``"topic/partition"``, offsets counted since the last durable write.
    ``fired``: per partition, offset → time of the events on which the correlation fired
    (pruned when the window is written once out of the timespan and committed).
    ``latest``: the newest time ever seen (``newest`` starts afresh after a firing).
    ``version``: ``(seq_no, primary_term)`` of the stored document; None when not yet stored.
    """

    __slots__ = ("applied", "counted", "fired", "latest", "version")

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.applied = _NOTHING_APPLIED
        self.counted: dict[str, set[int]] = {}
        self.fired: dict[str, dict[int, float]] = {}
        self.latest = float("-inf")
        self.version: tuple[int, int] | None = None

    def replayed(self, partition: str, offset: int) -> bool:
        """Whether the event at ``offset`` was counted here already (durably, or earlier in
        this batch)."""
        if self.applied.contains(partition, offset):
            return True
        counted = self.counted.get(partition)
        return counted is not None and offset in counted

    def fired_at(self, partition: str, offset: int) -> bool:
        """Whether the correlation fired on the event at ``offset`` (its recorded verdict)."""
        fired = self.fired.get(partition)
        return fired is not None and offset in fired


_NOTHING_APPLIED = AppliedSet()


def empty_data(kind: Kind, inputs: int) -> Any:
    """What a group of a correlation of ``kind`` with ``inputs`` rules keeps when it starts."""
    if kind == "event_count":
        return []
    if kind == "temporal_ordered":
        return [None] * inputs
    return {}


class _Window:
    """The groups of one correlation rule, least recently touched first."""

    __slots__ = ("correlation", "groups", "keys", "max_groups", "newest", "step")

    def __init__(self, correlation: Correlation, max_groups: int) -> None:
        self.correlation = correlation
        self.groups: OrderedDict[Hashable, _Group] = OrderedDict()
        self.max_groups = max_groups
        self.newest = float("-inf")
        self.keys = tuple(_group_key(getters) for getters in correlation.group_by)
        """Per input position: the event's group (None when it lacks a group-by field)."""
        self.step = _STEP[correlation.kind]

    def add(self, key: Hashable, when: float, position: int, value: Any) -> bool:
        """Count one event of input ``position`` in group ``key``; True when the rule fires."""
        correlation = self.correlation
        groups = self.groups
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group([] if correlation.kind == "event_count" else (
                [None] * len(correlation.inputs) if correlation.kind == "temporal_ordered"
                else {}))
        else:
            groups.move_to_end(key)
        if when > self.newest:
            self.newest = when
        if when > group.newest:
            group.newest = when
        fired = self.step(group, when, correlation, position, value)
        if fired:
            del groups[key]
        self._evict()
        return fired

    def stored(self, key: Hashable) -> StoredGroup:
        """The stored group ``key`` (loaded by the store; a fresh one when it is not there)."""
        groups = self.groups
        group = groups.get(key)
        if group is None:
            correlation = self.correlation
            group = groups[key] = StoredGroup(
                empty_data(correlation.kind, len(correlation.inputs)))
        else:
            groups.move_to_end(key)
        return group  # type: ignore[return-value]

    def step_stored(self, group: StoredGroup, when: float, position: int, value: Any) -> bool:
        """:meth:`add` for a stored group: counted by the same step function; on firing the
        group starts afresh but stays (with its applied and fired offsets); nothing evicted
        (the store trims the cache after the batch is written)."""
        if when > self.newest:
            self.newest = when
        if when > group.newest:
            group.newest = when
        if when > group.latest:
            group.latest = when
        correlation = self.correlation
        fired = self.step(group, when, correlation, position, value)
        if fired:
            group.data = empty_data(correlation.kind, len(correlation.inputs))
            group.newest = float("-inf")
        return fired

    def trim(self) -> int:
        """Drop groups past ``max_groups`` (least recently touched first) and those older
        than the timespan; how many were dropped."""
        groups = self.groups
        before = len(groups)
        while len(groups) > self.max_groups:
            groups.popitem(last=False)
        cutoff = self.newest - self.correlation.seconds
        while groups:
            oldest = next(iter(groups.values()))
            if isinstance(oldest, StoredGroup) and oldest.latest >= cutoff:
                break  # its window started afresh after a firing: still in use
            if oldest.newest >= cutoff:
                break
            groups.popitem(last=False)
        return before - len(groups)

    def _evict(self) -> None:
        groups = self.groups
        if len(groups) > self.max_groups:
            while len(groups) > self.max_groups:
                groups.popitem(last=False)
        cutoff = self.newest - self.correlation.seconds
        while groups:
            oldest = next(iter(groups.values()))
            if oldest.newest >= cutoff:
                break
            groups.popitem(last=False)


def _count_step(group: _Group, when: float, c: Correlation, _: int, __: Any) -> bool:
    times: list[float] = group.data
    insort(times, when)
    start = bisect_left(times, group.newest - c.seconds)
    surplus = max(start, len(times) - c.threshold)
    if surplus:
        del times[:surplus]
    return len(times) >= c.threshold


def _distinct_step(group: _Group, when: float, c: Correlation, position: int, value: Any) -> bool:
    seen: dict[Any, float] = group.data
    key = position if c.kind == "temporal" else value
    if seen.get(key, float("-inf")) < when:
        seen[key] = when
    cutoff = group.newest - c.seconds
    for stale in [k for k, t in seen.items() if t < cutoff]:
        del seen[stale]
    return len(seen) >= c.threshold


def _ordered_step(group: _Group, when: float, c: Correlation, position: int, _: Any) -> bool:
    starts: list[float | None] = group.data  # starts[k]: start of the newest chain through k
    if position == 0:
        starts[0] = when
        return len(starts) == 1
    before = starts[position - 1]
    if before is None or when - before > c.seconds or when < before:
        return False
    current = starts[position]
    if current is None or before > current:
        starts[position] = before
    return position == len(starts) - 1


_ONCE = frozenset(("event_count", "value_count"))
"""Types that count an event once, however many of their rules it matched."""

_STEP = {
    "event_count": _count_step,
    "value_count": _distinct_step,
    "temporal": _distinct_step,
    "temporal_ordered": _ordered_step,
}


def event_time(event: Mapping[str, Any], field: str = TIME_FIELD) -> float:
    """When the event happened, in epoch seconds (now when it does not say)."""
    value = event.get(field)
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return time.time()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if type(value) is int or type(value) is float:
        return value / 1000 if abs(value) > 100_000_000_000 else float(value)
    return time.time()


def _group_key(getters: Sequence[Getter]) -> Callable[[Mapping[str, Any]], GroupKey | None]:
    """The function giving an event's group: its group-by values (None: one is missing)."""
    if len(getters) == 1:
        (get,) = getters

        def one_key(event: Mapping[str, Any]) -> GroupKey | None:
            value = get(event)
            if type(value) is str:
                return (value,)
            part = _key_part(value)
            return None if part is None else (part,)

        return one_key

    def key(event: Mapping[str, Any]) -> GroupKey | None:
        parts = tuple(_key_part(get(event)) for get in getters)
        return None if None in parts else parts

    return key


def _key_part(value: Any) -> Hashable | None:
    if value is MISSING or value is None:
        return None
    if type(value) is list:
        parts = tuple(_key_part(item) for item in value)
        return None if None in parts else parts
    if isinstance(value, Mapping):
        return None
    return value  # type: ignore[no-any-return]


class Correlator:
    """The correlation rules of a rule set and their in-memory state (see the module doc).

    Not thread-safe: one daemon event loop feeds it.
    """

    __slots__ = ("_by_input", "_reach", "_stamp", "_touched", "_window_of", "_windows",
                 "correlations", "feeds", "max_groups")

    def __init__(
        self, correlations: Sequence[Correlation], *, max_groups: int = MAX_GROUPS
    ) -> None:
        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.correlations = tuple(correlations)
        self.max_groups = max_groups
        self._windows = [_Window(c, max_groups) for c in self.correlations]
        self._window_of = {id(w.correlation): w for w in self._windows}
        self._by_input: dict[str, list[tuple[_Window, int]]] = {}
        for window in self._windows:
            for position, rule_id in enumerate(window.correlation.inputs):
                self._by_input.setdefault(rule_id, []).append((window, position))
        self.feeds: frozenset[str] = frozenset(self._by_input)
        """Ids of the rules whose matches the correlations count."""
        self._stamp: tuple[str | None, float] = (None, 0.0)
        self._reach: dict[Inputs, Inputs] = {}
        self._touched: dict[int, tuple[_Window, Hashable, StoredGroup]] = {}

    def observe(self, event: Mapping[str, Any], rule_ids: Iterable[str]) -> list[Correlation]:
        """Count one event that matched ``rule_ids``; the correlations that fire on it."""
        return self.count(event, self.inputs_of(rule_ids))

    def inputs_of(self, rule_ids: Iterable[str]) -> Inputs:
        """Where an event matching ``rule_ids`` (most severe first) counts, for :meth:`count`.

        An event counts once per window for the counting types, once per rule (latest
        position first: a chain advances one step per event) for the temporal ones.
        """
        by_input = self._by_input
        positions: dict[int, tuple[_Window, list[int]]] = {}
        for rule_id in rule_ids:
            for window, position in by_input.get(rule_id, ()):
                entry = positions.get(id(window))
                if entry is None:
                    positions[id(window)] = (window, [position])
                else:
                    entry[1].append(position)
        out = []
        for window, found in positions.values():
            if window.correlation.kind in _ONCE:
                found = found[:1]
            else:
                found.sort(reverse=True)
            out.append((window, tuple(found)))
        return tuple(out)

    def count(self, event: Mapping[str, Any], inputs: Inputs) -> list[Correlation]:
        """Count one event where :meth:`inputs_of` says; the correlations that fire on it."""
        fired: list[Correlation] = []
        when: float | None = None
        while inputs:
            pending: list[str] = []
            for window, found in inputs:
                correlation = window.correlation
                if fired and correlation in fired:
                    continue
                for position in found:
                    key = window.keys[position](event)
                    if key is None:
                        continue
                    value: Any = None
                    if correlation.value is not None:
                        value = _key_part(correlation.value(event))
                        if value is None:
                            continue
                    if when is None:
                        when = self._time(event)
                    if window.add(key, when, position, value):
                        fired.append(correlation)
                        pending.append(correlation.info.id)
                        break
            inputs = self.inputs_of(pending) if pending else ()
        return fired

    def count_at(self, event: Mapping[str, Any], inputs: Inputs, partition: str,
                 offset: int) -> list[Correlation]:
        """:meth:`count` against stored windows (:mod:`socd.state.windows` loads the groups
        first): the event at ``offset`` of ``partition`` (``"topic/partition"``).

        In a group that has counted that offset already (a replay, or a batch counted again
        after a conflict) the event is not counted again: the correlation fires exactly when
        it fired the first time (its recorded verdict). Otherwise it is counted by the same
        step functions as :meth:`count`, the offset noted in ``counted`` (and in ``fired``
        when it fires), and the group is listed for :meth:`take_touched`.
        """
        fired: list[Correlation] = []
        when: float | None = None
        touched = self._touched
        while inputs:
            pending: list[str] = []
            for window, found in inputs:
                correlation = window.correlation
                if fired and correlation in fired:
                    continue
                met: dict[Hashable, bool] = {}  # group → whether this event is a replay there
                for position in found:
                    key = window.keys[position](event)
                    if key is None:
                        continue
                    value: Any = None
                    if correlation.value is not None:
                        value = _key_part(correlation.value(event))
                        if value is None:
                            continue
                    group = window.stored(key)
                    replay = met.get(key)
                    if replay is None:
                        replay = met[key] = group.replayed(partition, offset)
                        if not replay:
                            group.counted.setdefault(partition, set()).add(offset)
                            touched[id(group)] = (window, key, group)
                    if replay:
                        if group.fired_at(partition, offset):
                            fired.append(correlation)
                            pending.append(correlation.info.id)
                            break
                        continue
                    if when is None:
                        when = self._time(event)
                    if window.step_stored(group, when, position, value):
                        group.fired.setdefault(partition, {})[offset] = when
                        fired.append(correlation)
                        pending.append(correlation.info.id)
                        break
            inputs = self.inputs_of(pending) if pending else ()
        return fired

    def reach(self, inputs: Inputs) -> Inputs:
        """Every window an event counting at ``inputs`` may reach, through chains of
        correlations as if each fired (what a store loads before counting)."""
        found = self._reach.get(inputs)
        if found is not None:
            return found
        out: dict[int, tuple[_Window, set[int]]] = {}
        todo = list(inputs)
        while todo:
            window, positions = todo.pop()
            entry = out.get(id(window))
            if entry is None:
                out[id(window)] = (window, set(positions))
                todo.extend(self.inputs_of([window.correlation.info.id]))
            else:
                entry[1].update(positions)
        found = tuple((window, tuple(sorted(positions))) for window, positions in out.values())
        if len(self._reach) >= 4096:
            self._reach.clear()
        self._reach[inputs] = found
        return found

    def take_touched(self) -> list[tuple[Correlation, Hashable, StoredGroup]]:
        """The stored groups :meth:`count_at` counted events in since the last call, with
        their correlation and key; the list starts empty again."""
        touched = [(window.correlation, key, group)
                   for window, key, group in self._touched.values()]
        self._touched.clear()
        return touched

    def window_of(self, correlation: Correlation) -> _Window:
        """The window (groups) of one of this correlator's correlations (KeyError for
        another's)."""
        return self._window_of[id(correlation)]

    def trim(self) -> int:
        """Bound every window (``max_groups``, timespan): how many groups were dropped."""
        return sum(window.trim() for window in self._windows)

    def _time(self, event: Mapping[str, Any]) -> float:
        """:func:`event_time`; the last timestamp text parsed is remembered (events come in
        bursts that share a second)."""
        stamp = event.get(TIME_FIELD)
        if type(stamp) is str and stamp == self._stamp[0]:
            return self._stamp[1]
        when = event_time(event)
        if type(stamp) is str:
            self._stamp = (stamp, when)
        return when

    def groups(self) -> int:
        """Groups held now, over every correlation rule."""
        return sum(len(window.groups) for window in self._windows)

    def adopt(self, previous: Correlator) -> int:
        """Take over the state of ``previous`` for correlation rules defined identically.

        Returns how many correlation rules kept their state.
        """
        old = {w.correlation.definition: w for w in previous._windows}
        kept = 0
        for window in self._windows:
            before = old.get(window.correlation.definition)
            if before is None:
                continue
            window.groups = before.groups
            window.newest = before.newest
            while len(window.groups) > window.max_groups:
                window.groups.popitem(last=False)
            kept += 1
        return kept
