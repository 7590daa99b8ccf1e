"""socd.sharing.publish with a fake aiokafka producer at its seam (the real brokers, with
and without transactions, are in tests/integration/test_sharing.py): which mode start()
chooses, what a refusal says, and that publishing is tried again until Kafka takes it."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, ClassVar

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    ProducerFenced,
    UnknownError,
)

from socd.config import Config
from socd.errors import SharingError, SharingRefused
from socd.sharing import publish
from socd.sharing.publish import SightingPublisher, transactional_id
from socd.sharing.stix import Sighting
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics


def config(**sharing: Any) -> Config:
    return Config.model_validate({
        "kafka": {"bootstrap_servers": ["127.0.0.1:1"], "group_id": "soc"},
        "inputs": [{"topic": "sensors.ndr", "connector": "cyradar", "layer": 2,
                    "sensor": "ndr"}],
        "sharing": {"identity": {"name": "So TTTT"}, **sharing}})


class FakeProducer:
    """Records what is asked of it. ``refuse_start``: start() raises it when transactional;
    ``failures``: errors the next sends/commits raise, one per attempt."""

    made: ClassVar[list[FakeProducer]] = []
    refuse_start: ClassVar[Exception | None] = None
    failures: ClassVar[list[Exception]] = []
    log: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.transactional = "transactional_id" in options
        FakeProducer.made.append(self)

    async def start(self) -> None:
        if self.transactional and FakeProducer.refuse_start is not None:
            raise FakeProducer.refuse_start
        self.log.append(("start", self.transactional))

    async def stop(self) -> None:
        self.log.append(("stop", self.transactional))

    def _maybe_fail(self) -> None:
        if FakeProducer.failures:
            raise FakeProducer.failures.pop(0)

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        self._maybe_fail()
        self.log.append(("send", key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def begin_transaction(self) -> None:
        self.log.append(("begin", None))

    async def send_offsets_to_transaction(self, offsets: dict[Any, int], group: str) -> None:
        self.log.append(("offsets", ({(tp.topic, tp.partition): o for tp, o in offsets.items()},
                                     group)))

    async def commit_transaction(self) -> None:
        self._maybe_fail()
        self.log.append(("commit", None))


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.made, FakeProducer.log, FakeProducer.failures = [], [], []
    FakeProducer.refuse_start = None
    monkeypatch.setattr(publish, "AIOKafkaProducer", FakeProducer)
    monkeypatch.setattr(publish, "BACKOFF_MIN_S", 0.001)
    return FakeProducer


def sighting(n: int) -> Sighting:
    return Sighting(id=f"sighting--{n}", value=b"{}", headers=[], threat_class="critical",
                    layer="2")


def logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_transactional_id_is_stable_per_host_unless_set() -> None:
    assert transactional_id(config()).startswith("soc.sharing.")
    assert transactional_id(config(transactional_id="dept-1")) == "dept-1"


async def test_auto_uses_transactions_where_the_broker_has_them() -> None:
    publisher = SightingPublisher(config(), Metrics())
    await publisher.start()
    assert publisher.transactional
    await publisher.publish([sighting(1), sighting(2)], {("sensors.ndr", 0): 7})
    assert FakeProducer.log == [
        ("start", True), ("begin", None), ("send", b"sighting--1"), ("send", b"sighting--2"),
        ("offsets", ({("sensors.ndr", 0): 7}, "soc")), ("commit", None)]
    assert FakeProducer.made[0].options["enable_idempotence"] is True


async def test_auto_falls_back_and_says_so_on_a_broker_without_transactions() -> None:
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    FakeProducer.refuse_start = UnknownError()
    publisher = SightingPublisher(config(), Metrics())
    await publisher.start()
    assert not publisher.transactional
    await publisher.publish([sighting(1)])
    assert ("send", b"sighting--1") in FakeProducer.log
    assert not any(step == "begin" for step, _ in FakeProducer.log)
    events = [line["event.action"] for line in logged(stream)]
    assert "sharing_transactions_unavailable" in events


@pytest.mark.parametrize("mode", [True])
async def test_required_transactions_refused_stop_start_up_naming_the_key(mode: bool) -> None:
    FakeProducer.refuse_start = UnknownError()
    publisher = SightingPublisher(config(transactional=mode), Metrics())
    with pytest.raises(SharingRefused, match=r"sharing\.transactional is True") as caught:
        await publisher.start()
    assert not caught.value.retriable
    assert "sharing.transactional: false" in str(caught.value)


async def test_off_never_asks_for_transactions() -> None:
    publisher = SightingPublisher(config(transactional=False), Metrics())
    await publisher.start()
    assert not publisher.transactional
    assert "transactional_id" not in FakeProducer.made[0].options


@pytest.mark.parametrize("transactional", [False, True])
async def test_a_topic_that_fails_is_tried_again_until_it_takes_the_sightings(
        transactional: bool) -> None:
    """Two failures, then success: every sighting published, the failures logged with
    the attempt, and in a transaction a new producer (same id) after each failure."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    publisher = SightingPublisher(config(transactional=transactional), Metrics())
    await publisher.start()
    FakeProducer.failures = [KafkaTimeoutError(), KafkaConnectionError()]
    await publisher.publish([sighting(1)], {("sensors.ndr", 0): 3} if transactional else None)
    lines = logged(stream)
    retries = [line for line in lines if line["event.action"] == "sharing_unavailable"]
    assert [line["socd"]["attempt"] for line in retries] == [1, 2]
    assert [line["event.action"] for line in lines][-1] == "sharing_resumed"
    assert FakeProducer.log.count(("send", b"sighting--1")) >= 1
    assert len(FakeProducer.made) == (3 if transactional else 1)
    if transactional:
        assert FakeProducer.log[-1] == ("commit", None)


async def test_a_producer_fenced_by_another_process_is_a_refusal() -> None:
    publisher = SightingPublisher(config(), Metrics())
    await publisher.start()
    FakeProducer.failures = [ProducerFenced()]
    with pytest.raises(SharingRefused, match=r"its own sharing\.transactional_id"):
        await publisher.publish([sighting(1)], {("sensors.ndr", 0): 1})


async def test_a_stop_request_cancels_the_retries() -> None:
    publisher = SightingPublisher(config(transactional=False), Metrics(), backoff_max_s=60)
    await publisher.start()
    FakeProducer.failures = [KafkaTimeoutError()] * 1000
    task = asyncio.create_task(publisher.publish([sighting(1)]))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_unreachable_kafka_at_start_names_the_setting() -> None:
    class Unreachable(FakeProducer):
        async def start(self) -> None:
            raise KafkaConnectionError("no broker")

    publish.AIOKafkaProducer = Unreachable  # type: ignore[misc]
    publisher = SightingPublisher(config(), Metrics())
    with pytest.raises(SharingError, match=r"kafka\.bootstrap_servers") as caught:
        await publisher.start()
    assert caught.value.retriable
