"""Which Kafka offsets have already been applied to a piece of state (docs/state.md, step 1).

A state document (a suppressed alert, a correlation window) must count each event once,
whatever was read twice, whichever process sent it and in whatever order the writes land.
It keeps, per partition, the offsets already applied:

- a **floor**: every offset below it is applied. It comes from the committed offset (the
  offset a process started the partition from or last committed: every event below it is
  durable in every state document it belongs to);
- sorted, disjoint, non-adjacent **ranges** ``[start, end)`` above the floor: the fetched
  ranges of batches applied while earlier ones were still in flight.

The set of a partition is ``[0, floor) ∪ ranges``. Every value here is kept in canonical form
(ranges merged and sorted, a range that reaches the floor folded into it, a partition with
floor 0 and no range left out), so two sets are equal exactly when they hold the same offsets.
The union (:meth:`AppliedSet.merge`) is commutative, associative and idempotent: that is what
makes out-of-order, duplicated and concurrent updates exact.

**Size.** Per partition ``1 + 2 × r`` longs, ``r`` the ranges left above the floor
(:meth:`AppliedSet.longs`). A range stays above the floor only while a batch below it has
not landed, and ranges alternate with such gaps: when every update carries the sender's
committed offset as its floor, ``r ≤ ⌊u / 2⌋`` for ``u`` the batches one process has
fetched and not yet committed (of the order of ``elasticsearch.max_in_flight``), and
``r = 0`` once an update with a floor past them lands — one long, about 15 bytes of JSON,
per partition. A rebalance adds the old owner's in-flight batches for as long as they are
late. Nothing is dropped to keep the bound: dropping a range would count its events again.

**The Painless twin.** :data:`SCRIPT_SOURCE` (the file ``applied.painless`` beside this module)
does what :func:`apply_update` does, inside Elasticsearch, on ``socd.suppression.applied`` and
``socd.suppression.docs_count``; the two are checked against each other on the real server by
``tests/integration/test_state_painless.py``.

Offsets are non-negative integers below 2⁵³ (the longs Painless and JSON numbers carry
exactly); partitions are named ``"topic/partition"`` (:func:`partition_key`), which is
unambiguous because a Kafka topic name has no ``/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, TypedDict

__all__ = [
    "APPLIED_FIELD",
    "COUNT_FIELD",
    "MAX_OFFSET",
    "MERGE_SOURCE",
    "SCRIPT_SOURCE",
    "AppliedSet",
    "PartitionJson",
    "Range",
    "Update",
    "apply_update",
    "partition_key",
]

Range = tuple[int, int]
"""``(start, end)``: the offsets ``start ≤ o < end`` of one partition."""

MAX_OFFSET = 2**53
"""Offsets and range ends stay below this: JSON numbers and Painless longs hold them exactly."""

APPLIED_FIELD = "socd.suppression.applied"
"""Where the script keeps the applied set in a document (mapped ``enabled: false``)."""

COUNT_FIELD = "socd.suppression.docs_count"
"""The counter the script adds an update's new events to."""

MERGE_SOURCE: str = resources.files(__package__).joinpath("applied.painless").read_text("utf-8")
"""The first part of every script that applies an update (``applied.painless``): it sets
``added`` (the update's events not applied before) and ``merged`` (the applied set after the
update, per partition) and writes nothing. A script that follows it writes the outcome."""

SCRIPT_SOURCE: str = MERGE_SOURCE + resources.files(__package__).joinpath(
    "applied-write.painless").read_text("utf-8")
"""The Painless source of the twin of :func:`apply_update`: :data:`MERGE_SOURCE`, then
``applied-write.painless`` (``noop`` when nothing is new, else the set and count written)."""


class PartitionJson(TypedDict):
    """One partition in the JSON form: ``{"floor": F, "ranges": [[start, end], ...]}``."""

    floor: int
    ranges: list[list[int]]


_Part = tuple[int, tuple[Range, ...]]
_EMPTY: _Part = (0, ())


def partition_key(topic: str, partition: int) -> str:
    """``"topic/partition"``, the key of a partition in an :class:`AppliedSet`.

    Raises ValueError for an empty topic, a topic with ``/`` or a negative partition.
    """
    if not topic or "/" in topic or partition < 0:
        raise ValueError(f"not a Kafka topic and partition: {topic!r}, {partition!r}")
    return f"{topic}/{partition}"


def _check_range(start: int, end: int) -> None:
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) \
            or isinstance(end, bool):
        raise ValueError(f"offsets must be integers: [{start!r}, {end!r})")
    if not 0 <= start <= end <= MAX_OFFSET:
        raise ValueError(f"not a range of offsets: [{start}, {end}) "
                         f"(need 0 ≤ start ≤ end ≤ 2**53)")


def _normalize(floor: int, ranges: Iterable[Range]) -> _Part:
    """Canonical form: ranges sorted and merged, those that reach the floor folded into it."""
    out: list[Range] = []
    for start, end in sorted(ranges):
        if start >= end:
            continue
        if not out:
            if start <= floor:
                floor = max(floor, end)
            else:
                out.append((start, end))
        elif start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return floor, tuple(out)


def _part_contains(part: _Part, offset: int) -> bool:
    floor, ranges = part
    if offset < floor:
        return True
    for start, end in ranges:
        if offset < start:
            return False
        if offset < end:
            return True
    return False


@dataclass(frozen=True)
class AppliedSet:
    """Applied offsets per partition; immutable: every operation returns a new value.

    Build one with :meth:`add`, :meth:`raise_floor`, :meth:`merge` or :meth:`from_json`.
    Methods that take a range raise ValueError unless ``0 ≤ start ≤ end ≤ 2**53``.
    """

    _parts: Mapping[str, _Part] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def _of(cls, parts: dict[str, _Part]) -> AppliedSet:
        return cls(MappingProxyType({k: v for k, v in parts.items() if v != _EMPTY}))

    def _with(self, partition: str, part: _Part) -> AppliedSet:
        return AppliedSet._of({**self._parts, partition: part})

    def partitions(self) -> list[str]:
        """The partitions with at least one applied offset, sorted."""
        return sorted(self._parts)

    def floor(self, partition: str) -> int:
        """Every offset of ``partition`` below this is applied (0 for an unknown partition)."""
        return self._parts.get(partition, _EMPTY)[0]

    def ranges(self, partition: str) -> tuple[Range, ...]:
        """The applied ranges above the floor: sorted, disjoint, not adjacent."""
        return self._parts.get(partition, _EMPTY)[1]

    def add(self, partition: str, start: int, end: int) -> AppliedSet:
        """The set with ``[start, end)`` of ``partition`` applied (a fetched range)."""
        _check_range(start, end)
        floor, ranges = self._parts.get(partition, _EMPTY)
        return self._with(partition, _normalize(floor, (*ranges, (start, end))))

    def raise_floor(self, partition: str, committed: int) -> AppliedSet:
        """The set with every offset of ``partition`` below ``committed`` applied.

        A floor never goes down: a lower ``committed`` (a zombie's, or a reset) changes nothing.
        """
        _check_range(0, committed)
        floor, ranges = self._parts.get(partition, _EMPTY)
        return self._with(partition, _normalize(max(floor, committed), ranges))

    def contains(self, partition: str, offset: int) -> bool:
        """Whether ``offset`` of ``partition`` is applied."""
        return _part_contains(self._parts.get(partition, _EMPTY), offset)

    def covers(self, partition: str, start: int, end: int) -> bool:
        """Whether every offset of ``[start, end)`` is applied (true for an empty range)."""
        return not self.new_part(partition, start, end)

    def new_part(self, partition: str, start: int, end: int) -> list[Range]:
        """The sub-ranges of ``[start, end)`` not applied yet, sorted: what a replayed or
        overlapping batch of that range would add."""
        _check_range(start, end)
        floor, ranges = self._parts.get(partition, _EMPTY)
        out: list[Range] = []
        at = max(start, floor)
        for r_start, r_end in ranges:
            if at >= end:
                break
            if r_end <= at:
                continue
            if r_start > at:
                out.append((at, min(r_start, end)))
            at = max(at, r_end)
        if at < end:
            out.append((at, end))
        return out

    def merge(self, other: AppliedSet) -> AppliedSet:
        """The union: commutative, associative and idempotent."""
        parts = dict(self._parts)
        for partition, (floor, ranges) in other._parts.items():
            mine_floor, mine = parts.get(partition, _EMPTY)
            parts[partition] = _normalize(max(floor, mine_floor), (*mine, *ranges))
        return AppliedSet._of(parts)

    __or__ = merge

    def offsets(self, partition: str) -> frozenset[int]:
        """Every applied offset of ``partition``, enumerated (for tests and small sets)."""
        floor, ranges = self._parts.get(partition, _EMPTY)
        return frozenset(range(floor)).union(*(range(s, e) for s, e in ranges))

    def longs(self) -> int:
        """The size of the value: the longs its JSON form holds (``1 + 2 × ranges`` each)."""
        return sum(1 + 2 * len(ranges) for _, ranges in self._parts.values())

    def to_json(self) -> dict[str, PartitionJson]:
        """``{"topic/partition": {"floor": F, "ranges": [[start, end], ...]}}``, canonical."""
        return {p: {"floor": floor, "ranges": [[s, e] for s, e in ranges]}
                for p, (floor, ranges) in sorted(self._parts.items())}

    @classmethod
    def from_json(cls, value: Any) -> AppliedSet:
        """Read the JSON form; ranges may overlap, touch or lie under the floor: the value is
        compacted (merged, folded into the floor, empty partitions dropped).

        Raises ValueError naming the partition when the shape or an offset is wrong.
        """
        if not isinstance(value, Mapping):
            raise ValueError(f"applied offsets must be an object, not {type(value).__name__}")
        parts: dict[str, _Part] = {}
        for partition, entry in value.items():
            try:
                if not isinstance(partition, str) or not partition:
                    raise ValueError("a partition key must be a non-empty string")
                if not isinstance(entry, Mapping) or set(entry) != {"floor", "ranges"}:
                    raise ValueError('need exactly {"floor": F, "ranges": [[s, e], ...]}')
                floor = entry["floor"]
                _check_range(0, floor)
                ranges: list[Range] = []
                for pair in entry["ranges"]:
                    if not isinstance(pair, list | tuple) or len(pair) != 2:
                        raise ValueError(f"a range is [start, end], not {pair!r}")
                    _check_range(pair[0], pair[1])
                    ranges.append((pair[0], pair[1]))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"applied offsets of {partition!r}: {exc}") from None
            parts[partition] = _normalize(floor, ranges)
        return cls._of(parts)


@dataclass(frozen=True)
class Update:
    """What one write to a state document carries (one item per document and batch).

    ``applied``: the update's own set — per partition the sender's floor (its committed
    offset) and the batch's fetched range. ``events``: per partition the offsets of the
    events this document counts, one entry per event (an offset repeats when a record gave
    several events). Every event must lie in ``applied`` of its partition: an event outside
    it would be counted without being marked, so a replay would count it again.

    Raises ValueError when an event lies outside ``applied``.
    """

    applied: AppliedSet
    events: Mapping[str, tuple[int, ...]]

    def __post_init__(self) -> None:
        for partition, offsets in self.events.items():
            for offset in offsets:
                if not self.applied.contains(partition, offset):
                    raise ValueError(f"event at {partition} offset {offset} lies outside "
                                     f"the update's applied offsets")

    def params(self) -> dict[str, Any]:
        """The script's ``params``: ``{"applied": <JSON form>, "events": {p: [offset, ...]}}``."""
        return {"applied": self.applied.to_json(),
                "events": {p: list(offsets) for p, offsets in sorted(self.events.items())}}


def apply_update(stored: AppliedSet, update: Update) -> tuple[AppliedSet, int]:
    """What :data:`SCRIPT_SOURCE` does to a document: ``(applied after, events added)``.

    An event counts when its offset was not applied in ``stored`` and is applied after the
    merge. When none counts the script answers ``noop`` and the document stays as it was:
    ``(stored, 0)`` — a replay costs no write (the unlearned ranges hold no event of this
    document, so the count stays exact).
    """
    merged = stored.merge(update.applied)
    added = 0
    for partition, offsets in update.events.items():
        for offset in offsets:
            if not stored.contains(partition, offset) and merged.contains(partition, offset):
                added += 1
    return (merged, added) if added else (stored, 0)
