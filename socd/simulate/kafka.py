"""Sending simulated messages to Kafka, paced to a rate."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from socd.errors import SinkError
from socd.simulate.common import Message, json_bytes
from socd.simulate.cyradar import alert_id_key

_log = logging.getLogger("socd.simulate")


class Producer(Protocol):
    """The part of aiokafka's ``AIOKafkaProducer`` that :func:`produce` uses."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[Any]: ...


def aiokafka_producer(bootstrap_servers: str) -> Producer:
    from aiokafka import AIOKafkaProducer

    producer: Producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", client_id="socd-simulate", linger_ms=5
    )
    return producer


async def produce(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[Message],
    *,
    rate: float | None,
    count: int,
    key: Callable[[Message], bytes | None] = alert_id_key,
    encode: Callable[[Message], bytes] = json_bytes,
    route: Callable[[Message], str] | None = None,
    max_in_flight: int = 1000,
    producer_factory: Callable[[str], Producer] = aiokafka_producer,
) -> int:
    """Send the first ``count`` messages; return how many the broker acknowledged.

    Each goes to ``route(message)`` when given, else to ``topic``, with ``key(message)`` as
    its key and ``encode(message)`` as its value. ``rate`` paces the sending to that many
    messages per second (None: as fast as the broker takes them). At most ``max_in_flight``
    sends wait for their acknowledgement at once. Failure to reach the broker raises
    :class:`~socd.errors.SinkError`; a message the broker refuses is not counted.
    """
    from aiokafka.errors import KafkaError

    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    producer = producer_factory(bootstrap_servers)
    acked = refused = 0
    pending: set[asyncio.Future[Any]] = set()

    def settle(done: Iterable[asyncio.Future[Any]]) -> None:
        nonlocal acked, refused
        for future in done:
            if not future.cancelled() and future.exception() is None:
                acked += 1
                continue
            refused += 1
            if refused == 1:  # once: the first reason is enough, the count is returned
                reason = "cancelled" if future.cancelled() else repr(future.exception())
                _log.warning("the broker did not acknowledge a message: %s", reason)

    try:
        await producer.start()
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n, message in enumerate(itertools.islice(events, count)):
            if rate is not None:
                delay = began + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            target = route(message) if route is not None else topic
            pending.add(await producer.send(target, encode(message), key=key(message)))
            if len(pending) >= max_in_flight:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
        if pending:
            done, pending = await asyncio.wait(pending)
            settle(done)
    except KafkaError as exc:
        raise SinkError(f"Kafka at {bootstrap_servers}, topic {topic!r}: {exc}") from exc
    finally:
        for future in pending:
            future.cancel()
        await producer.stop()
    return acked
