"""socd.delivery with layer-4 sharing, with in-memory fakes of its seams (the real Kafka
path, transactions included, is exercised in tests/integration/test_sharing.py): a batch's
offsets are committed only once its sightings are acknowledged; in a transaction, with the
offsets of every earlier batch, never overtaken nor followed by an older commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.delivery import Delivery, Limits
from socd.errors import SharingError, SinkError
from socd.event import IndexAction, Record
from socd.pipeline import Batch, Partition
from socd.sinks.elasticsearch import encode_action
from socd.telemetry.metrics import Metrics
from tests.unit.test_delivery import (
    TOPIC,
    FakeDocuments,
    FakeLetters,
    FakeSource,
    doc_id,
    records,
    until,
)


@dataclass(frozen=True)
class FakeSighting:
    id: str
    threat_class: str
    layer: str


class SharingProcessor:
    """Value ``b"share"`` → a critical threat to be shared; ``b"high"`` → a high-risk one
    shared (as a rule's ``share: true`` makes it); anything else a threat not shared."""

    def process(self, batch_records: Iterable[Record]) -> Batch:
        batch = Batch()
        for r in batch_records:
            batch.offsets[(r.topic, r.partition)] = r.offset + 1
            batch.events[("ndr", "sensor")] += 1
            threat_class = "high-risk" if r.value == b"high" else "critical"
            batch.actions.append(encode_action(
                "alerts", doc_id(r), {"offset": r.offset}, r, (threat_class, "4", "sensor"),
                share=r.value in (b"share", b"high")))
        return batch

    def connector_of(self, topic: str) -> str:
        return "fake"

    def counted_as(self, topic: str) -> tuple[str, str] | None:
        return ("ndr", "sensor")


class FakeSharing:
    """A sighting sink. ``hold``: each publish waits for its release. Keeps, in time order,
    every commit made (the source's and its own transactions') in ``timeline``."""

    def __init__(self, source: FakeSource, *, transactional: bool, hold: bool = False,
                 fail: Exception | None = None) -> None:
        self.source = source
        self.transactional = transactional
        self.hold = hold
        self.fail = fail
        self.gates: list[asyncio.Event] = []
        self.published: list[str] = []
        self.transactions: list[dict[Partition, int]] = []

    def sightings(self, actions: Sequence[IndexAction]) -> list[FakeSighting]:
        return [FakeSighting(f"sighting--{a.doc_id}", a.labels[0], a.labels[1])
                for a in actions]

    async def publish(self, sightings: Sequence[FakeSighting],
                      offsets: Mapping[Partition, int] | None = None) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        if not self.hold:
            gate.set()
        await gate.wait()
        if self.fail is not None:
            raise self.fail
        self.published.extend(s.id for s in sightings)
        if offsets is not None:
            assert self.transactional
            self.transactions.append(dict(offsets))
            self.source.commits.append(dict(offsets))  # one timeline of every commit

    def release_all(self) -> None:
        for gate in self.gates:
            gate.set()


class Wired:
    def __init__(self, *, transactional: bool, hold_documents: bool = False,
                 hold_sharing: bool = False, fail: Exception | None = None,
                 source: FakeSource | None = None, limits: Limits | None = None,
                 stall_s: float = 10.0) -> None:
        self.source = source or FakeSource()
        self.documents = FakeDocuments(hold=hold_documents)
        self.sharing = FakeSharing(self.source, transactional=transactional,
                                   hold=hold_sharing, fail=fail)
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.delivery = Delivery(self.source, self.documents, FakeLetters(),
                                 SharingProcessor(), self.metrics, limits or Limits(slots=8),
                                 self.stopping, sharing=self.sharing,  # type: ignore[arg-type]
                                 stall_s=stall_s)

    def launch(self, first: int, values: list[bytes], partition: int = 0) -> None:
        batch = SharingProcessor().process(
            Record(TOPIC, partition, first + n, value) for n, value in enumerate(values))
        self.delivery.launch(batch)

    def shared(self, threat_class: str) -> float:
        return next(s.value for family in self.metrics.registry.collect()
                    for s in family.samples
                    if s.name == "socd_shared_total" and s.labels["class"] == threat_class)


@pytest.mark.parametrize("transactional", [False, True])
async def test_offsets_wait_for_the_sightings_and_only_shared_threats_are_published(
        transactional: bool) -> None:
    """A batch of two shared threats and one not: nothing committed while the sightings are
    not acknowledged; then the two sightings, the commit, and socd_shared_total."""
    w = Wired(transactional=transactional, hold_sharing=True)
    w.launch(0, [b"share", b"plain", b"high"])
    await until(lambda: len(w.sharing.gates) == 1)
    with contextlib.suppress(TimeoutError):  # in a transaction, the commit waits for it
        await asyncio.wait_for(w.delivery.commit_finished(), 0.05)
    assert w.source.commits == []
    w.sharing.release_all()
    await w.delivery.drain()
    assert w.sharing.published == ["sighting--0-0", "sighting--0-2"]
    assert w.source.committed() == {(TOPIC, 0): 3}
    assert (w.shared("critical"), w.shared("high-risk")) == (1, 1)


async def test_a_document_refused_for_good_is_not_shared() -> None:
    w = Wired(transactional=False)
    w.documents.reject = {"0-1": "mapper_parsing_exception"}
    w.launch(0, [b"share", b"share"])
    await w.delivery.drain()
    assert w.sharing.published == ["sighting--0-0"]


async def test_a_transaction_waits_for_earlier_batches_and_carries_their_offsets() -> None:
    """Batch 1 (nothing shared) still being indexed, batch 2 (shared) durable: the
    transaction waits for batch 1, then commits both batches' offsets; batch 1's own commit
    is not made afterwards (it would move the committed offset back)."""
    w = Wired(transactional=True, hold_documents=True)
    w.launch(0, [b"plain", b"plain"])
    w.launch(2, [b"share"], partition=0)
    w.launch(0, [b"plain"], partition=1)
    await until(lambda: len(w.documents.calls) == 3)
    w.documents.calls[1].release()
    await asyncio.sleep(0.01)
    assert w.sharing.gates == []  # waits for batch 1
    w.documents.calls[0].release()
    await until(lambda: len(w.sharing.transactions) == 1)
    assert w.sharing.transactions == [{(TOPIC, 0): 3}]
    w.documents.calls[2].release()
    await w.delivery.drain()
    assert w.source.commits == [{(TOPIC, 0): 3}, {(TOPIC, 1): 1}]


async def test_a_failed_earlier_batch_stops_the_transaction() -> None:
    w = Wired(transactional=True, hold_documents=True)
    w.launch(0, [b"plain"])
    w.launch(1, [b"share"])
    await until(lambda: len(w.documents.calls) == 2)
    w.documents.calls[1].release()
    w.documents.calls[0].release(SinkError("Elasticsearch gave up"))
    with pytest.raises(SinkError, match="gave up"):
        await w.delivery.drain()
    assert w.sharing.published == []
    assert w.source.commits == []


async def test_a_sharing_error_stops_delivery_with_nothing_committed() -> None:
    w = Wired(transactional=True, fail=SharingError("another process took the id over"))
    w.launch(0, [b"share"])
    with pytest.raises(SharingError, match="took the id over"):
        await w.delivery.drain()
    assert w.source.commits == []
    assert w.stopping.is_set()


@pytest.mark.parametrize("transactional", [False, True])
async def test_a_sharing_topic_that_does_not_answer_stalls_and_pauses_like_elasticsearch(
        transactional: bool) -> None:
    """The fetch loop goes on polling (paused) while a publish waits; once it is
    acknowledged, everything is committed."""
    source = FakeSource([records(0, 2, value=b"share")])
    w = Wired(transactional=transactional, hold_sharing=True, source=source,
              limits=Limits(slots=1, bulk_max_docs=2), stall_s=0.01)
    loop = asyncio.create_task(w.delivery.run())
    await until(source.was_paused.is_set)
    assert w.source.commits == []
    w.sharing.hold = False
    w.sharing.release_all()
    await until(lambda: source.committed() == {(TOPIC, 0): 2})
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert source.paused[-1] is False


class CheckedSource(FakeSource):
    """Calls ``check`` with each commit's offsets before recording it."""

    def __init__(self) -> None:
        super().__init__()
        self.check = lambda offsets: None

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        self.check(offsets)
        return await super().commit(offsets)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.booleans()), min_size=1, max_size=6),
       st.randoms(use_true_random=False))
def test_commits_never_go_back_and_cover_only_what_is_durable_and_shared(
        batches: list[tuple[int, bool]], random: object) -> None:
    """Batches of one record on two partitions, each shared or not, made durable in a
    random order, with sharing in transactions: each commit (the consumer's or a
    transaction's) covers only batches that are durable and whose sightings are published
    (or in that transaction), no partition's committed offset ever goes back, and in the
    end everything is committed and each sighting published once."""

    async def scenario() -> None:
        source = CheckedSource()
        w = Wired(transactional=True, hold_documents=True, source=source)
        next_offset = [0, 0]
        ends: list[tuple[int, int, bool]] = []  # per batch: partition, next offset, shared
        for partition, shared in batches:
            w.launch(next_offset[partition], [b"share" if shared else b"plain"], partition)
            next_offset[partition] += 1
            ends.append((partition, next_offset[partition], shared))
        released: set[int] = set()
        seen = {0: 0, 1: 0}

        def check(offsets: Mapping[Partition, int], publishing: Sequence[str] = ()) -> None:
            published = {*w.sharing.published, *publishing}
            for (_, partition), offset in offsets.items():
                assert offset >= seen[partition], "a committed offset went back"
                seen[partition] = offset
                for n, (p, end, shared) in enumerate(ends):
                    if p == partition and end <= offset:
                        assert n in released, f"batch {n} committed before it was durable"
                        if shared:
                            assert f"sighting--{p}-{end - 1}" in published

        source.check = check
        publish = w.sharing.publish

        async def checked_publish(sightings: Sequence[FakeSighting],
                                  offsets: Mapping[Partition, int] | None = None) -> None:
            if offsets is not None:
                check(offsets, [s.id for s in sightings])
            await publish(sightings, offsets)

        w.sharing.publish = checked_publish  # type: ignore[method-assign]
        await until(lambda: len(w.documents.calls) == len(batches))
        order = list(range(len(batches)))
        random.shuffle(order)  # type: ignore[attr-defined]
        for n in order:
            released.add(n)
            w.documents.calls[n].release()
            await asyncio.sleep(0)
            await w.delivery.commit_finished()
        await w.delivery.drain()
        assert seen == {0: next_offset[0], 1: next_offset[1]}
        assert sorted(w.sharing.published) == sorted(
            f"sighting--{p}-{end - 1}" for p, end, shared in ends if shared)

    asyncio.run(scenario())
