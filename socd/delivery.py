"""Delivery: fetched records made durable, and their offsets committed in fetch order.

For every batch, in this order::

    fetch ─► process ─► [correlation windows durable (``settle``)]
          ─► [dead letters acknowledged] ─► [documents durable]
          ─► rejected documents dead-lettered ─► threats counted
          ─► [sightings of the shared threats acknowledged] ─► offsets committed

What is guaranteed:

* **Nothing is committed before it is durable.** A batch's offsets are committed only once
  its dead letters are acknowledged by Kafka (``acks=all``) and each of its documents is
  indexed or, refused for good, dead-lettered as ``index_rejected``.
* **Suppressed threats counted once.** The threats of a batch under a ``suppress:`` setting
  go as one update per alert (:meth:`Delivery._requests`), carrying their offsets and the
  batch's fetched range above a *floor* per partition, the first offset of the oldest batch
  not committed: the stored script counts only offsets not counted before, so the replays
  and overtaking batches below leave every ``socd.suppression.docs_count`` exact
  (:mod:`socd.state.suppress`, docs/state.md). An alert refused for good dead-letters each
  of its threats.
* **Nothing shared is lost.** With layer-4 sharing on, a batch's offsets are committed only
  once the sightings of its indexed shared threats are acknowledged on ``sharing.topic``.
  Where the broker has transactions, they are published in one transaction with the
  offsets up to that batch (after every batch fetched before it is durable), so a
  ``read_committed`` consumer sees each sighting once (see :mod:`socd.sharing.publish`).
* **Commits follow fetch order.** Up to ``elasticsearch.max_in_flight`` batches are
  delivered at once and may finish in any order; the offsets of a batch are committed only
  with or after those of every batch fetched before it.
* **A failed batch stops delivery.** When a batch cannot be made durable (the dead-letter
  topic refuses writes, an unexpected error), nothing fetched after it is committed, ever;
  the error is raised from :meth:`Delivery.run` (or :meth:`Delivery.drain`) and socd stops.
  The next start reads that batch again.
* **Revocation**: before a rebalance takes partitions away (:meth:`Delivery.drain`, called
  by the source), every batch in flight is finished and committed.
* **Stop**: once ``stopping`` is set, nothing more is fetched; the batch being gathered is
  handed to delivery, and :meth:`Delivery.drain` finishes and commits everything in flight
  (the daemon bounds that wait: see :mod:`socd.app`).
* **Stall**: fetching waits while every slot is busy, or while the events or bytes in
  flight are at their bounds (``delivery.max_in_flight_events``, ``.max_in_flight_bytes``).
  A wait longer than :data:`STALL_S` (Elasticsearch slow or down) pauses the partitions and
  goes on polling, so that the consumer stays in its group; fetching resumes once the
  oldest batch is durable. Records a poll returns meanwhile (from partitions a rebalance has
  just assigned) are delivered, never dropped.
* **A message whose processing raises** (socd's defect for that input, not a bad message)
  never blocks its partition: the batch is processed again one message at a time, each
  message that raises is tried ``delivery.max_attempts`` times, then dead-lettered as
  ``processing_failed`` with the exception's type and message, and delivery goes on.

What is not guaranteed:

* **Exactly once.** Delivery is at least once: a batch durable but not yet committed when
  socd dies, a commit lost to a rebalance, or a drain cut off at shutdown is read and
  delivered again. The duplicates are absorbed by deterministic document ids
  (:func:`socd.pipeline.document_id`): the second ``create`` finds the first document and
  leaves it as it is. Without transactions, sightings are published again too, with the
  same ids and bytes, for the receiver to deduplicate. Dead letters
  and ``socd_threats_total`` have no such ids and may count a replayed message twice.
* **Memory exactly at the bounds.** The bounds are checked before each fetch, so one fetch
  (``kafka.max_batch`` records) and the batch being gathered may go past them.
* **Side effects of processing once**, beyond correlation windows: a message processed
  again (a replay, or a batch processed one message at a time after an error) meets the
  rules again. Correlation windows do not count it twice: the ``settle`` step (run on each
  processed batch, in fetch order, before it is launched: :mod:`socd.state.settle`) keeps
  them in Elasticsearch with the offsets they counted, and a replayed event gets the
  verdict it got the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from socd.config import Config
from socd.errors import SocdError
from socd.event import DeadLetter, IndexAction, Record
from socd.pipeline import Batch, Partition
from socd.sinks.elasticsearch import Rejected
from socd.state.suppress import aggregate
from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from socd.sharing.stix import Sighting

log = get_logger("socd.delivery")

FETCH_TIMEOUT_MS = 500
"""How long one fetch waits for records when nothing is being gathered."""
LINGER_S = 0.05
"""How long a bulk request may wait for more documents from further fetches."""
STALL_S = 10.0
"""How long fetching may wait for delivery before the partitions are paused."""
POLL_WHILE_PAUSED_S = 1.0
"""While paused, how often the consumer polls (which keeps it in its group)."""


class Source(Protocol):
    """Where records come from: :class:`socd.source.kafka.KafkaSource`."""

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        """The next records of the assigned partitions, in offset order per partition, at
        most ``max_records`` (None: the source's own limit); may be empty after
        ``timeout_ms`` milliseconds. Raises :class:`~socd.errors.SinkError`."""
        ...

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """Commit ``(topic, partition) → next offset to read``; False when a rebalance took
        the partitions away meanwhile. Raises :class:`~socd.errors.SinkError`."""
        ...

    def pause(self, paused: bool) -> None:
        """Stop (True) or resume (False) fetching from every assigned partition; a paused
        source still answers :meth:`fetch` (empty, or records of newly assigned partitions)."""
        ...


class DocumentSink(Protocol):
    """Where threat documents go: :class:`socd.sinks.elasticsearch.ElasticsearchSink`."""

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        """Make every document durable, retrying what can be retried for as long as it
        takes; return those refused for good, with why. Raises
        :class:`~socd.errors.SinkError` when it gives up."""
        ...


class LetterSink(Protocol):
    """Where unusable messages go: :class:`socd.sinks.dead_letter.DeadLetterSink`."""

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Return once every letter is acknowledged; else raise
        :class:`~socd.errors.DeadLetterUnavailable`."""
        ...


class SightingSink(Protocol):
    """Where shared threats go: :class:`socd.sharing.publish.SightingPublisher`."""

    transactional: bool
    """Whether :meth:`publish` commits the offsets it is given with the sightings."""

    def sightings(self, actions: Sequence[IndexAction]) -> list[Sighting]:
        """The sighting of each document (one that cannot be built is left out, said)."""
        ...

    async def publish(self, sightings: Sequence[Sighting],
                      offsets: Mapping[Partition, int] | None = None) -> None:
        """Return once every sighting is acknowledged (and, when :attr:`transactional`,
        committed with ``offsets`` in one transaction); tried again for as long as it
        takes. Raises :class:`~socd.errors.SharingError` when it cannot go on."""
        ...


class Processor(Protocol):
    """Records → documents and dead letters: :class:`socd.pipeline.Pipeline`."""

    def process(self, records: Iterable[Record]) -> Batch:
        """One batch; an exception other than :class:`~socd.errors.SocdError` is a defect
        for some record (see :meth:`Delivery._process`)."""
        ...

    def connector_of(self, topic: str) -> str:
        """The connector of the topic's input ("" for none): a dead letter's origin."""
        ...

    def counted_as(self, topic: str) -> tuple[str, str] | None:
        """(input, sensor) of the topic's events in ``socd_events_total``; None for none."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    """How much delivery may hold: batches (``slots``), events and body bytes in flight;
    documents per bulk request; attempts at a message whose processing raises."""

    slots: int = 2
    bulk_max_docs: int = 2000
    max_events: int = 20_000
    max_bytes: int = 64 * 1024 * 1024
    max_attempts: int = 3

    @classmethod
    def of(cls, config: Config) -> Limits:
        """``elasticsearch.max_in_flight``, ``.bulk_max_docs`` and ``delivery.*``."""
        return cls(slots=config.elasticsearch.max_in_flight,
                   bulk_max_docs=config.elasticsearch.bulk_max_docs,
                   max_events=config.delivery.max_in_flight_events,
                   max_bytes=config.delivery.max_in_flight_bytes,
                   max_attempts=config.delivery.max_attempts)


@dataclass(slots=True)
class _InFlight:
    offsets: dict[Partition, int]
    first: dict[Partition, int]
    """The first offset the batch read of each partition."""
    task: asyncio.Task[None] = field(init=False)
    committed: bool = False
    """Its offsets were committed in a sharing transaction: not to be committed again."""


class Delivery:
    """The fetch loop (:meth:`run`) and the ordered commits of what it delivers.

    ``stopping`` is the daemon's stop request: :meth:`run` returns once it is set, and
    delivery sets it itself when a batch fails. ``stall_s`` is :data:`STALL_S` unless a
    test shortens it.
    """

    def __init__(self, source: Source, documents: DocumentSink, letters: LetterSink,
                 processor: Processor, metrics: Metrics, limits: Limits,
                 stopping: asyncio.Event, *, sharing: SightingSink | None = None,
                 stall_s: float = STALL_S,
                 settle: Callable[[Batch], Awaitable[None]] | None = None) -> None:
        """``settle``: called on each processed batch, in fetch order, before it is
        delivered (the correlation windows: :class:`socd.state.settle.Settler`)."""
        self._settle = settle
        self._source = source
        self._documents = documents
        self._letters = letters
        self._sharing = sharing
        self._processor = processor
        self._metrics = metrics
        self._limits = limits
        self._stopping = stopping
        self._stall_s = stall_s
        self._in_flight: deque[_InFlight] = deque()
        self._events = 0
        """Events of the batches launched and not yet finished."""
        self._bytes = 0
        """Bulk body bytes of the batches launched and not yet finished."""
        self._commit_lock = asyncio.Lock()
        """Held by each commit, consumer or transactional: commits never overtake each other."""
        self.failure: BaseException | None = None
        """The error of the first batch that failed; nothing after it is ever committed."""
        self.first_indexed_at: float | None = None
        """``time.monotonic()`` when the first document became durable."""
        self._turned_at = time.monotonic()
        self._waits = 0

    @property
    def in_flight(self) -> list[asyncio.Task[None]]:
        """The deliveries not yet committed, oldest first (the daemon cancels those left
        when the drain is cut off)."""
        return [pending.task for pending in self._in_flight]

    # ------------------------------------------------------------------ progress

    def stuck_for(self, now: float) -> float:
        """Seconds (``time.monotonic()`` clock) since the fetch loop last turned or ended a
        wait by design; 0 while in such a wait, however long: a fetch (a rebalance holds it
        as long as the group takes), a commit (Kafka down: aiokafka retries until it
        answers), a settle (the correlation windows in Elasticsearch, retried while it is
        down), a stall (Elasticsearch slow or down: deliveries retry with backoff, the
        partitions are paused), a drain (the same deliveries). Those waits are left to the
        clients' own timeouts and retries; what grows this is the fetch loop held anywhere
        else. The systemd watchdog reads it (:mod:`socd.app`)."""
        return 0.0 if self._waits else max(now - self._turned_at, 0.0)

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[None]:
        """A wait by design (see :meth:`stuck_for`); nests."""
        self._waits += 1
        try:
            yield
        finally:
            self._waits -= 1
            self._turned_at = time.monotonic()

    # ------------------------------------------------------------------ the fetch loop

    async def run(self) -> None:
        """Fetch, process, and hand batches to delivery until ``stopping`` is set,
        gathering small fetches into one bulk request of up to ``bulk_max_docs`` documents
        (waiting at most LINGER_S). While a batch is being gathered, a fetch takes at most
        the records that still fit it, so that a request does not grow past
        ``bulk_max_docs`` by most of a fetch. Raises the error of a failed batch."""
        target = self._limits.bulk_max_docs
        pending: Batch | None = None
        pending_since = 0.0
        while not self._stopping.is_set():
            self._turned_at = time.monotonic()
            if not self._commit_lock.locked():  # a sharing transaction may hold it long
                await self.commit_finished()
            if self._full():
                await self._wait_for_slot()
                continue
            if pending is None:
                records = await self._fetch_unless_stopping(FETCH_TIMEOUT_MS)
            else:
                records = await self._fetch_unless_stopping(
                    int(LINGER_S * 1000), target - len(pending.actions))
            if records:
                batch = await self._processed(records)
                if pending is None:
                    pending, pending_since = batch, time.monotonic()
                else:
                    pending.merge(batch)
            if pending is not None and (not records or len(pending.actions) >= target
                                        or time.monotonic() - pending_since >= LINGER_S):
                self.launch(pending)
                pending = None
        if pending is not None:  # processed: deliver it, so that the drain commits it
            self.launch(pending)
        log.info("fetching_stopped", in_flight=len(self._in_flight))

    def _full(self) -> bool:
        """Every slot busy, or the events or bytes in flight at their bound."""
        limits = self._limits
        return bool(self._in_flight) and (
            len(self._in_flight) >= limits.slots or self._events >= limits.max_events
            or self._bytes >= limits.max_bytes)

    async def _wait_for_slot(self) -> None:
        """Wait for the oldest batch in flight. Past ``stall_s`` (Elasticsearch slow or
        down), pause the partitions and poll, so that the consumer stays in its group.
        Pausing makes aiokafka discard what it prefetched, which is why it is not done at
        once."""
        with self._waiting():
            await self._wait_for_head()

    async def _wait_for_head(self) -> None:
        head = self._in_flight[0].task
        stop = asyncio.ensure_future(self._stopping.wait())
        try:  # a stop request ends the wait: the drain takes over
            await asyncio.wait({head, stop}, timeout=self._stall_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if head.done() or self._stopping.is_set():
            return
        log.warning("delivery_stalled", seconds=self._stall_s, in_flight=len(self._in_flight),
                    in_flight_events=self._events, in_flight_bytes=self._bytes)
        stalled = time.monotonic()
        self._metrics.partition_pauses.inc()
        self._metrics.paused.set(1)
        try:
            while not head.done() and not self._stopping.is_set():
                self._source.pause(True)
                records = await self._fetch_unless_stopping(0)
                if records:  # from partitions a rebalance has just assigned: never dropped
                    self.launch(await self._processed(records))
                await asyncio.wait({head}, timeout=POLL_WHILE_PAUSED_S)
            self._source.pause(False)
        finally:
            self._metrics.paused.set(0)
        if head.done():
            log.info("delivery_resumed", stalled_seconds=round(
                self._stall_s + time.monotonic() - stalled, 1), in_flight=len(self._in_flight))

    async def _fetch_unless_stopping(self, timeout_ms: int,
                                     max_records: int | None = None) -> list[Record]:
        """A fetch that a stop request interrupts: while a rebalance is pending, aiokafka's
        fetch waits for the new assignment however long the broker takes."""
        fetch = asyncio.ensure_future(self._source.fetch(timeout_ms, max_records))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            with self._waiting():
                await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            return []
        return fetch.result()

    # ------------------------------------------------------------------ processing

    async def _processed(self, records: list[Record]) -> Batch:
        """:meth:`_process`, then the batch settled (its correlation windows durable) when a
        ``settle`` step is given."""
        batch = self._process(records)
        if self._settle is not None:
            with self._waiting():  # windows in Elasticsearch: retried while it is down
                await self._settle(batch)
        return batch

    def _process(self, records: list[Record]) -> Batch:
        """The batch of ``records``, its events counted. When processing raises (a defect,
        not a :class:`~socd.errors.SocdError`, which is raised), the records are processed
        again one at a time (see :meth:`_process_one`)."""
        try:
            batch = self._processor.process(records)
        except SocdError:
            raise
        except Exception:
            batch = Batch()
            for record in records:
                batch.merge(self._process_one(record))
        self._metrics.consumed(batch.events, time.time())
        return batch

    def _process_one(self, record: Record) -> Batch:
        """One record, tried ``max_attempts`` times; then a ``processing_failed`` dead letter
        with the last exception's type and message (logged once, with its traceback)."""
        error: Exception | None = None
        for _ in range(self._limits.max_attempts):
            try:
                return self._processor.process([record])
            except SocdError:
                raise
            except Exception as exc:
                error = exc
        assert error is not None
        detail = f"{type(error).__name__}: {error}"
        log.error("processing_failed", topic=record.topic, partition=record.partition,
                  offset=record.offset, attempts=self._limits.max_attempts,
                  error_type=type(error).__name__, error=str(error), exc_info=error)
        batch = Batch(dead=[DeadLetter(record, "processing_failed", detail,
                                       self._processor.connector_of(record.topic))],
                      offsets={(record.topic, record.partition): record.offset + 1},
                      first={(record.topic, record.partition): record.offset})
        counted = self._processor.counted_as(record.topic)
        if counted is not None:
            batch.events[counted] += 1
        return batch

    # ------------------------------------------------------------------ delivering

    def launch(self, batch: Batch) -> None:
        """Start making ``batch`` durable; its offsets join the commit queue behind those
        of every batch launched before."""
        events = sum(batch.events.values())
        entry = _InFlight(batch.offsets, batch.first)
        actions = self._requests(batch, entry)
        # the threats' own bodies stay held by an alert's update (its members) too
        body_bytes = sum(len(action.body) for action in batch.actions) + sum(
            len(action.body) for action in actions if action.members)
        task = entry.task = asyncio.create_task(
            self._deliver(batch, actions, entry, list(self._in_flight)))
        self._in_flight.append(entry)
        self._events += events
        self._bytes += body_bytes
        self._metrics.delivery_started(events, body_bytes)

        def ended(_: asyncio.Task[None]) -> None:
            self._events -= events
            self._bytes -= body_bytes
            self._metrics.delivery_ended(events, body_bytes)

        task.add_done_callback(ended)

    def _requests(self, batch: Batch, entry: _InFlight) -> list[IndexAction]:
        """The batch's bulk items: its threats, those under suppression gathered into one
        update per alert (:func:`socd.state.suppress.aggregate`). Their floor, per
        partition, is the first offset of the oldest batch not committed (``entry`` is in
        the queue behind those): everything below it is durable in every alert."""
        if not any(action.suppress is not None for action in batch.actions):
            return batch.actions
        floors: dict[Partition, int] = dict(batch.first)
        for pending in (*self._in_flight, entry):
            for position, offset in pending.first.items():
                if position in floors and offset < floors[position]:
                    floors[position] = offset
        return aggregate(batch.actions, floors, batch.fetched())

    async def _deliver(self, batch: Batch, actions: list[IndexAction], entry: _InFlight,
                       ahead: list[_InFlight]) -> None:
        """Make one batch durable: dead letters, documents (``actions``: its bulk items,
        see :meth:`_requests`), then the threats refused for good as ``index_rejected``
        dead letters; count the threats indexed and the alerts created; then share those
        indexed that are to be shared. ``ahead``: the batches launched before it."""
        await self._send_dead(batch.dead)
        if not actions:
            return
        started = time.monotonic()
        rejected = await self._documents.index(actions)
        self._metrics.bulk_seconds.observe(time.monotonic() - started)
        refused = {id(action) for action, _ in rejected}
        await self._send_dead([
            DeadLetter(threat.record, "index_rejected", why,
                       self._processor.connector_of(threat.record.topic))
            for action, why in rejected for threat in action.threats()])
        indexed = [action for action in actions if id(action) not in refused]
        threats = [threat for action in indexed for threat in action.threats()]
        counts = Counter(threat.labels for threat in threats)
        for (threat_class, layer, sensor), count in counts.items():
            self._metrics.threats.labels(
                **{"class": threat_class, "layer": layer, "sensor": sensor}).inc(count)
        alerts = Counter(action.labels for action in indexed if action.created)
        for (threat_class, layer, sensor), count in alerts.items():
            self._metrics.alerts.labels(
                **{"class": threat_class, "layer": layer, "sensor": sensor}).inc(count)
        if self.first_indexed_at is None and indexed:
            self.first_indexed_at = time.monotonic()
            log.info("first_document_indexed")
        if self._sharing is not None:
            chosen = [threat for threat in threats if threat.share]
            if chosen:
                await self._share(self._sharing, self._sharing.sightings(chosen), entry, ahead)

    async def _share(self, sharing: SightingSink, sightings: list[Sighting], entry: _InFlight,
                     ahead: list[_InFlight]) -> None:
        """Publish the batch's sightings. In a transaction, with the offsets of this batch
        and of every batch before it not yet committed: so it waits for those batches to
        be durable, and holds the commit lock meanwhile (no commit may overtake it, nor
        land after it with older offsets)."""
        if not sightings:
            return
        if not sharing.transactional:
            await sharing.publish(sightings)
        else:
            waiting = [earlier.task for earlier in ahead if not earlier.task.done()]
            if waiting:
                await asyncio.wait(waiting)
            if any(earlier.task.cancelled() or earlier.task.exception() is not None
                   for earlier in ahead):
                raise SocdError("a batch fetched before this one was not made durable: its "
                                "sightings are published when it is read again")
            async with self._commit_lock:
                covered = []
                offsets: dict[Partition, int] = {}
                for pending in self._in_flight:  # oldest first: newer offsets win
                    covered.append(pending)
                    if not pending.committed:
                        offsets.update(pending.offsets)
                    if pending is entry:
                        break
                started = time.monotonic()
                await sharing.publish(sightings, offsets)
                for pending in covered:
                    pending.committed = True
                self._committed(started)
        for sighting in sightings:
            self._metrics.shared.labels(
                **{"class": sighting.threat_class, "layer": sighting.layer}).inc()

    async def _send_dead(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        await self._letters.send(letters)
        for letter in letters:
            self._metrics.dead_letters.labels(reason=letter.reason).inc()

    # ------------------------------------------------------------------ committing

    async def commit_finished(self) -> None:
        """Commit the offsets of the finished batches at the head of the queue (none past
        an unfinished one). Raises the error of a failed batch, then and every time after."""
        async with self._commit_lock:  # commits must not overtake each other
            offsets: dict[Partition, int] = {}
            while self.failure is None and self._in_flight and self._in_flight[0].task.done():
                head = self._in_flight.popleft()
                error = (SocdError("a delivery was cancelled before its batch was durable")
                         if head.task.cancelled() else head.task.exception())
                if error is not None:
                    self.failure = error
                    self._stopping.set()
                elif not head.committed:
                    offsets.update(head.offsets)
            if self.failure is not None:  # what was durable before it is still committed
                await self._commit(offsets)
                error = self.failure
                if isinstance(error, SocdError):
                    raise error
                raise SocdError(f"{type(error).__name__}: {error}") from error
            await self._commit(offsets)

    async def _commit(self, offsets: dict[Partition, int]) -> None:
        if not offsets:
            return
        started = time.monotonic()
        with self._waiting():  # Kafka down: aiokafka retries until the coordinator answers
            await self._source.commit(offsets)
        self._committed(started)

    def _committed(self, started: float) -> None:
        self._metrics.commit_seconds.observe(time.monotonic() - started)
        self._metrics.commits.inc()
        self._metrics.last_commit.set(time.time())

    async def drain(self) -> None:
        """Finish every batch in flight and commit (shutdown, and before a rebalance takes
        partitions away). Raises the error of a failed batch."""
        if self._in_flight:
            with self._waiting():
                await asyncio.wait(self.in_flight)
        await self.commit_finished()
