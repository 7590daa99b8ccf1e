"""Random delivery schedules of one state document's updates, with the oracle's answers.

A schedule is what the daemon may do to one document: partitions read once from offset 0 and
again from random offsets (a crash, a rebalance), each read split into its own batches; some
batches sent twice; batches of two partitions sometimes in one update; everything delivered
in a random order. Each update's floor per partition is an offset below which everything was
delivered before it (what a committed offset means), often lower than the document's floor
already is (a zombie's write). The oracle is a plain set of delivered offsets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from socd.state.applied import AppliedSet, Update


@dataclass(frozen=True)
class Step:
    """One delivered batch: its update (None when it holds no event of the document) and the
    oracle after it: the delivered offsets and the events among them."""

    update: Update | None
    delivered: dict[str, frozenset[int]]
    count: int


@dataclass(frozen=True)
class Schedule:
    events: dict[str, dict[int, int]]
    """Per partition, offset → events of the document at that offset (absent: none)."""
    steps: list[Step]


def _prefix(offsets: frozenset[int]) -> int:
    """The first offset not in ``offsets``: everything below it was delivered."""
    n = 0
    while n in offsets:
        n += 1
    return n


def build_schedule(rng: random.Random, *, max_offsets: int = 60) -> Schedule:
    """A random schedule (see the module docstring); deterministic for a seeded ``rng``."""
    partitions = [f"sensors.t-{i}/{i}" for i in range(rng.randint(1, 3))]
    sizes = {p: rng.randint(1, max_offsets) for p in partitions}
    events = {p: {o: m for o in range(n) if (m := rng.choice((0, 0, 1, 1, 2)))}
              for p, n in sizes.items()}
    batches: list[list[tuple[str, int, int]]] = []
    for p, n in sizes.items():
        starts = [0] + [rng.randint(0, n) for _ in range(rng.randint(0, 2))]
        for start in starts:
            at = start
            while at < n:
                end = min(n, at + rng.randint(1, 20))
                batches.append([(p, at, end)])
                if rng.random() < 0.2:
                    batches.append([(p, at, end)])
                at = end
    rng.shuffle(batches)
    # some updates carry batches of two partitions (one item per document and batch)
    merged: list[list[tuple[str, int, int]]] = []
    for batch in batches:
        if merged and rng.random() < 0.3 and batch[0][0] not in {b[0] for b in merged[-1]}:
            merged[-1].extend(batch)
        else:
            merged.append(batch)
    delivered = {p: frozenset[int]() for p in partitions}
    steps = []
    for group in merged:
        applied = AppliedSet()
        carried: dict[str, tuple[int, ...]] = {}
        for p, start, end in group:
            top = min(start, _prefix(delivered[p]))
            floor = rng.choice((0, top, rng.randint(0, top)))
            applied = applied.raise_floor(p, floor).add(p, start, end)
            carried[p] = tuple(o for o in range(start, end) for _ in range(events[p].get(o, 0)))
        for p, start, end in group:
            delivered[p] = delivered[p] | frozenset(range(start, end))
        carried = {p: offsets for p, offsets in carried.items() if offsets}
        update = Update(applied, carried) if carried else None
        count = sum(m for p in partitions for o, m in events[p].items() if o in delivered[p])
        steps.append(Step(update, dict(delivered), count))
    return Schedule(events, steps)
