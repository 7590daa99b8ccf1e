"""A Kafka client that cannot start says which servers (``kafka.bootstrap_servers``), why in
plain words, and what to check, for the consumer and for the dead-letter producer alike.

The brokers are loopback ports nothing listens on: refused at once, so no test waits out a
timeout.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import InvalidSessionTimeoutError, KafkaConnectionError

from socd.config import KafkaConfig
from socd.errors import DeadLetterUnavailable, SinkError
from socd.sinks.dead_letter import DeadLetterSink
from socd.source.kafka import KafkaSource, heartbeat_interval_ms, os_reason, unreachable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts TCP connections but speaks no Kafka."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def _nothing() -> None:
    return None


def _assert_plain(message: str, servers: list[str]) -> None:
    assert f"kafka.bootstrap_servers = [{', '.join(servers)}]" in message
    for server in servers:
        assert f"{server}: connection refused (nothing listens on that port)" in message
    assert "check kafka.bootstrap_servers, that Kafka is running" in message
    for python in ("object at 0x", "AddressFamily", "<", "Error"):
        assert python not in message
    assert "\n" not in message


@pytest.mark.parametrize("count", [1, 2])
async def test_the_consumer_names_the_servers_and_the_reason(count: int) -> None:
    servers = [f"127.0.0.1:{_closed_port()}" for _ in range(count)]
    source = KafkaSource(KafkaConfig(bootstrap_servers=servers), ["sensors.ndr"], _nothing)
    with pytest.raises(SinkError) as caught:
        await source.start()
    assert "cannot start the consumer of the input topics" in str(caught.value)
    _assert_plain(str(caught.value), servers)


async def test_the_dead_letter_producer_names_the_servers_and_the_reason() -> None:
    servers = [f"127.0.0.1:{_closed_port()}"]
    sink = DeadLetterSink(KafkaConfig(bootstrap_servers=servers), "socd.dead", timeout_s=2)
    with pytest.raises(DeadLetterUnavailable) as caught:
        await sink.start()
    assert "cannot start the producer of the dead-letter topic 'socd.dead'" in str(caught.value)
    _assert_plain(str(caught.value), servers)


async def test_brokers_that_answer_point_at_the_protocol_settings(listening: int) -> None:
    """Every broker accepts TCP: the failure is past the connection (TLS, SASL, protocol)."""
    cfg = KafkaConfig(bootstrap_servers=[f"127.0.0.1:{listening}"])
    message = await unreachable(cfg, KafkaConnectionError("Unable to bootstrap from "
                                                          "[('127.0.0.1', 1, <AF_INET: 2>)]"),
                                "the consumer")
    assert "the brokers accept connections but the Kafka client failed" in message
    assert "KafkaConnectionError" in message and "<AF_INET" not in message
    assert "kafka.security_protocol (now PLAINTEXT)" in message


async def test_one_reachable_and_one_refused_names_only_the_refused(listening: int) -> None:
    refused = f"127.0.0.1:{_closed_port()}"
    cfg = KafkaConfig(bootstrap_servers=[f"127.0.0.1:{listening}", refused])
    message = await unreachable(cfg, KafkaConnectionError(), "the consumer")
    assert f"({refused}: connection refused (nothing listens on that port))" in message


@pytest.mark.parametrize(("error", "reason"), [
    (ConnectionRefusedError(111, "Connection refused"),
     "connection refused (nothing listens on that port)"),
    (socket.gaierror(-2, "Name or service not known"), "the name could not be resolved"),
    (TimeoutError(), "no answer (timed out)"),
    (OSError(113, "No route to host"), "no route to host"),
    (OSError(), "OSError"),
])
def test_connection_failures_are_plain_words(error: OSError, reason: str) -> None:
    assert os_reason(error) == reason


async def test_a_refused_session_timeout_names_the_key_and_the_broker_bounds() -> None:
    """The broker refuses the group's session timeout (JoinGroup error 26): the message names
    kafka.session_timeout_ms and its value and the broker's bounds, not TLS or SASL."""
    cfg = KafkaConfig(session_timeout_ms=3000)
    message = await unreachable(cfg, InvalidSessionTimeoutError(), "the consumer")
    assert "kafka.session_timeout_ms = 3000" in message
    assert "group.min.session.timeout.ms" in message
    assert "security_protocol" not in message and "Error" not in message


@pytest.mark.parametrize(("session_ms", "heartbeat_ms"), [
    (1000, 333), (3000, 1000), (6000, 2000), (9000, 3000), (30_000, 3000), (1_800_000, 3000)])
def test_heartbeats_come_at_least_three_times_a_session(session_ms: int,
                                                         heartbeat_ms: int) -> None:
    """A third of the session timeout, never above Kafka's default 3 s (a fixed 3 s beside a
    3 s session would let the group drop a live member between two heartbeats)."""
    assert heartbeat_interval_ms(session_ms) == heartbeat_ms
    assert 3 * heartbeat_interval_ms(session_ms) <= session_ms


async def test_a_start_cancelled_while_joining_closes_the_consumer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """aiokafka's start waits for the first assignment, however long the group takes; a
    stop request cancels it, and the half-started consumer is closed, not left running."""
    joining = asyncio.Event()
    stopped: list[bool] = []

    async def start(self: AIOKafkaConsumer) -> None:
        joining.set()
        await asyncio.Event().wait()  # a group join that never ends

    async def stop(self: AIOKafkaConsumer) -> None:
        stopped.append(True)

    monkeypatch.setattr(AIOKafkaConsumer, "start", start)
    monkeypatch.setattr(AIOKafkaConsumer, "stop", stop)
    source = KafkaSource(KafkaConfig(), ["sensors.ndr"], _nothing)
    task = asyncio.create_task(source.start())
    await joining.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped == [True]
    with pytest.raises(RuntimeError):
        await source.fetch(0)  # never started
