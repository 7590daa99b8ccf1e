"""socd run's consumer metrics on the real servers: socd_consumer_lag per partition while
socd is held behind (Elasticsearch refusing its bulk requests) and 0 once it has caught up;
socd_last_event_timestamp_seconds only for the input that sent something."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
import yaml
from aiohttp import ClientSession, web
from aiokafka import AIOKafkaProducer

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import TopicMaker
from tests.integration.helpers import daemon, labelled, scrape_until, write_config

pytestmark = pytest.mark.integration

PARTITIONS = 3
PER_PARTITION = 10
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class BulkGate:
    """An HTTP proxy in front of Elasticsearch that answers every ``_bulk`` request with
    429 (too many requests, which socd retries) while closed; everything else passes."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = free_port()
        self.closed = True
        self.refused = 0
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._session = ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.closed and request.path.endswith("/_bulk"):
            self.refused += 1
            return web.json_response({"error": {"type": "es_rejected_execution_exception",
                                                "reason": "held back by the test"},
                                      "status": 429}, status=429)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(request.method, self.target + request.path_qs,
                                         headers=headers, data=await request.read()) as answer:
            body = await answer.read()
            return web.Response(status=answer.status, body=body, headers={
                k: v for k, v in answer.headers.items() if k.lower() not in _HOP})


@pytest.fixture
async def gate(servers: Endpoints) -> AsyncIterator[BulkGate]:
    proxy = BulkGate(servers.elasticsearch)
    await proxy.start()
    yield proxy
    await proxy.stop()


def critical(partition: int, i: int) -> bytes:
    return orjson.dumps({"alert_id": f"lag-{partition}-{i}",
                         "detected_at": "2026-06-15T08:12:44+07:00", "severity": 9,
                         "category": "apt_c2"})


async def produce_to_partitions(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition in range(PARTITIONS):
            for i in range(PER_PARTITION):
                await producer.send_and_wait(topic, critical(partition, i), partition=partition)
    finally:
        await producer.stop()


def by_partition(metrics: dict[str, float], topic: str) -> dict[int, float]:
    return {int(dict(labels)["partition"]): value
            for labels, value in labelled(metrics, "socd_consumer_lag").items()
            if dict(labels)["topic"] == topic}


async def poll(port: int, process: subprocess.Popen[bytes],
               done: Callable[[dict[str, float]], bool], what: str,
               timeout: float = 60) -> dict[str, float]:
    """Scrape until ``done`` accepts the samples; AssertionError naming ``what`` after
    ``timeout`` s (a bound for a stuck daemon, never reached when socd works)."""
    ok, metrics = await scrape_until(port, process, done, timeout=timeout)
    if not ok:
        shown = {k: v for k, v in metrics.items() if "lag" in k or "last_event" in k}
        raise AssertionError(f"{what}: not within {timeout} s; last scrape: {shown}")
    return metrics


async def test_lag_while_held_behind_then_zero_and_last_event_per_input(
        servers: Endpoints, unique: str, create_topics: TopicMaker, gate: BulkGate,
        tmp_path: Path) -> None:
    """30 critical events wait on 3 partitions before socd starts; with one document per
    bulk request and Elasticsearch answering 429 to every bulk, socd takes one event and
    is stuck: each partition reports its lag (> 0), and the lags plus the events consumed
    are the 30 produced. Once Elasticsearch takes the bulks, every lag falls to 0. Only the
    input that got messages has a last-event time, within the run; the quiet input, whose
    partition was fetched, has a lag of 0 and no last-event time."""
    busy, quiet = f"sensors.cyradar.{unique}", f"sensors.quiet.{unique}"
    await create_topics(busy, f"socd.dead-letter.{unique}", partitions=PARTITIONS)
    await create_topics(quiet, partitions=1)
    await produce_to_partitions(servers.kafka, busy)
    port = free_port()
    path = write_config(tmp_path / "socd.yaml", servers, unique, port,
                        elasticsearch=f"http://127.0.0.1:{gate.port}", watch_rules=False)
    cfg = yaml.safe_load(path.read_text())
    cfg["inputs"].append({"topic": quiet, "connector": "cyradar", "layer": 1,
                          "sensor": "quiet-ids", "name": "quiet"})
    cfg["kafka"]["max_batch"] = 1
    cfg["elasticsearch"].update(max_in_flight=1, bulk_max_docs=1, retry_backoff_max=0.3)
    path.write_text(yaml.safe_dump(cfg))
    total = PARTITIONS * PER_PARTITION
    started = time.time()

    def events(metrics: dict[str, float]) -> float:
        return metrics.get(f'socd_events_total{{input="{busy}",sensor="cyradar-ndr"}}', 0)

    def held_behind(metrics: dict[str, float]) -> bool:
        lags = by_partition(metrics, busy)
        return (set(lags) == set(range(PARTITIONS)) and events(metrics) >= 1
                and sum(lags.values()) + events(metrics) == total)

    def caught_up(metrics: dict[str, float]) -> bool:
        lags = by_partition(metrics, busy)
        return set(lags) == set(range(PARTITIONS)) and set(lags.values()) == {0}

    with daemon(path, tmp_path / "socd.log") as process:
        behind = await poll(port, process, held_behind, "lag of every partition reported")
        assert gate.refused >= 1
        lags = by_partition(behind, busy)
        print(f"lag while held behind: {lags}, events consumed: {events(behind):.0f}")
        assert all(lag > 0 for lag in lags.values()), lags
        assert by_partition(behind, quiet) == {0: 0}
        gate.closed = False
        after = await poll(port, process, caught_up, "every lag back to 0")
        assert events(after) == total
        assert sum(v for k, v in after.items() if k.startswith("socd_threats_total")) == total
        stamps = labelled(after, "socd_last_event_timestamp_seconds")
        assert set(stamps) == {frozenset({("input", busy)})}, stamps
        assert started <= stamps[frozenset({("input", busy)})] <= time.time()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
