"""Delivery under faults, on the real local servers: every produced event ends in
Elasticsearch exactly once and every offset is committed.

Scenarios (each with its own topic, group and index prefix):

* **sigkill** — socd SIGKILLed at seeded random moments, five times, and started again each
  time, while events are produced;
* **elasticsearch_outage** — the Elasticsearch API stopped for 10 s mid-stream and started
  again on the same port and data (noida-db's ``stop``/``start``);
* **broker_restart** — the Kafka broker restarted mid-stream (noida-db's Kafka, which keeps
  messages and committed offsets across its restarts; Tansu keeps nothing);
* **group_member_killed** — three socd processes in one consumer group, one SIGKILLed: it
  never leaves, so the group hands its partitions over once its session times out (a short
  ``kafka.session_timeout_ms`` here). Tansu, whose coordinator completes that rebalance.

Events are produced in the background at a steady rate; production ends when the fault
does. Each scenario then waits (bounded, never a fixed sleep) until Elasticsearch holds a
document per produced event and the group's committed offsets reach the topic's end, and
asserts: documents == produced, distinct ``event.id`` == produced, committed == produced.
It prints one line of figures (``pytest -s``): produced, indexed, duplicated (documents
beyond one per ``event.id``), lost (events without a document), redelivered (documents
written more than once: events socd delivered again after the fault, harmless by their id),
and the seconds from the fault's end to everything indexed and committed.

Every event is a critical Cyradar threat (all are indexed) with its own ``alert_id``, which
names the document (see socd.pipeline.document_id): a message read twice overwrites.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan

from socd.app import (
    CONSUMER_STOP_S,
    DEAD_LETTER_STOP_S,
    ELASTICSEARCH_STOP_S,
    METRICS_STOP_S,
    STOP_FETCH_S,
)
from socd.devservers import Endpoints, LocalServers, free_port
from tests.integration.conftest import given_servers, make_topics
from tests.integration.helpers import (
    committed_total,
    daemon,
    scrape_until,
    wait_ready,
    write_config,
)

pytestmark = pytest.mark.integration

SEED = 20261129
SESSION_TIMEOUT_MS = 3000
"""Short, so that the group gives up on a SIGKILLed member (which never leaves) in 3 s
(Tansu only: see :func:`short_session`)."""
SETTLE_TIMEOUT_S = 90.0
"""Bound for everything indexed and committed after a fault; a working socd needs seconds."""
RATE = 200
"""Events per second the background producer offers."""
BURST = 500
"""Events produced at once just before the broker stops: socd is busy with them then."""


# --------------------------------------------------------------------------- servers


def _local(tmp_path_factory: pytest.TempPathFactory, kafka: str
           ) -> Iterator[tuple[Endpoints, LocalServers | None]]:
    given = given_servers()
    if given:
        yield given, None
        return
    servers = LocalServers(Path(tmp_path_factory.mktemp(f"faults-{kafka}")), kafka=kafka)
    with servers as endpoints:
        yield endpoints, servers


@pytest.fixture(scope="module")
def noida(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Endpoints, LocalServers | None]]:
    """noida-db for both APIs: its services stop and start again with their data."""
    yield from _local(tmp_path_factory, "noida")


@pytest.fixture(scope="module")
def tansu(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Endpoints, LocalServers | None]]:
    """Tansu for Kafka: its coordinator hands a dead member's partitions over (noida-db's
    never completes that rebalance; see test_scale_out)."""
    yield from _local(tmp_path_factory, "tansu")


def restartable(pair: tuple[Endpoints, LocalServers | None]) -> LocalServers:
    if pair[1] is None:
        pytest.skip("servers given by SOCD_TEST_*: this test restarts the local ones")
    return pair[1]


@pytest.fixture
def fault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """For every socd these tests start (environment overrides): retries at least every
    second while Elasticsearch is away, so that none waits out a long backoff."""
    monkeypatch.setenv("SOCD_ELASTICSEARCH__RETRY_BACKOFF_MAX", "1")


@pytest.fixture
def short_session(monkeypatch: pytest.MonkeyPatch, fault_env: None) -> None:
    """A group session of SESSION_TIMEOUT_MS on the local Tansu, which accepts it. Kafka
    refuses less than its group.min.session.timeout.ms (6000 ms by default; noida-db's Kafka
    too), so given servers keep write_config's 6000 ms."""
    if given_servers() is None:
        monkeypatch.setenv("SOCD_KAFKA__SESSION_TIMEOUT_MS", str(SESSION_TIMEOUT_MS))


# --------------------------------------------------------------------------- load


def threat(name: str) -> bytes:
    return orjson.dumps({"alert_id": name, "detected_at": "2026-05-04T10:00:00+07:00",
                         "severity": 9, "category": "ransomware"})


class Stream:
    """Produces critical threats to ``topic`` in the background, about ``rate`` a second
    (acks=all), until :meth:`stop`, and :meth:`burst` on demand; ``produced`` counts those
    the broker acknowledged. Names (``alert_id``) are NAME-0, NAME-1, ..."""

    def __init__(self, bootstrap: str, topic: str, name: str, rate: int = RATE) -> None:
        self._bootstrap, self._topic, self._name, self._rate = bootstrap, topic, name, rate
        self.produced = 0
        self._named = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> int:
        self._stopping.set()
        if self._task is not None:
            await self._task
        return self.produced

    async def burst(self, count: int) -> None:
        """``count`` more events at once (beside the background ones, if running)."""
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                    linger_ms=5)
        await producer.start()
        try:
            await self._send(producer, count)
        finally:
            await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, count: int) -> None:
        first, self._named = self._named, self._named + count  # taken before any await
        names = [f"{self._name}-{n}" for n in range(first, first + count)]
        await asyncio.gather(*[await producer.send(self._topic, threat(name),
                                                   key=name.encode()) for name in names])
        self.produced += count

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                    linger_ms=5)
        await producer.start()
        per_tick = max(1, self._rate // 10)
        try:
            while not self._stopping.is_set():
                tick = time.monotonic()
                await self._send(producer, per_tick)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(),
                                           max(0.0, 0.1 - (time.monotonic() - tick)))
        finally:
            await producer.stop()


# --------------------------------------------------------------------------- checks


@dataclass
class Figures:
    scenario: str
    produced: int
    indexed: int
    """documents in the scenario's indices"""
    distinct: int
    """distinct event.id among them"""
    rewritten: int
    """documents written more than once (``_version`` > 1): events socd delivered again
    after the fault, which their id made harmless"""
    committed: int
    recover_s: float
    """from the fault's end to everything indexed and committed"""
    at_fault: int = 0
    """events produced but not committed when the fault struck (summed over the kills; for
    the outage, when Elasticsearch returns): the work the fault left undone"""

    @property
    def duplicated(self) -> int:
        return self.indexed - self.distinct

    @property
    def lost(self) -> int:
        return self.produced - self.distinct

    def report(self) -> None:
        print(f"\nFAULT {self.scenario}: produced={self.produced} indexed={self.indexed} "
              f"duplicated={self.duplicated} lost={self.lost} redelivered={self.rewritten} "
              f"committed={self.committed} uncommitted_at_fault={self.at_fault} "
              f"recover_s={self.recover_s:.1f}")

    def check(self) -> None:
        self.report()
        assert (self.indexed, self.distinct, self.committed) == (
            self.produced, self.produced, self.produced), self


async def scan(es: AsyncElasticsearch, index: str) -> tuple[int, int, int]:
    """(documents, distinct event.id, documents with ``_version`` > 1) in ``index``."""
    await es.indices.refresh(index=index, allow_no_indices=True)
    ids: set[str] = set()
    documents = rewritten = 0
    async for hit in async_scan(es, index=index, size=1000,
                                query={"version": True, "_source": ["event.id"]}):
        documents += 1
        ids.add(hit["_source"]["event"]["id"])
        rewritten += hit["_version"] > 1
    return documents, len(ids), rewritten


async def settle(es: AsyncElasticsearch, bootstrap: str, scenario: str, unique: str,
                 topic: str, produced: int, since: float,
                 processes: list[subprocess.Popen[bytes]], at_fault: int) -> Figures:
    """Poll until every event is indexed and committed (or SETTLE_TIMEOUT_S), then scan the
    documents: the figures. AssertionError at once when every socd process has exited."""
    index, group = f"t{unique}-alerts*", f"socd-test-{unique}"
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        assert any(p.poll() is None for p in processes), "every socd process has exited"
        await es.indices.refresh(index=index, allow_no_indices=True)
        count = int((await es.count(index=index, allow_no_indices=True))["count"])
        committed = await committed_total(bootstrap, group, topic)
        now = time.monotonic()
        if (count >= produced and committed >= produced) or now > deadline:
            break
        await asyncio.sleep(0.3)
    indexed, distinct, rewritten = await scan(es, index)
    return Figures(scenario, produced, indexed, distinct, rewritten, committed, now - since,
                   at_fault)


async def uncommitted(bootstrap: str, unique: str, topic: str, produced: int) -> int:
    """Events produced so far that the group has not committed (a figure, not a check)."""
    return produced - await committed_total(bootstrap, f"socd-test-{unique}", topic)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def log_of(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]


@pytest.fixture
async def es_noida(noida: tuple[Endpoints, LocalServers | None]
                   ) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(noida[0].elasticsearch, request_timeout=30)
    yield client
    await client.close()


@pytest.fixture
async def es_tansu(tansu: tuple[Endpoints, LocalServers | None]
                   ) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(tansu[0].elasticsearch, request_timeout=30)
    yield client
    await client.close()


async def topics_for(servers: Endpoints, unique: str, partitions: int = 3) -> str:
    topic = f"sensors.cyradar.{unique}"
    await make_topics(servers.kafka, topic, f"socd.dead-letter.{unique}",
                      partitions=partitions)
    return topic


# --------------------------------------------------------------------------- scenarios


async def test_sigkill_five_times_while_producing(
        tansu: tuple[Endpoints, LocalServers | None], es_tansu: AsyncElasticsearch,
        unique: str, tmp_path: Path, short_session: None) -> None:
    """socd SIGKILLed five times while events are produced, started again each time; the
    last start catches up and commits everything. Each kill comes at a seeded random moment
    0.5–3 s after socd has consumed its first events, at the first instant after it that
    socd reports a batch in flight: the kill cuts a delivery short before its commit, so
    the next start reads the batch again (``redelivered``) and its ids make that harmless.
    (Elasticsearch finishes a bulk request it has received whoever sent it, so a kill alone
    rarely finds a batch that is not durable: see the next test.)"""
    servers = tansu[0]
    topic = await topics_for(servers, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    moments = random.Random(SEED)
    at_kills = 0
    async with Stream(servers.kafka, topic, unique, rate=RATE) as stream:
        for run in range(5):
            with daemon(config, tmp_path / f"run{run}.log") as process:
                await consuming_all([port], [process])
                await asyncio.sleep(moments.uniform(0.5, 3.0))
                done, _ = await scrape_until(port, process, in_flight, interval=0.01)
                assert done, "no batch in flight while events are produced"
                process.send_signal(signal.SIGKILL)
                process.wait()
            at_kills += await uncommitted(servers.kafka, unique, topic, stream.produced)
        produced = await stream.stop()
    with daemon(config, tmp_path / "last.log") as process:
        figures = await settle(es_tansu, servers.kafka, "sigkill", unique, topic, produced,
                               time.monotonic(), [process], at_kills)
        assert stop(process) == 0, log_of(tmp_path / "last.log")
    figures.check()


async def test_elasticsearch_stopped_for_10_s(
        noida: tuple[Endpoints, LocalServers | None], es_noida: AsyncElasticsearch,
        unique: str, tmp_path: Path, fault_env: None) -> None:
    """The Elasticsearch API stops 2 s into the stream and starts again 10 s later on the
    same port and data; socd retries, stays up, and delivers everything once it is back."""
    servers, local = noida[0], restartable(noida)
    topic = await topics_for(servers, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        async with Stream(servers.kafka, topic, unique) as stream:
            await asyncio.sleep(2.0)
            local.stop_service("elasticsearch")
            try:
                await asyncio.sleep(10.0)
                at_fault = await uncommitted(servers.kafka, unique, topic, stream.produced)
            finally:
                local.start_service("elasticsearch")
            back = time.monotonic()
        figures = await settle(es_noida, servers.kafka, "elasticsearch_outage", unique,
                               topic, stream.produced, back, [process], at_fault)
        assert stop(process) == 0, log_of(tmp_path / "socd.log")
    figures.check()


async def test_sigkill_while_elasticsearch_is_down(
        tansu: tuple[Endpoints, LocalServers | None], es_tansu: AsyncElasticsearch,
        unique: str, tmp_path: Path, short_session: None) -> None:
    """socd SIGKILLed while a burst of BURST events waits for an Elasticsearch that is down
    (after a bulk attempt has failed, so the batch is surely in flight and not durable);
    Elasticsearch returns, socd starts again and delivers everything. A socd that committed
    offsets before their documents were durable loses that batch here. On Tansu: noida-db's
    coordinator never lets a new member in while the killed one is still in the group."""
    servers, local = tansu[0], restartable(tansu)
    topic = await topics_for(servers, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    async with Stream(servers.kafka, topic, unique) as stream:
        with daemon(config, tmp_path / "killed.log") as process:
            await consuming_all([port], [process])
            local.stop_service("elasticsearch")
            try:
                await stream.burst(BURST)
                done, last = await scrape_until(port, process, lambda m: m.get(
                    "socd_bulk_retries_total", 0.0) > 0)
                assert done, f"no bulk attempt failed while Elasticsearch was down: {last}"
                process.send_signal(signal.SIGKILL)
                process.wait()
            finally:
                local.start_service("elasticsearch")
    at_fault = await uncommitted(servers.kafka, unique, topic, stream.produced)
    with daemon(config, tmp_path / "again.log") as process:
        figures = await settle(es_tansu, servers.kafka, "sigkill_elasticsearch_down", unique,
                               topic, stream.produced, time.monotonic(), [process], at_fault)
        assert stop(process) == 0, log_of(tmp_path / "again.log")
    figures.check()


START_STOP_BOUND_S = (STOP_FETCH_S + CONSUMER_STOP_S + DEAD_LETTER_STOP_S
                      + ELASTICSEARCH_STOP_S + METRICS_STOP_S)
"""The shutdown phases that remain when nothing was fetched (socd.app's budget): 20 s."""


async def test_sigterm_while_joining_a_stuck_group(
        noida: tuple[Endpoints, LocalServers | None], unique: str, tmp_path: Path,
        fault_env: None) -> None:
    """A member SIGKILLed stays in its group; noida-db's coordinator then never lets a new
    member in (a real broker does after the session timeout). socd started in that group
    and sent SIGTERM while it waits to join must still stop within the shutdown phases that
    remain when nothing was fetched (START_STOP_BOUND_S), not when the join ends."""
    servers, _ = noida[0], restartable(noida)
    await topics_for(servers, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    with daemon(config, tmp_path / "killed.log") as process:
        await wait_ready(port, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
    with daemon(config, tmp_path / "joining.log") as process:
        done, _ = await scrape_until(port, process, lambda m: "socd_ready" in m)
        assert done
        await asyncio.sleep(1.0)  # into the group join
        if "consumer_started" in (tmp_path / "joining.log").read_text():
            pytest.skip("the broker let the new member in: no stuck join to stop")
        process.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.to_thread(process.wait, START_STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            status = None
    assert status == 0, log_of(tmp_path / "joining.log")


@pytest.mark.parametrize("down_s", [3.0, 10.0])
async def test_broker_restarted_mid_stream(
        noida: tuple[Endpoints, LocalServers | None], es_noida: AsyncElasticsearch,
        unique: str, tmp_path: Path, fault_env: None, down_s: float) -> None:
    """The Kafka broker stops right after a burst of BURST events (socd has them in hand)
    and starts again ``down_s`` later with its data (10 s: longer than the group session,
    6 s, so the member must join again); socd reconnects without exiting and commits
    everything. Production pauses while the broker is away (a producer's own retries are
    not under test)."""
    servers, local = noida[0], restartable(noida)
    topic = await topics_for(servers, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        async with Stream(servers.kafka, topic, unique) as before:
            await asyncio.sleep(2.0)
        await before.burst(BURST)
        at_fault = await uncommitted(servers.kafka, unique, topic, before.produced)
        local.stop_service("kafka")
        try:
            await asyncio.sleep(down_s)
        finally:
            local.start_service("kafka")
        back = time.monotonic()
        assert process.poll() is None, log_of(tmp_path / "socd.log")
        async with Stream(servers.kafka, topic, f"{unique}-after") as after:
            await asyncio.sleep(2.0)
        produced = before.produced + after.produced
        figures = await settle(es_noida, servers.kafka, f"broker_restart_{down_s:.0f}s",
                               unique, topic,
                               produced, back, [process], at_fault)
        end = await end_total(servers.kafka, topic)
        assert stop(process) == 0, log_of(tmp_path / "socd.log")
    figures.check()
    assert end == produced


async def test_group_member_sigkilled(
        tansu: tuple[Endpoints, LocalServers | None], es_tansu: AsyncElasticsearch,
        unique: str, tmp_path: Path, short_session: None) -> None:
    """Three members share six partitions; one is SIGKILLed mid-stream and never leaves.
    Once its session times out, the other two take its partitions over from its last
    commit; both end with status 0 on SIGTERM."""
    servers = tansu[0]
    topic = await topics_for(servers, unique, partitions=6)
    ports = [free_port() for _ in range(3)]
    configs = [write_config(tmp_path / f"socd-{n}.yaml", servers, unique, port)
               for n, port in enumerate(ports)]
    with contextlib.ExitStack() as members:
        processes = [members.enter_context(daemon(c, tmp_path / f"m{n}.log"))
                     for n, c in enumerate(configs)]
        for port, process in zip(ports, processes, strict=True):
            await wait_ready(port, process)
        async with Stream(servers.kafka, topic, unique) as stream:
            await consuming_all(ports, processes)
            await asyncio.sleep(1.0)
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait()
            killed = time.monotonic()
            at_fault = await uncommitted(servers.kafka, unique, topic, stream.produced)
            await asyncio.sleep(2.0)
        figures = await settle(es_tansu, servers.kafka, "group_member_killed", unique, topic,
                               stream.produced, killed, processes[1:], at_fault)
        for n, process in enumerate(processes[1:], start=1):
            assert stop(process) == 0, log_of(tmp_path / f"m{n}.log")
    figures.check()


# --------------------------------------------------------------------------- helpers


async def end_total(bootstrap: str, topic: str) -> int:
    """The sum of the topic's end offsets (right on noida-db's Kafka, not on Tansu's)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(ends.values())


def in_flight(metrics: dict[str, float]) -> bool:
    return metrics.get("socd_in_flight_events", 0.0) > 0


async def consuming_all(ports: list[int], processes: list[subprocess.Popen[bytes]]) -> None:
    """Until every member has counted events (each owns partitions and consumes)."""
    for port, process in zip(ports, processes, strict=True):
        done, _ = await scrape_until(port, process, lambda m: sum(
            v for k, v in m.items() if k.startswith("socd_events_total")) > 0)
        assert done, f"the member on port {port} consumed nothing"
