"""The dead-letter topic: every message socd cannot use, unchanged, with why and from where.

Each dead letter keeps the original key, value and headers, and adds headers:

=====================  ===================================================
``socd.reason``        a code from :data:`socd.errors.DEAD_LETTER_REASONS`
``socd.detail``        a sentence for people (at most 1 KiB)
``socd.topic``         source topic
``socd.partition``     source partition
``socd.offset``        source offset
``socd.connector``     connector of the input
``socd.time``          when socd dead-lettered it (UTC, ISO-8601)
``socd.truncated``     only on a ``too_large`` letter: the original size in bytes
=====================  ===================================================

A ``too_large`` message would not fit the dead-letter topic either (a broker that refused
it there would make socd stop and read it again at every start), so its letter carries the
first :data:`TOO_LARGE_SAMPLE` bytes and says how large the original was.

Sends use ``acks=all`` and are awaited before the source offsets are committed. When the
topic cannot take a message, :class:`~socd.errors.DeadLetterUnavailable` is raised and the
daemon stops consuming rather than drop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from socd.config import KafkaConfig
from socd.errors import DeadLetterUnavailable
from socd.event import DeadLetter
from socd.source.kafka import START_FAILURES, client_options, unreachable
from socd.telemetry.logging import get_logger

_CANCELLED_STOP_S = 1.0
"""How long a producer whose start was cancelled may take to close."""

log = get_logger("socd.dead_letter")

MAX_DETAIL = 1024
TOO_LARGE_SAMPLE = 65_536
"""Bytes of a too-large message kept in its dead letter."""


def letter_value(letter: DeadLetter) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to send and any extra header (a too-large message is cut)."""
    value = letter.record.value
    if letter.reason == "too_large" and value is not None and len(value) > TOO_LARGE_SAMPLE:
        return value[:TOO_LARGE_SAMPLE], [("socd.truncated", str(len(value)).encode())]
    return value, []


def headers_for(letter: DeadLetter, now: datetime) -> list[tuple[str, bytes]]:
    record = letter.record
    ours = [
        ("socd.reason", letter.reason.encode()),
        ("socd.detail", letter.detail[:MAX_DETAIL].encode("utf-8", "replace")),
        ("socd.topic", record.topic.encode()),
        ("socd.partition", str(record.partition).encode()),
        ("socd.offset", str(record.offset).encode()),
        ("socd.connector", letter.connector.encode()),
        ("socd.time", now.astimezone(UTC).isoformat(timespec="milliseconds").encode()),
    ]
    return [*record.headers, *ours]


class DeadLetterSink:
    def __init__(self, cfg: KafkaConfig, topic: str, *, timeout_s: float = 60.0) -> None:
        self._cfg = cfg
        self.topic = topic
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **client_options(self._cfg),
            acks="all",
            enable_idempotence=False,
            max_request_size=self._cfg.max_message_bytes * 2 + 65536,
            request_timeout_ms=int(self._timeout_s * 1000),
        )
        try:
            await producer.start()
        except START_FAILURES as exc:
            await producer.stop()
            raise DeadLetterUnavailable(await unreachable(
                self._cfg, exc, f"the producer of the dead-letter topic {self.topic!r}")
            ) from exc
        except asyncio.CancelledError:
            # Stopped during start-up (a broker that does not answer holds the start for
            # request_timeout_ms): close the half-started client, bounded, and go on stopping.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=_CANCELLED_STOP_S)
            raise
        self._producer = producer

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Send and wait until Kafka acknowledged every letter, or raise DeadLetterUnavailable."""
        if not letters:
            return
        producer = self._producer
        if producer is None:
            raise RuntimeError("DeadLetterSink is not started")
        now = datetime.now(UTC)
        try:
            futures = []
            for letter in letters:
                value, extra = letter_value(letter)
                futures.append(await producer.send(
                    self.topic, value=value, key=letter.record.key,
                    headers=headers_for(letter, now) + extra))
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise DeadLetterUnavailable(
                f"dead-letter topic {self.topic!r} did not take {len(letters)} message(s): "
                f"{type(exc).__name__}{': ' + str(exc) if str(exc) else ''}; check that Kafka "
                "at kafka.bootstrap_servers is running and that the topic exists and may be "
                "written") from exc
        for letter in letters:
            log.warning("dead_letter", reason=letter.reason, detail=letter.detail[:200],
                        topic=letter.record.topic, partition=letter.record.partition,
                        offset=letter.record.offset, connector=letter.connector)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
