"""The Kafka source: one aiokafka consumer in a consumer group over every input's topic.

Auto-commit is off. The daemon commits ``offset + 1`` per partition once everything before
it is durable (indexed or dead-lettered), and again, after draining, before partitions are
revoked in a rebalance. aiokafka's errors are translated into :class:`~socd.errors.SinkError`
here; nothing past this module sees them. :meth:`KafkaSource.lag` measures the consumer lag
of the partitions socd owns (see :mod:`socd.source.lag`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    AuthenticationFailedError,
    CommitFailedError,
    InvalidSessionTimeoutError,
    KafkaError,
    SaslAuthenticationFailed,
)

from socd.config import KafkaConfig
from socd.errors import ConfigError, Problem, SinkError
from socd.event import Record
from socd.source.lag import LagMeter
from socd.telemetry.logging import get_logger
from socd.tls import TlsFileError, kafka_context, tls_reason

log = get_logger("socd.source")

Partition = tuple[str, int]
Offsets = Mapping[Partition, int]
"""(topic, partition) → the next offset to read (last processed + 1)."""


def client_options(cfg: KafkaConfig) -> dict[str, Any]:
    """aiokafka connection settings shared by the consumer and the producers: the brokers,
    ``security_protocol``, an SSL context for SSL and SASL_SSL (:func:`socd.tls.kafka_context`)
    and, for SASL_PLAINTEXT and SASL_SSL, the mechanism, user and password (aiokafka takes
    them as ``sasl_plain_username``/``sasl_plain_password`` for SCRAM too).

    Raises ConfigError when a TLS file cannot be loaded (``check-config`` reports it first).
    """
    options: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers,
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        try:
            options["ssl_context"] = kafka_context(cfg)
        except TlsFileError as exc:
            raise ConfigError([Problem(None, exc.message, key=exc.key)]) from None
    if cfg.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL") and cfg.sasl_mechanism:
        password = cfg.sasl_password.get_secret_value() if cfg.sasl_password else None
        options.update(sasl_mechanism=cfg.sasl_mechanism,
                       sasl_plain_username=cfg.sasl_username,
                       sasl_plain_password=password)
    return options


START_FAILURES: tuple[type[Exception], ...] = (KafkaError, KeyError)
"""What a Kafka client's ``start()`` raises when it cannot start, for :func:`unreachable`:
aiokafka's errors, and the KeyError of aiokafka 0.14's SCRAM client when the broker ends
the exchange with an error (RFC 5802 §7 ``e=``: an unknown user or a wrong password)
instead of its signature ``v=``."""

_PROBE_TIMEOUT_S = 3.0
"""How long :func:`unreachable` waits for one broker's TCP connection before saying so."""
_ALERT_WAIT_S = 0.5
"""How long a TLS probe waits for the broker's alert after the handshake."""


def os_reason(exc: BaseException) -> str:
    """``exc`` (a connection's failure) in plain words, without Python reprs."""
    if isinstance(exc, socket.gaierror):
        return "the name could not be resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return type(exc).__name__


class _TlsReason(str):
    """A reason of :func:`_probe` that is the TLS handshake's: the broker was reached."""

    __slots__ = ()


async def _probe(server: str, timeout_s: float,
                 context: ssl.SSLContext | None = None) -> str | None:
    """Why a TCP connection to ``server`` (HOST:PORT) fails, or None when it opens (with
    ``context``: a TLS connection, whose failure names the TLS setting to check)."""
    host, _, port = server.rpartition(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host.strip("[]"), int(port), ssl=context), timeout_s)
    except ssl.SSLCertVerificationError as exc:
        return _TlsReason(
            f"its TLS certificate is not trusted ({exc.verify_message or 'verify failed'}): "
            "set kafka.ssl_cafile to the CA that signed the brokers' certificates (and check "
            "kafka.ssl_check_hostname)")
    except ssl.SSLError as exc:
        return _TlsReason(
            f"the TLS handshake failed ({tls_reason(exc)}): check kafka.security_protocol (the "
            "listener may not speak TLS, or may require a client certificate: "
            "kafka.ssl_certfile and kafka.ssl_keyfile)")
    except ConnectionResetError:
        if context is None:
            return "the connection was reset"
        return _TlsReason(
            "the broker closed the connection during the TLS handshake: it may require a "
            "client certificate (kafka.ssl_certfile and kafka.ssl_keyfile) or not speak TLS")
    except (OSError, TimeoutError) as exc:
        return os_reason(exc)
    if context is not None:
        # TLS 1.3: a server that requires a client certificate says so after the handshake,
        # with an alert the client reads next; a broker waiting for a request sends nothing.
        try:
            closed = await asyncio.wait_for(reader.read(1), _ALERT_WAIT_S) == b""
        except TimeoutError:
            closed = False
        except (ssl.SSLError, OSError) as exc:
            closed = True
            detail = tls_reason(exc)
        else:
            detail = "closed after the handshake"
        if closed:
            writer.close()
            return _TlsReason(
                f"the broker ended the TLS connection ({detail}): it requires a client "
                "certificate it trusts: set kafka.ssl_certfile and kafka.ssl_keyfile")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def unreachable(cfg: KafkaConfig, exc: Exception, purpose: str) -> str:
    """One line for a Kafka client that could not start: the servers
    (``kafka.bootstrap_servers``), the reason per server in plain words, and what to check.

    ``purpose`` says which client failed ("the consumer of the input topics", "the
    dead-letter producer"). aiokafka's own error keeps no reason per broker, so each one is
    tried with a plain TCP connection (at most :data:`_PROBE_TIMEOUT_S` each); when all open,
    the failure was past the connection (TLS, SASL, protocol) and the error's kind is named.
    """
    servers = list(cfg.bootstrap_servers)
    if isinstance(exc, InvalidSessionTimeoutError):
        # The broker's answer to JoinGroup: the timeout lies outside its
        # group.min.session.timeout.ms .. group.max.session.timeout.ms (Kafka's defaults).
        return (f"cannot start {purpose}: the brokers refuse kafka.session_timeout_ms = "
                f"{cfg.session_timeout_ms}: it must lie within their "
                "group.min.session.timeout.ms and group.max.session.timeout.ms (6000 and "
                "1800000 by default): set kafka.session_timeout_ms within them")
    context = None
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        with contextlib.suppress(TlsFileError):
            context = kafka_context(cfg)
    refused = (SaslAuthenticationFailed, AuthenticationFailedError)
    if cfg.security_protocol.startswith("SASL_") and (
            not isinstance(exc, KafkaError) or isinstance(exc, refused)):
        return (f"cannot start {purpose}: kafka.bootstrap_servers = [{', '.join(servers)}]: "
                f"the brokers refused the SASL authentication ({cfg.sasl_mechanism} as "
                f"{cfg.sasl_username!r}): check kafka.sasl_username and kafka.sasl_password "
                "(or its file, or the credential socd-kafka-sasl-password), and that the "
                "brokers know this user for this mechanism")
    reasons = await asyncio.gather(*(_probe(s, _PROBE_TIMEOUT_S, context) for s in servers))
    failed = [f"{s}: {r}" for s, r in zip(servers, reasons, strict=True) if r is not None]
    listed = ", ".join(servers)
    where = f"cannot start {purpose}: kafka.bootstrap_servers = [{listed}]"
    if failed and all(isinstance(r, _TlsReason) for r in reasons if r is not None):
        return f"{where}: {'; '.join(failed)}"
    if failed:
        return (f"{where}: no broker could be reached ({'; '.join(failed)}); check "
                "kafka.bootstrap_servers, that Kafka is running, and that this host may "
                "connect to it (firewall, advertised.listeners)")
    detail = str(exc).strip()
    kind = type(exc).__name__
    return (f"{where}: the brokers accept connections but the Kafka client failed "
            f"({kind}{': ' + detail if detail and '<' not in detail else ''}); check "
            f"kafka.security_protocol (now {cfg.security_protocol}), kafka.ssl_cafile and "
            "the SASL settings, and the brokers' advertised.listeners")


_CANCELLED_STOP_S = 5.0
"""How long a consumer whose start was cancelled may take to close."""

HEARTBEAT_INTERVAL_MAX_MS = 3000
"""aiokafka's (and Kafka's) default heartbeat interval."""


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    """A third of the session timeout, at most :data:`HEARTBEAT_INTERVAL_MAX_MS`: Kafka's
    consumer documentation (``heartbeat.interval.ms``) asks for no more than a third, so
    that a missed heartbeat or two do not end a live member's session. A fixed 3 s beside a
    session timeout of 3 s or less would let the group drop a member that is alive."""
    return min(HEARTBEAT_INTERVAL_MAX_MS, session_timeout_ms // 3)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._source._partitions_revoked(sorted(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._source._partitions_assigned(sorted(assigned))


class KafkaSource:
    """start() once, fetch()/commit() while running, stop() (safe twice).

    start() returns once the group has assigned the partitions, which takes as long as the
    broker takes (a dead member may hold the group up to its session timeout); cancelling
    it closes the consumer and raises CancelledError.

    ``before_revoke`` runs when a rebalance takes partitions away, before they go (the
    daemon drains and commits there); ``on_revoked`` is told which ones first, at once.
    """

    def __init__(self, cfg: KafkaConfig, topics: Iterable[str],
                 before_revoke: Callable[[], Awaitable[None]],
                 on_revoked: Callable[[list[Partition]], None] = lambda partitions: None,
                 ) -> None:
        self._cfg = cfg
        self._topics = sorted(set(topics))
        self._before_revoke = before_revoke
        self._on_revoked = on_revoked
        self._consumer: AIOKafkaConsumer | None = None
        self._lag: LagMeter | None = None
        self._owned: set[TopicPartition] = set()
        """The partitions the group gave us and has not yet taken back."""
        self._paused = False

    async def start(self) -> None:
        if self._consumer is not None:
            raise RuntimeError("KafkaSource.start() called twice")
        consumer = AIOKafkaConsumer(
            **client_options(self._cfg),
            group_id=self._cfg.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self._cfg.auto_offset_reset,
            session_timeout_ms=self._cfg.session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms(self._cfg.session_timeout_ms),
            # Modest fetches: when delivery stalls and partitions are paused, aiokafka drops
            # what it prefetched, and the broker sends it again later.
            max_partition_fetch_bytes=max(self._cfg.max_message_bytes + 1024, 1_048_576),
            fetch_max_bytes=max(self._cfg.max_message_bytes * 2, 8_388_608),
        )
        consumer.subscribe(self._topics, listener=_Listener(self))
        try:
            await consumer.start()  # aiokafka waits here for the first assignment
        except START_FAILURES as exc:
            await consumer.stop()
            raise SinkError(await unreachable(self._cfg, exc, "the consumer of the input "
                                              "topics")) from exc
        except asyncio.CancelledError:
            # Stopped while joining the group (a join can wait as long as the broker takes):
            # close the half-started client, bounded, so that nothing is left running.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), timeout=_CANCELLED_STOP_S)
            raise
        self._consumer = consumer
        self._lag = LagMeter(consumer)
        log.info("consumer_started", topics=self._topics, group_id=self._cfg.group_id)

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        """Up to ``max_records`` (at most ``kafka.max_batch``) records from all assigned
        partitions (may be empty)."""
        consumer = self._require()
        limit = self._cfg.max_batch if max_records is None else min(
            max(max_records, 1), self._cfg.max_batch)
        try:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=limit)
        except KafkaError as exc:
            raise SinkError(f"Kafka fetch failed: {exc}") from exc
        records: list[Record] = []
        for tp, messages in batches.items():
            topic, partition = tp.topic, tp.partition
            records.extend(
                Record(topic, partition, m.offset, m.value, m.key,
                       tuple(m.headers or ()), m.timestamp)
                for m in messages
            )
        return records

    def pause(self, paused: bool) -> None:
        """Stop (or resume) fetching while downstream is full; polls still keep us in the group.

        Pausing covers the whole current assignment every time, including partitions a
        rebalance has just added.
        """
        consumer = self._require()
        if paused:
            consumer.pause(*consumer.assignment())
        elif self._paused:
            consumer.resume(*consumer.paused())
        self._paused = paused

    async def commit(self, offsets: Offsets) -> bool:
        """Commit; False (logged) when a rebalance took the partitions away meanwhile."""
        if not offsets:
            return True
        consumer = self._require()
        assigned = consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()
                  if TopicPartition(t, p) in assigned}
        if not wanted:
            return False
        try:
            await consumer.commit(wanted)
        except CommitFailedError as exc:
            log.warning("commit_failed_rebalance", error=str(exc))
            return False
        except KafkaError as exc:
            raise SinkError(f"offset commit failed: {exc}") from exc
        return True

    async def _partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            log.info("partitions_revoked", partitions=[f"{tp.topic}/{tp.partition}"
                                                        for tp in revoked])
            self._owned.difference_update(revoked)
            self._on_revoked([(tp.topic, tp.partition) for tp in revoked])
            await self._before_revoke()

    def _partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._owned = set(assigned)
        log.info("partitions_assigned", partitions=[f"{tp.topic}/{tp.partition}"
                                                     for tp in assigned])

    async def lag(self) -> tuple[dict[Partition, int], frozenset[Partition]]:
        """The consumer lag: (topic, partition) → messages not yet consumed (see
        :mod:`socd.source.lag`) for the owned partitions where it is known; and every
        partition owned when the measure ended (a partition owned but not measured keeps
        its last value; one no longer owned has none)."""
        consumer = self._require()
        assert self._lag is not None
        lags = await self._lag.measure(self._owned & consumer.assignment())
        owned = frozenset((tp.topic, tp.partition) for tp in self._owned)
        return {p: lag for p, lag in lags.items() if p in owned}, owned

    async def stop(self, timeout_s: float = 15.0) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await asyncio.wait_for(consumer.stop(), timeout=timeout_s)
            except TimeoutError:
                log.warning("consumer_stop_timeout", seconds=timeout_s)
            else:
                log.info("consumer_stopped")

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("KafkaSource is not started")
        return self._consumer
