"""socd.delivery with in-memory fakes of its seams (the real Kafka and Elasticsearch are
exercised in tests/integration): commits only what is durable, in fetch order, through
out-of-order completion, failures, revocation, stop, stalls, memory bounds and messages
whose processing raises."""

from __future__ import annotations

import asyncio
import io
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.config import Config
from socd.delivery import Delivery, Limits
from socd.errors import DeadLetterUnavailable, SinkError, SocdError
from socd.event import DeadLetter, IndexAction, Record
from socd.pipeline import Batch, Partition
from socd.sinks.elasticsearch import Rejected, encode_action
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics

TOPIC = "sensors.ndr"

# ------------------------------------------------------------------ fakes of the seams


class FakeSource:
    """Hands out queued fetches; while paused, only ``assigned_while_paused`` ones (the
    records of partitions a rebalance has just assigned). Records commits and pauses.
    ``revoke_before`` (a fetch number) runs ``before_revoke`` inside that fetch, as
    aiokafka runs a rebalance listener inside ``getmany``."""

    def __init__(self, fetches: Iterable[list[Record]] = ()) -> None:
        self.fetches: deque[list[Record]] = deque(fetches)
        self.assigned_while_paused: deque[list[Record]] = deque()
        self.commits: list[dict[Partition, int]] = []
        self.paused: list[bool] = []
        self.was_paused = asyncio.Event()
        self.calls = 0
        self.max_records: list[int | None] = []
        """The ``max_records`` of each fetch."""
        self.revoke_before: int | None = None
        self.before_revoke: Callable[[], Awaitable[None]] | None = None
        self.revoking = asyncio.Event()
        self.committed_when_revoked: dict[Partition, int] | None = None

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        self.calls += 1
        self.max_records.append(max_records)
        if self.calls == self.revoke_before and self.before_revoke is not None:
            self.revoking.set()
            await self.before_revoke()
            self.committed_when_revoked = self.committed()
            return []
        if self.paused and self.paused[-1]:
            if self.assigned_while_paused:
                return self.assigned_while_paused.popleft()
        elif self.fetches:
            head = self.fetches.popleft()
            if max_records is not None and len(head) > max_records:  # as getmany does
                head, rest = head[:max_records], head[max_records:]
                self.fetches.appendleft(rest)
            return head
        await asyncio.sleep(min(timeout_ms, 5) / 1000)  # nothing new: a short wait
        return []

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        self.commits.append(dict(offsets))
        return True

    def pause(self, paused: bool) -> None:
        self.paused.append(paused)
        if paused:
            self.was_paused.set()

    def committed(self) -> dict[Partition, int]:
        merged: dict[Partition, int] = {}
        for commit in self.commits:
            merged.update(commit)
        return merged


class _Call:
    def __init__(self, items: list[IndexAction] | list[DeadLetter]) -> None:
        self.items = items
        self.gate = asyncio.Event()
        self.error: Exception | None = None

    def release(self, error: Exception | None = None) -> None:
        self.error = error
        self.gate.set()


class FakeDocuments:
    """An Elasticsearch sink: each ``index`` call waits for its release when ``hold``;
    documents whose id is in ``reject`` are refused for good with that reason."""

    def __init__(self, hold: bool = False, reject: Mapping[str, str] | None = None) -> None:
        self.hold = hold
        self.reject = dict(reject or {})
        self.calls: list[_Call] = []
        self.durable: list[str] = []

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        call = _Call(list(actions))
        self.calls.append(call)
        if not self.hold:
            call.gate.set()
        await call.gate.wait()
        if call.error is not None:
            raise call.error
        self.durable.extend(a.doc_id for a in actions if a.doc_id not in self.reject)
        return [(a, self.reject[a.doc_id]) for a in actions if a.doc_id in self.reject]

    def release_all(self) -> None:
        for call in self.calls:
            call.gate.set()


class FakeLetters:
    """A dead-letter sink: acknowledges at once, or when released (``hold``), or raises
    ``fail``."""

    def __init__(self, hold: bool = False, fail: Exception | None = None) -> None:
        self.hold = hold
        self.fail = fail
        self.calls: list[_Call] = []
        self.sent: list[DeadLetter] = []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        call = _Call(list(letters))
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        if not self.hold:
            call.gate.set()
        await call.gate.wait()
        self.sent.extend(letters)


class FakeProcessor:
    """Value ``b"dead"`` → a not_json dead letter; ``b"boom"`` → raises RuntimeError every
    time; an offset in ``flaky`` raises that many times, then is a threat; anything else is a
    threat. Counts the attempts per offset when processed alone."""

    def __init__(self, flaky: Mapping[int, int] | None = None) -> None:
        self.flaky = dict(flaky or {})
        self.alone: dict[int, int] = {}

    def process(self, records: Iterable[Record]) -> Batch:
        records = list(records)
        if len(records) == 1:
            self.alone[records[0].offset] = self.alone.get(records[0].offset, 0) + 1
        batch = Batch()
        for r in records:
            batch.offsets[(r.topic, r.partition)] = r.offset + 1
            batch.events[("ndr", "sensor")] += 1
            if r.value == b"boom":
                raise RuntimeError(f"cannot handle offset {r.offset}")
            if self.flaky.get(r.offset, 0) > 0:
                self.flaky[r.offset] -= 1
                raise KeyError("flaky")
            if r.value == b"dead":
                batch.dead.append(DeadLetter(r, "not_json", "not JSON", "fake"))
            else:
                batch.actions.append(encode_action(
                    "alerts", doc_id(r), {"offset": r.offset}, r, ("critical", "2", "sensor")))
        return batch

    def connector_of(self, topic: str) -> str:
        return "fake"

    def counted_as(self, topic: str) -> tuple[str, str] | None:
        return ("ndr", "sensor")


def doc_id(record: Record) -> str:
    return f"{record.partition}-{record.offset}"


def records(first: int, count: int, partition: int = 0, value: bytes = b"{}") -> list[Record]:
    return [Record(TOPIC, partition, offset, value) for offset in range(first, first + count)]


def batch_of(first: int, count: int, partition: int = 0) -> Batch:
    return FakeProcessor().process(records(first, count, partition))


class Wired:
    def __init__(self, source: FakeSource | None = None, documents: FakeDocuments | None = None,
                 letters: FakeLetters | None = None, processor: FakeProcessor | None = None,
                 limits: Limits | None = None, stall_s: float = 10.0) -> None:
        self.source = source or FakeSource()
        self.documents = documents or FakeDocuments()
        self.letters = letters or FakeLetters()
        self.processor = processor or FakeProcessor()
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.delivery = Delivery(self.source, self.documents, self.letters, self.processor,
                                 self.metrics, limits or Limits(), self.stopping,
                                 stall_s=stall_s)
        self.source.before_revoke = self.delivery.drain

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for family in self.metrics.registry.collect() for s in family.samples
                 if s.name == name and s.labels == labels]
        assert len(found) == 1, (name, labels)
        return found[0]


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (a hang fails after 10 s, not forever).
    The conditions are states of several fakes and tasks at once, which no one event marks."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


def _logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# ------------------------------------------------------------------ ordered commits


async def test_a_later_batch_durable_first_is_committed_only_with_the_earlier_one() -> None:
    """Batch 2 durable before batch 1: nothing committed; batch 1 durable: both committed
    at once (batch 2's offset), and not batch 3, still in flight."""
    w = Wired(documents=FakeDocuments(hold=True), limits=Limits(slots=3))
    for first in (0, 2, 4):
        w.delivery.launch(batch_of(first, 2))
    await until(lambda: len(w.documents.calls) == 3)
    w.documents.calls[1].release()
    await until(lambda: w.delivery.in_flight[1].done())
    await w.delivery.commit_finished()
    assert w.source.commits == []
    w.documents.calls[0].release()
    await until(lambda: w.delivery.in_flight[0].done())
    await w.delivery.commit_finished()
    assert w.source.commits == [{(TOPIC, 0): 4}]
    assert len(w.delivery.in_flight) == 1
    w.documents.calls[2].release()
    await w.delivery.drain()
    assert w.source.commits == [{(TOPIC, 0): 4}, {(TOPIC, 0): 6}]
    assert w.value("socd_offset_commits_total") == 2


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(5)))
def test_any_completion_order_commits_exactly_the_durable_prefix(order: list[int]) -> None:
    """Five batches (one partition each, two records) finishing in any order: after each,
    the committed offsets are those of the longest run of durable batches from the first."""

    async def scenario() -> None:
        w = Wired(documents=FakeDocuments(hold=True), limits=Limits(slots=5))
        for n in range(5):
            w.delivery.launch(batch_of(0, 2, partition=n))
        tasks = w.delivery.in_flight
        await until(lambda: len(w.documents.calls) == 5)
        durable: set[int] = set()
        for n in order:
            w.documents.calls[n].release()
            durable.add(n)
            await until(tasks[n].done)
            await w.delivery.commit_finished()
            prefix = 0
            while prefix in durable:
                prefix += 1
            assert w.source.committed() == {(TOPIC, p): 2 for p in range(prefix)}

    asyncio.run(scenario())


async def test_a_failing_batch_stops_every_commit_after_it() -> None:
    """Batch 1 durable, batch 2 refused (SinkError), batch 3 durable: batch 1 is committed,
    nothing after it ever is, the error surfaces, and delivery asks to stop."""
    w = Wired(documents=FakeDocuments(hold=True), limits=Limits(slots=3))
    for first in (0, 2, 4):
        w.delivery.launch(batch_of(first, 2))
    await until(lambda: len(w.documents.calls) == 3)
    w.documents.calls[2].release()
    w.documents.calls[0].release()
    w.documents.calls[1].release(SinkError("Elasticsearch gave up"))
    with pytest.raises(SinkError, match="gave up"):
        await w.delivery.drain()
    assert w.source.commits == [{(TOPIC, 0): 2}]
    assert w.stopping.is_set()
    with pytest.raises(SinkError, match="gave up"):  # and again: never past the failure
        await w.delivery.commit_finished()
    assert w.source.commits == [{(TOPIC, 0): 2}]


async def test_an_unexpected_error_surfaces_as_a_socd_error() -> None:
    """A delivery that raises something else (a defect) stops socd the same way."""
    w = Wired(documents=FakeDocuments(hold=True))
    w.delivery.launch(batch_of(0, 1))
    await until(lambda: len(w.documents.calls) == 1)
    w.documents.calls[0].release(ValueError("bad state"))
    with pytest.raises(SocdError, match="ValueError: bad state"):
        await w.delivery.drain()
    assert w.source.commits == []


async def test_a_cancelled_delivery_is_never_committed_past() -> None:
    """A delivery cancelled (a drain cut off at shutdown) counts as failed: neither it nor
    anything after it is committed by a later drain (a rebalance while the consumer leaves)."""
    w = Wired(documents=FakeDocuments(hold=True))
    w.delivery.launch(batch_of(0, 1))
    w.delivery.launch(batch_of(1, 1))
    await until(lambda: len(w.documents.calls) == 2)
    w.delivery.in_flight[0].cancel()
    w.documents.calls[1].release()
    with pytest.raises(SocdError, match="cancelled"):
        await w.delivery.drain()
    assert w.source.commits == []


# ------------------------------------------------------------------ dead letters


async def test_rejected_documents_are_dead_lettered_before_the_commit() -> None:
    """A document refused for good goes to the dead-letter topic as index_rejected with the
    reason; the commit waits for that letter's acknowledgement; only the others count as
    threats."""
    letters = FakeLetters(hold=True)
    w = Wired(documents=FakeDocuments(reject={"0-1": "mapper_parsing_exception"}),
              letters=letters)
    w.delivery.launch(batch_of(0, 3))
    await until(lambda: len(letters.calls) == 1)
    await w.delivery.commit_finished()
    assert w.source.commits == []
    letters.calls[0].release()
    await w.delivery.drain()
    assert [(d.reason, d.detail, d.connector, d.record.offset) for d in letters.sent] == [
        ("index_rejected", "mapper_parsing_exception", "fake", 1)]
    assert w.source.commits == [{(TOPIC, 0): 3}]
    assert w.value("socd_dead_letter_total", reason="index_rejected") == 1
    assert w.value("socd_threats_total", **{"class": "critical", "layer": "2",
                                             "sensor": "sensor"}) == 2


async def test_a_dead_letter_topic_refusing_writes_commits_nothing() -> None:
    """The batch's dead letters refused: no document indexed, no offset committed, the
    error surfaces."""
    w = Wired(letters=FakeLetters(fail=DeadLetterUnavailable("topic refused")))
    batch = FakeProcessor().process(records(0, 2) + records(2, 1, value=b"dead"))
    w.delivery.launch(batch)
    with pytest.raises(DeadLetterUnavailable):
        await w.delivery.drain()
    assert w.source.commits == []
    assert w.documents.durable == []
    assert w.value("socd_dead_letter_total", reason="not_json") == 0


# ------------------------------------------------------------------ revocation, stop


async def test_a_revocation_mid_flight_commits_everything_before_the_partitions_go() -> None:
    """Two batches in flight when a rebalance takes the partitions: the drain inside the
    fetch waits for both (finishing out of order) and commits them before it returns."""
    source = FakeSource([records(0, 2), records(2, 2)])
    source.revoke_before = 3
    w = Wired(source=source, documents=FakeDocuments(hold=True),
              limits=Limits(slots=4, bulk_max_docs=2))
    loop = asyncio.create_task(w.delivery.run())
    await until(source.revoking.is_set)
    assert len(w.documents.calls) == 2 and source.commits == []
    w.documents.calls[1].release()
    w.documents.calls[0].release()
    await until(lambda: source.committed_when_revoked is not None)
    assert source.committed_when_revoked == {(TOPIC, 0): 4}
    w.stopping.set()
    await asyncio.wait_for(loop, 10)


async def test_a_stop_mid_flight_stops_fetching_and_the_drain_commits_it_all() -> None:
    """Stop with two batches in flight: the loop ends at once without fetching more, nothing
    is committed until the batches are durable, then the drain commits them all."""
    source = FakeSource([records(0, 2), records(2, 2), records(4, 2)])
    w = Wired(source=source, documents=FakeDocuments(hold=True),
              limits=Limits(slots=2, bulk_max_docs=2))
    loop = asyncio.create_task(w.delivery.run())
    await until(lambda: len(w.documents.calls) == 2)
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert len(source.fetches) == 1  # the third fetch never happened
    assert source.commits == []
    w.documents.release_all()
    await w.delivery.drain()
    assert source.committed() == {(TOPIC, 0): 4}
    assert w.value("socd_in_flight_events") == 0


async def test_a_stop_while_gathering_delivers_the_gathered_batch() -> None:
    """Records processed but not yet sent (gathered for a larger bulk request) are handed
    to delivery at stop, so that the drain indexes and commits them."""
    source = FakeSource([records(0, 2)])
    w = Wired(source=source, limits=Limits(bulk_max_docs=1000))
    original = source.fetch

    async def fetch_then_stop(timeout_ms: int, max_records: int | None = None) -> list[Record]:
        got = await original(timeout_ms, max_records)
        if got:
            w.stopping.set()
        return got

    source.fetch = fetch_then_stop  # type: ignore[method-assign]
    await w.delivery.run()
    await w.delivery.drain()
    assert w.documents.durable == ["0-0", "0-1"]
    assert source.committed() == {(TOPIC, 0): 2}


async def test_gathering_fetches_only_what_fits_the_bulk_request() -> None:
    """Fetches of 6 records gathered into requests of at most 8 documents: while a batch is
    gathered, the next fetch asks for the 2 that fit, so requests hold 8, not 12."""
    source = FakeSource([records(0, 6), records(6, 6), records(12, 6)])
    w = Wired(source=source, limits=Limits(bulk_max_docs=8))
    run = asyncio.create_task(w.delivery.run())
    await until(lambda: len(w.documents.durable) == 18 and not source.fetches)
    w.stopping.set()
    await run
    await w.delivery.drain()
    assert [len(call.items) for call in w.documents.calls][:2] == [8, 8]
    assert source.max_records[:2] == [None, 2]
    assert source.committed() == {(TOPIC, 0): 18}


# ------------------------------------------------------------------ stalls and bounds


async def test_a_stall_pauses_then_resumes_and_delivers_what_came_meanwhile() -> None:
    """The only slot held past the stall time: the partitions are paused (counted,
    socd_paused 1); records a rebalance brings meanwhile are delivered; once the batch is
    durable fetching resumes and everything is committed."""
    source = FakeSource([records(0, 2)])
    source.assigned_while_paused.append(records(0, 1, partition=1))
    w = Wired(source=source, documents=FakeDocuments(hold=True),
              limits=Limits(slots=1, bulk_max_docs=2), stall_s=0.01)
    loop = asyncio.create_task(w.delivery.run())
    await until(source.was_paused.is_set)
    assert w.value("socd_paused") == 1
    await until(lambda: len(w.documents.calls) == 2)  # fetched while paused, still delivered
    source.fetches.append(records(2, 2))
    w.documents.hold = False
    w.documents.release_all()
    await until(lambda: source.committed() == {(TOPIC, 0): 4, (TOPIC, 1): 1})
    assert source.paused[-1] is False
    assert w.value("socd_paused") == 0
    assert w.value("socd_partition_pauses_total") == 1
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert sorted(w.documents.durable) == ["0-0", "0-1", "0-2", "0-3", "1-0"]


async def test_a_slot_freed_in_time_is_no_pause() -> None:
    """Batches durable at once: no pause, socd_paused stays 0, all committed."""
    source = FakeSource([records(0, 2), records(2, 2), records(4, 2)])
    w = Wired(source=source, limits=Limits(slots=1, bulk_max_docs=2))
    loop = asyncio.create_task(w.delivery.run())
    await until(lambda: source.committed() == {(TOPIC, 0): 6})
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert source.paused == []
    assert w.value("socd_partition_pauses_total") == 0


def _body(count: int) -> int:
    return sum(len(a.body) for a in batch_of(0, count).actions)


@pytest.mark.parametrize(("limits", "launched_before_waiting"), [
    (Limits(slots=16, bulk_max_docs=2, max_events=3), 2),      # 4 events ≥ 3
    (Limits(slots=16, bulk_max_docs=2, max_events=4), 2),      # at the bound: waits too
    (Limits(slots=16, bulk_max_docs=2, max_events=5), 3),
    (Limits(slots=16, bulk_max_docs=2, max_bytes=1), 1),       # any body is over 1 byte
    (Limits(slots=16, bulk_max_docs=2, max_bytes=_body(2) + 1), 2),
    (Limits(slots=2, bulk_max_docs=2), 2),                     # the slots, as before
], ids=["events-over", "events-at", "events-under", "bytes-1", "bytes-2", "slots"])
async def test_fetching_waits_while_in_flight_is_at_its_bound(
        limits: Limits, launched_before_waiting: int) -> None:
    """Events or body bytes in flight at or over ``delivery.max_in_flight_*``: no further
    fetch until a batch is durable; past the stall time the partitions are paused. Once
    released, everything is fetched, delivered and committed."""
    source = FakeSource([records(n, 2) for n in range(0, 8, 2)])
    w = Wired(source=source, documents=FakeDocuments(hold=True), limits=limits, stall_s=0.01)
    loop = asyncio.create_task(w.delivery.run())
    await until(source.was_paused.is_set)
    assert len(w.documents.calls) == launched_before_waiting
    assert len(source.fetches) == 4 - launched_before_waiting
    w.documents.hold = False
    w.documents.release_all()
    await until(lambda: source.committed() == {(TOPIC, 0): 8})
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert w.value("socd_in_flight_events") == w.value("socd_in_flight_bytes") == 0


def test_the_bounds_come_from_the_configuration() -> None:
    """``delivery.*`` and ``elasticsearch.max_in_flight``/``bulk_max_docs`` become the
    limits; the defaults are 20000 events, 64 MiB and 3 attempts."""
    inputs = [{"topic": TOPIC, "connector": "cyradar", "layer": 2, "sensor": "ndr"}]
    assert Limits.of(Config.model_validate({"inputs": inputs})) == Limits(
        slots=2, bulk_max_docs=2000, max_events=20_000, max_bytes=67_108_864, max_attempts=3)
    assert Limits.of(Config.model_validate({
        "inputs": inputs, "elasticsearch": {"max_in_flight": 4, "bulk_max_docs": 10},
        "delivery": {"max_in_flight_events": 7, "max_in_flight_bytes": 1000,
                     "max_attempts": 1}})) == Limits(4, 10, 7, 1000, 1)


@pytest.mark.parametrize("bad", [{"max_in_flight_events": 0}, {"max_in_flight_bytes": 0},
                                 {"max_attempts": 0}, {"max_in_flight_event": 5}])
def test_bounds_below_one_or_unknown_keys_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="delivery"):
        Config.model_validate({"inputs": [{"topic": TOPIC, "connector": "cyradar",
                                           "layer": 2, "sensor": "ndr"}], "delivery": bad})


# ------------------------------------------------------------------ processing that raises


async def test_a_message_whose_processing_raises_is_dead_lettered_and_the_rest_delivered(
        ) -> None:
    """Processing raises for one record of three: the others are indexed, that one is tried
    max_attempts times, dead-lettered as processing_failed with the exception's type and
    message, logged once with its position, counted; every offset is committed."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    processor = FakeProcessor()
    batch = records(0, 1) + records(1, 1, value=b"boom") + records(2, 1)
    source = FakeSource([batch])
    w = Wired(source=source, processor=processor, limits=Limits(max_attempts=3))
    loop = asyncio.create_task(w.delivery.run())
    await until(lambda: source.committed() == {(TOPIC, 0): 3})
    w.stopping.set()
    await asyncio.wait_for(loop, 10)
    assert w.documents.durable == ["0-0", "0-2"]
    assert [(d.reason, d.detail, d.connector, d.record.offset) for d in w.letters.sent] == [
        ("processing_failed", "RuntimeError: cannot handle offset 1", "fake", 1)]
    assert processor.alone[1] == 3
    assert w.value("socd_dead_letter_total", reason="processing_failed") == 1
    assert w.value("socd_events_total", input="ndr", sensor="sensor") == 3
    failed = [line for line in _logged(stream) if line["event.action"] == "processing_failed"]
    assert len(failed) == 1
    assert {k: failed[0]["socd"][k] for k in ("topic", "partition", "offset")} == {
        "topic": TOPIC, "partition": 0, "offset": 1}
    assert failed[0]["error.type"] == "RuntimeError"
    assert failed[0]["log.level"] == "error" and "Traceback" in str(failed[0]["error.stack_trace"])


@pytest.mark.parametrize(("fails", "max_attempts", "dead_lettered"), [
    (0, 1, False), (1, 1, False), (2, 1, True), (1, 3, False), (3, 3, False), (4, 3, True),
    (9, 5, True)])
async def test_a_record_is_tried_max_attempts_times(fails: int, max_attempts: int,
                                                    dead_lettered: bool) -> None:
    """A record whose processing raises ``fails`` times in a row: the first time in its
    whole batch (which says not which record raised), then in max_attempts tries of its own
    at most; indexed when one succeeds, else dead-lettered."""
    processor = FakeProcessor(flaky={1: fails})
    w = Wired(processor=processor, limits=Limits(max_attempts=max_attempts))
    w.delivery.launch(w.delivery._process(records(0, 3)))
    await w.delivery.drain()
    assert ("0-1" not in w.documents.durable) is dead_lettered
    assert [d.reason for d in w.letters.sent] == (["processing_failed"] if dead_lettered else [])
    assert processor.alone.get(1, 0) == (min(fails, max_attempts) if fails else 0)
    assert sorted(w.documents.durable) == (["0-0", "0-2"] if dead_lettered
                                           else ["0-0", "0-1", "0-2"])
    assert w.source.committed() == {(TOPIC, 0): 3}


async def test_a_socd_error_from_processing_is_not_a_poison_message() -> None:
    """A SocdError is socd's own verdict (not a defect for one input): it surfaces."""

    class Refusing(FakeProcessor):
        def process(self, records: Iterable[Record]) -> Batch:
            raise SocdError("rules gone")

    w = Wired(processor=Refusing())
    with pytest.raises(SocdError, match="rules gone"):
        w.delivery._process(records(0, 1))
    assert w.letters.sent == []


# ------------------------------------------------------------------ telemetry


async def test_in_flight_events_and_bytes_rise_then_fall_to_zero_when_durable() -> None:
    """Two batches in flight: the gauges hold their events and bulk body bytes until they
    are durable; then 0, and the commit is observed in the histogram."""
    w = Wired(documents=FakeDocuments(hold=True))
    first, second = batch_of(0, 3), batch_of(3, 2)
    body_bytes = sum(len(a.body) for b in (first, second) for a in b.actions)
    w.delivery.launch(first)
    w.delivery.launch(second)
    assert w.value("socd_in_flight_events") == 5
    assert w.value("socd_in_flight_bytes") == body_bytes
    await until(lambda: len(w.documents.calls) == 2)
    await w.delivery.commit_finished()  # nothing durable: nothing committed, nothing observed
    assert w.value("socd_offset_commit_duration_seconds_count") == 0
    await until(lambda: len(w.documents.calls) == 2)
    w.documents.release_all()
    await w.delivery.drain()
    assert len(w.documents.durable) == 5
    assert w.value("socd_in_flight_events") == w.value("socd_in_flight_bytes") == 0
    assert w.source.commits == [{(TOPIC, 0): 5}]
    assert w.value("socd_offset_commit_duration_seconds_count") == 1
    assert w.value("socd_offset_commits_total") == 1


async def test_a_failed_delivery_leaves_nothing_in_flight() -> None:
    """A delivery that raises is no longer in flight (its batch is read again later)."""
    w = Wired(documents=FakeDocuments(hold=True))
    w.delivery.launch(batch_of(0, 2))
    assert w.value("socd_in_flight_events") == 2
    await until(lambda: len(w.documents.calls) == 1)
    w.documents.calls[0].release(SocdError("refused"))
    await asyncio.wait(w.delivery.in_flight)
    await asyncio.sleep(0)
    assert w.value("socd_in_flight_events") == w.value("socd_in_flight_bytes") == 0


async def test_the_first_durable_document_is_logged_once() -> None:
    """``first_document_indexed`` once, however many batches follow."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    w = Wired()
    for first in (0, 2):
        w.delivery.launch(batch_of(first, 2))
    await w.delivery.drain()
    assert [line["message"] for line in _logged(stream)].count("first_document_indexed") == 1
    assert w.delivery.first_indexed_at is not None
