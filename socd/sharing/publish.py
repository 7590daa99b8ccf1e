"""Publishing sightings to ``sharing.topic``, in a Kafka transaction where the broker has them.

Each shared threat is one message: key = the sighting id, value = a STIX 2.1 bundle (see
``docs/sharing.md``). Delivery (:mod:`socd.delivery`) publishes a batch's sightings once its
documents are durable and before its offsets are committed, so a sighting is never lost:

* **Transactional** (``sharing.transactional``: ``auto`` where the broker supports
  transactions, or ``true``): the sightings of a batch and the consumer offsets up to that
  batch are written in one Kafka transaction (``send_offsets_to_transaction``, KIP-98). A
  consumer of ``sharing.topic`` with ``isolation.level=read_committed`` sees each sighting
  once, even when socd dies mid-way: an unfinished transaction is aborted (by the broker's
  transaction timeout, or at once when socd starts again with the same
  ``transactional.id``), and the batch is read and published again.
* **Not transactional** (``false``, or ``auto`` on a broker without transactions, logged
  as ``sharing_transactions_unavailable``): sightings are sent with ``acks=all`` and the
  offsets committed afterwards. A crash between the two publishes the batch's sightings
  again on restart, with the same ids and bytes: receivers deduplicate by sighting id.

While the topic cannot take a message, publishing is retried with backoff (at most
:data:`BACKOFF_MAX_S` apart) until it can, or until socd is stopped; delivery meanwhile
pauses the input partitions as it does while Elasticsearch is down. Raises
:class:`~socd.errors.SharingError` only for what retrying cannot mend (another process
took over the ``transactional.id``: :class:`~socd.errors.SharingRefused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)

from socd.config import Config
from socd.errors import SharingError, SharingRefused
from socd.event import IndexAction
from socd.sharing.stix import Sighting, SightingBuilder
from socd.source.kafka import client_options, unreachable
from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics

log = get_logger("socd.sharing")

Partition = tuple[str, int]

REQUEST_TIMEOUT_S = 15.0
"""How long one send or transaction step may take before it is tried again."""
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
"""Longest wait between two attempts while the topic cannot take the sightings."""
_CANCELLED_STOP_S = 1.0
"""How long a producer whose start or stop was interrupted may take to close."""


def transactional_id(config: Config) -> str:
    """``sharing.transactional_id``, or ``<kafka.group_id>.sharing.<host name>``: stable
    across restarts of one process (so that a restart fences its crashed predecessor and
    aborts its unfinished transaction), different between hosts."""
    return config.sharing.transactional_id or (
        f"{config.kafka.group_id}.sharing.{socket.gethostname()}")


class SightingPublisher:
    """start() once (it decides whether to use transactions), publish() per batch, stop().

    ``transactional`` is known after :meth:`start`.
    """

    def __init__(self, config: Config, metrics: Metrics, *,
                 request_timeout_s: float = REQUEST_TIMEOUT_S,
                 backoff_max_s: float = BACKOFF_MAX_S) -> None:
        self._config = config
        self._metrics = metrics
        self._builder = SightingBuilder(config.sharing)
        self.topic = config.sharing.topic
        self._mode = config.sharing.transactional
        self.transactional_id = transactional_id(config)
        self._timeout_s = request_timeout_s
        self._backoff_max_s = backoff_max_s
        self._producer: AIOKafkaProducer | None = None
        self.transactional = False

    # ------------------------------------------------------------------ life cycle

    def _new_producer(self, transactional: bool) -> AIOKafkaProducer:
        options: dict[str, Any] = {
            **client_options(self._config.kafka), "acks": "all",
            "request_timeout_ms": int(self._timeout_s * 1000),
            "max_request_size": max(self._config.kafka.max_message_bytes, 1_048_576) * 2,
        }
        if transactional:
            options.update(transactional_id=self.transactional_id, enable_idempotence=True)
        return AIOKafkaProducer(**options)

    async def start(self) -> None:
        """Start the producer. With ``transactional: auto``, a broker that refuses
        transactions (other than by being unreachable) leaves socd without them, logged as
        ``sharing_transactions_unavailable``. Raises :class:`SharingError` when Kafka
        cannot be reached, or when ``transactional: true`` and the broker refuses them."""
        if self._mode is not False:
            try:
                with _quiet_probe():
                    self._producer = await self._start(self._new_producer(True))
                self.transactional = True
            except KafkaError as exc:
                if self._mode is True or isinstance(exc, TransactionalIdAuthorizationFailed):
                    raise SharingRefused(
                        f"sharing.transactional is {self._mode}, but Kafka refused the "
                        f"transactional producer {self.transactional_id!r}: "
                        f"{_describe(exc)}; grant the principal Write and Describe on this "
                        "transactional id (TransactionalId ACL), or set "
                        "sharing.transactional: false") from exc
                log.warning("sharing_transactions_unavailable", error=_describe(exc),
                            topic=self.topic, consequence=(
                                "sightings are published before the offsets are committed: "
                                "after a crash, a batch's sightings may be published again "
                                "(same ids)"))
        if self._producer is None:
            self._producer = await self._start(self._new_producer(False))
        log.info("sharing_ready", topic=self.topic, transactional=self.transactional,
                 transactional_id=self.transactional_id if self.transactional else None)

    async def _start(self, producer: AIOKafkaProducer) -> AIOKafkaProducer:
        try:
            await producer.start()
        except KafkaConnectionError as exc:
            await _close(producer)
            raise SharingError(await unreachable(
                self._config.kafka, exc, f"the producer of the sharing topic {self.topic!r}")
            ) from exc
        except BaseException:
            await _close(producer)
            raise
        return producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _close(producer, timeout_s=self._timeout_s)

    # ------------------------------------------------------------------ publishing

    def sightings(self, actions: Sequence[IndexAction]) -> list[Sighting]:
        """The sighting of each threat document, in order. A document whose sighting cannot
        be built (a defect) is left out, logged as ``sharing_failed`` with its id and
        counted in ``socd_sharing_failures_total``: it stays indexed, and delivery goes on."""
        built: list[Sighting] = []
        for action in actions:
            try:
                built.append(self._builder.build(action.document(), action.doc_id))
            except Exception as exc:
                self._metrics.sharing_failures.inc()
                log.error("sharing_failed", document_id=action.doc_id, index=action.index,
                          error=_describe(exc), exc_info=exc)
        return built

    async def publish(self, sightings: Sequence[Sighting],
                      offsets: Mapping[Partition, int] | None = None) -> None:
        """Return once every sighting is acknowledged by Kafka (``acks=all``) and, when
        :attr:`transactional`, the transaction holding them and ``offsets`` (the input
        offsets to commit with them, for ``kafka.group_id``) is committed. Tried again
        with backoff for as long as it takes; cancellation stops it. Raises
        :class:`SharingError` when another process took over the transactional id."""
        if not sightings and not offsets:
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.transactional:
                    await self._transaction(sightings, offsets or {})
                else:
                    await self._send(sightings)
            except ProducerFenced as exc:
                raise SharingRefused(
                    f"another process uses sharing.transactional_id "
                    f"{self.transactional_id!r} and took it over: give every socd process "
                    "its own sharing.transactional_id") from exc
            except (KafkaError, TimeoutError) as exc:
                wait = min(self._backoff_max_s, BACKOFF_MIN_S * 2 ** min(attempt - 1, 16))
                wait = random.uniform(wait / 2, wait)
                log.warning("sharing_unavailable", topic=self.topic, attempt=attempt,
                            sightings=len(sightings), error=_describe(exc),
                            retry_in_s=round(wait, 2))
                await self._recover()
                await asyncio.sleep(wait)
                continue
            if attempt > 1:
                log.info("sharing_resumed", topic=self.topic, attempts=attempt)
            return

    async def _send(self, sightings: Sequence[Sighting]) -> None:
        producer = self._started()
        futures = [await producer.send(self.topic, value=s.value, key=s.id.encode(),
                                       headers=s.headers) for s in sightings]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout_s)

    async def _transaction(self, sightings: Sequence[Sighting],
                           offsets: Mapping[Partition, int]) -> None:
        producer = self._started()
        await asyncio.wait_for(producer.begin_transaction(), timeout=self._timeout_s)
        for sighting in sightings:
            await producer.send(self.topic, value=sighting.value, key=sighting.id.encode(),
                                headers=sighting.headers)
        if offsets:
            await asyncio.wait_for(producer.send_offsets_to_transaction(
                {TopicPartition(topic, partition): offset
                 for (topic, partition), offset in offsets.items()},
                self._config.kafka.group_id), timeout=self._timeout_s)
        # Not bounded: a commit whose wait was cut short may still complete on the broker,
        # and publishing again would then show those sightings twice. aiokafka retries it
        # until the coordinator answers; a stop request cancels the wait (the transaction
        # is then aborted when socd starts again, and the batch read again).
        await producer.commit_transaction()

    async def _recover(self) -> None:
        """After a failed attempt in a transaction: start a new producer with the same
        transactional id. Its registration (InitProducerId) makes the coordinator abort
        the unfinished transaction, whatever state the old producer was left in."""
        if not self.transactional:
            return
        producer, self._producer = self._producer, None
        if producer is not None:
            await _close(producer, timeout_s=self._timeout_s)
        with contextlib.suppress(SharingError, KafkaError):
            self._producer = await self._start(self._new_producer(True))

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            if self.transactional:  # a restart after a failure failed: tried again
                raise KafkaConnectionError("the transactional producer could not start")
            raise RuntimeError("SightingPublisher is not started")
        return self._producer


class _ProbeRefusal(logging.Filter):
    """Drops aiokafka's error line for a refused InitProducerId: socd says what it means
    (``sharing_transactions_unavailable``, or a refusal that stops start-up)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unexpected error during InitProducerIdRequest")


@contextlib.contextmanager
def _quiet_probe() -> Iterator[None]:
    """While the transactional producer starts: aiokafka's own error line for a broker
    without transactions left out of the log."""
    sender = logging.getLogger("aiokafka.producer.sender")
    refusal = _ProbeRefusal()
    sender.addFilter(refusal)
    try:
        yield
    finally:
        sender.removeFilter(refusal)


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}{': ' + detail if detail and '<' not in detail else ''}"


async def _close(producer: AIOKafkaProducer, *, timeout_s: float = _CANCELLED_STOP_S) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), timeout=timeout_s)
