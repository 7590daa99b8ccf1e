"""Delivery of suppressed threats with fakes at its seams: one update per alert and batch,
floors that never cover a batch still in flight, counts exact through any completion order,
crashes and replays, threats and alerts counted, rejected alerts dead-lettered.

The Elasticsearch seam is an in-memory store that applies each update as the stored script
does, through its Python twin (:func:`socd.state.applied.apply_update`, checked against the
script on the real server by tests/integration/test_state_painless.py); the real server runs
the whole path in tests/integration/test_suppression.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.delivery import Delivery, Limits
from socd.event import IndexAction, Record
from socd.pipeline import Batch
from socd.sinks.elasticsearch import Rejected, encode_action
from socd.state.applied import AppliedSet, Update, apply_update
from socd.state.suppress import SCRIPT_ID, Suppression, suppressed_threat
from socd.telemetry.metrics import Metrics
from tests.unit.test_delivery import FakeDocuments, FakeLetters, FakeSource, until

TOPIC = "sensors.ndr"
SUPPRESSION = Suppression(("source.ip",), timedelta(hours=1))
KEYS = 3


def key_of(offset: int) -> str:
    return f"10.0.0.{offset % KEYS}"


class SuppressingProcessor:
    """Every record is a critical threat from ``key_of(offset)`` under SUPPRESSION, at
    offset seconds past 2026-04-01T05:00Z (one window)."""

    def process(self, records: Iterable[Record]) -> Batch:
        batch = Batch()
        for r in records:
            position = (r.topic, r.partition)
            batch.first.setdefault(position, r.offset)
            batch.offsets[position] = r.offset + 1
            batch.events[("ndr", "sensor")] += 1
            time = f"2026-04-01T05:{r.offset // 60 % 60:02d}:{r.offset % 60:02d}.000Z"
            doc = {"@timestamp": time, "source": {"ip": key_of(r.offset)},
                   "socd": {"class": "critical"}}
            doc_id = f"{r.partition:016x}{r.offset:016x}"
            action = encode_action("alerts", doc_id, doc, r, ("critical", "2", "sensor"))
            action.suppress = suppressed_threat(SUPPRESSION, "rule", "ndr", doc, doc_id, time,
                                                lambda _: "alerts")
            batch.actions.append(action)
        return batch

    def connector_of(self, topic: str) -> str:
        return "fake"

    def counted_as(self, topic: str) -> tuple[str, str] | None:
        return ("ndr", "sensor")


@dataclass
class Alert:
    applied: AppliedSet = field(default_factory=AppliedSet)
    count: int = 0


class AlertStore(FakeDocuments):
    """Elasticsearch's side of an update, in memory: the script's twin applied per item
    when the call is released (``hold``); ``reject``: alert ids refused for good."""

    def __init__(self, hold: bool = False, reject: Iterable[str] = ()) -> None:
        super().__init__(hold=hold, reject=dict.fromkeys(reject, "HTTP 400: script_exception"))
        self.alerts: dict[str, Alert] = {}
        self.updates: list[dict[str, object]] = []

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        rejected = await super().index(actions)
        for action in actions:
            assert action.op == "update"
            if action.doc_id in self.reject:
                continue
            header, body = action.body.decode().splitlines()
            assert orjson.loads(header)["update"]["_id"] == action.doc_id
            request = orjson.loads(body)
            assert request["script"]["id"] == SCRIPT_ID and request["scripted_upsert"]
            params = request["script"]["params"]
            self.updates.append(params)
            update = Update(AppliedSet.from_json(params["applied"]),
                            {p: tuple(o) for p, o in params["events"].items()})
            alert = self.alerts.setdefault(action.doc_id, Alert())
            action.created = alert.count == 0
            alert.applied, added = apply_update(alert.applied, update)
            alert.count += added
        return rejected

    def counts(self) -> dict[str, int]:
        return {key: alert.count for key, alert in self.alerts.items()}


def wired(store: AlertStore, source: FakeSource | None = None,
          slots: int = 4) -> tuple[Delivery, FakeSource, Metrics]:
    source = source or FakeSource()
    metrics = Metrics()
    delivery = Delivery(source, store, FakeLetters(), SuppressingProcessor(), metrics,
                        Limits(slots=slots), asyncio.Event())
    return delivery, source, metrics


def records(first: int, count: int, partition: int = 0) -> list[Record]:
    return [Record(TOPIC, partition, o, b"{}") for o in range(first, first + count)]


def batch(first: int, count: int, partition: int = 0) -> Batch:
    return SuppressingProcessor().process(records(first, count, partition))


def value(metrics: Metrics, name: str) -> float:
    return sum(s.value for family in metrics.registry.collect() for s in family.samples
               if s.name == name)


async def test_one_update_per_alert_and_batch_with_its_threats() -> None:
    """A batch of 9 threats from 3 keys is 3 updates, each carrying its 3 offsets, the
    batch's range, and its earliest threat's document; 9 threats and 3 alerts counted."""
    store = AlertStore()
    delivery, _, metrics = wired(store)
    delivery.launch(batch(0, 9))
    await delivery.drain()
    assert len(store.calls) == 1 and len(store.calls[0].items) == 3
    events = sorted(tuple(p["events"][f"{TOPIC}/0"]) for p in store.updates)  # type: ignore[index]
    assert events == [(0, 3, 6), (1, 4, 7), (2, 5, 8)]
    assert all(p["applied"] == {f"{TOPIC}/0": {"floor": 9, "ranges": []}}
               for p in store.updates)
    assert sorted(p["doc"]["source"]["ip"] for p in store.updates) == [  # type: ignore[index]
        key_of(0), key_of(1), key_of(2)]
    assert sorted(store.counts().values()) == [3, 3, 3]
    assert value(metrics, "socd_threats_total") == 9
    assert value(metrics, "socd_alerts_total") == 3


async def test_a_floor_never_covers_a_batch_still_in_flight() -> None:
    """While batch [0, 4) is in flight, batch [4, 8)'s updates carry the floor 0 and their
    own range, so that batch 1, landing last, still counts; once both are committed, the
    next batch's floor is its own first offset."""
    store = AlertStore(hold=True)
    delivery, _, _ = wired(store)
    delivery.launch(batch(0, 4))
    delivery.launch(batch(4, 4))
    await until(lambda: len(store.calls) == 2)
    second = [orjson.loads(a.body.splitlines()[1]) for a in store.calls[1].items]
    assert {orjson.dumps(s["script"]["params"]["applied"]) for s in second} == {
        orjson.dumps({f"{TOPIC}/0": {"floor": 0, "ranges": [[4, 8]]}})}
    store.calls[1].release()
    await until(lambda: delivery.in_flight[1].done())
    store.calls[0].release()
    await delivery.drain()
    assert sum(store.counts().values()) == 8
    store.hold = False
    delivery.launch(batch(8, 3))
    await delivery.drain()
    assert store.updates[-1]["applied"] == {f"{TOPIC}/0": {"floor": 11, "ranges": []}}


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(5)), crash_after=st.integers(0, 5),
       replay_from=st.integers(0, 20))
def test_counts_are_exact_whatever_the_order_crashes_and_replays(
        order: list[int], crash_after: int, replay_from: int) -> None:
    """Five batches of 4 on two partitions land in any order; the process dies after
    ``crash_after`` of them (the others never land); a new process reads again from the
    committed offsets; then a third replays every partition from ``replay_from`` (an offset
    reset, or another group). Each alert's count is its number of threats: never one
    lost, never one twice."""

    async def scenario() -> None:
        store = AlertStore(hold=True)
        first, source, _ = wired(store, slots=5)
        plan = [(0, 0), (0, 1), (4, 0), (4, 1), (8, 0)]
        for offset, partition in plan:
            first.launch(batch(offset, 4, partition))
        tasks = first.in_flight
        await until(lambda: len(store.calls) == 5)
        for n in order[:crash_after]:
            store.calls[n].release()
            await until(tasks[n].done)
            await first.commit_finished()
        committed = source.committed()
        for task in tasks:  # SIGKILL: what had not landed never lands
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        store.hold = False
        ends = {0: 12, 1: 8}
        for run_from in (lambda p: committed.get((TOPIC, p), 0),
                         lambda p: min(replay_from, ends[p])):
            again, _, _ = wired(store)
            for partition, end in ends.items():
                start = run_from(partition)
                if start < end:
                    again.launch(batch(start, end - start, partition))
            await again.drain()
        want: dict[str, int] = {}
        for partition, end in ends.items():
            for offset in range(end):
                action = batch(offset, 1, partition).actions[0]
                assert action.suppress is not None
                want[action.suppress.alert_id] = want.get(action.suppress.alert_id, 0) + 1
        assert store.counts() == want

    asyncio.run(scenario())


async def test_an_alert_refused_for_good_dead_letters_each_of_its_threats() -> None:
    """An update answered 400 (say the stored script is missing): each of its threats is a
    dead letter index_rejected, and only the other alerts' threats are counted."""
    probe = batch(0, 6)
    refused = {a.suppress.alert_id for a in probe.actions[:1] if a.suppress is not None}
    store = AlertStore(reject=refused)
    delivery, _, metrics = wired(store)
    letters = FakeLetters()
    delivery._letters = letters
    delivery.launch(batch(0, 6))
    await delivery.drain()
    assert sorted(letter.record.offset for letter in letters.sent) == [0, 3]
    assert {letter.reason for letter in letters.sent} == {"index_rejected"}
    assert value(metrics, "socd_threats_total") == 4
    assert value(metrics, "socd_alerts_total") == 2
