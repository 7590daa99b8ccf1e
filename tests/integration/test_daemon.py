"""socd run, end to end, as a user runs it: a real process against real servers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parent.parent / "files" / "rules"


def cyradar(i: int, category: str, severity: int, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "alert_id": f"a-{i:05d}", "detected_at": "2026-06-15T08:12:44+07:00",
        "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
        "severity": severity, "category": category, "threat_name": f"{category} #{i}",
        "src": {"ip": "10.20.1.15", "port": 52344}, "dst": {"ip": "185.244.25.1", "port": 443},
        "protocol": "tcp", "action": "alerted", "mitre": ["T1071.001"],
    }
    event.update(extra)
    return event


def mixed_stream() -> tuple[list[bytes], dict[str, Any]]:
    """Messages and what socd must make of them under tests/files/rules."""
    events = (
        [cyradar(i, "apt_c2", 9) for i in range(5)]            # critical, layer 2
        + [cyradar(10 + i, "malware", 7) for i in range(4)]    # high-risk, layer 2
        + [cyradar(20 + i, "scan", 3) for i in range(3)]       # no threat
        + [cyradar(30 + i, "defacement", 5) for i in range(2)]  # critical, layer 1 (rule)
    )
    missing_id = cyradar(40, "apt_c2", 9)
    del missing_id["alert_id"]
    messages = [orjson.dumps(e) for e in events] + [b"this is not json", orjson.dumps(missing_id)]
    expected = {
        "docs": 11, "critical": 7, "high-risk": 4,
        "by_layer": {("critical", 2): 5, ("high-risk", 2): 4, ("critical", 1): 2},
        "dead": {"not_json": 1, "invalid_event": 1},
        "events": len(messages),
    }
    return messages, expected


def write_config(path: Path, servers: Endpoints, unique: str, metrics_port: int) -> Path:
    path.write_text(f"""
kafka:
  bootstrap_servers: "{servers.kafka}"
  group_id: socd-test-{unique}
inputs:
  - topic: sensors.cyradar.{unique}
    connector: cyradar
    layer: 2
    sensor: cyradar-ndr
rules:
  paths: ["{RULES}"]
elasticsearch:
  hosts: ["{servers.elasticsearch}"]
  index_prefix: t{unique}
metrics:
  listen: "127.0.0.1:{metrics_port}"
dead_letter:
  topic: socd.dead-letter.{unique}
logging:
  format: json
""")
    return path


@contextmanager
def daemon(config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "socd", "run", "-c", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def wait_for_metrics(port: int, process: subprocess.Popen[bytes], *, threats: int,
                           events: int, timeout: float = 60) -> dict[str, float]:
    """Scrape until the daemon has counted ``events`` events and ``threats`` threats."""
    deadline = time.monotonic() + timeout
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, "socd exited early"
        try:
            metrics = scrape(port)
        except OSError:
            metrics = {}
        seen_events = sum(v for k, v in metrics.items() if k.startswith("socd_events_total"))
        seen_threats = sum(v for k, v in metrics.items() if k.startswith("socd_threats_total"))
        if seen_events >= events and seen_threats >= threats:
            return metrics
        await asyncio.sleep(0.2)
    return metrics


async def wait_for_count(es: AsyncElasticsearch, index: str, want: int,
                         process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        assert process.poll() is None, "socd exited early"
        await es.indices.refresh(index=index, allow_no_indices=True)
        count = int((await es.count(index=index, allow_no_indices=True))["count"])
        if count >= want:
            return count
        await asyncio.sleep(0.2)
    return count


async def produce(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, message in enumerate(messages):
            await producer.send_and_wait(topic, message, key=str(i).encode())
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, want: int,
                     timeout: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


@pytest.fixture
async def topics(unique: str, create_topics: Any) -> tuple[str, str]:
    names = (f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}")
    await create_topics(*names)
    return names


async def test_mixed_stream_indexed_counted_dead_lettered_and_committed(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """Good and bad messages on one topic: exactly the expected threats in Elasticsearch
    with their class and layer, metrics equal to them, bad messages in the dead-letter topic
    with their reason and origin, and after SIGTERM every offset committed, exit 0."""
    input_topic, dead_topic = topics
    messages, expected = mixed_stream()
    await produce(servers.kafka, input_topic, messages)
    metrics_port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, metrics_port)
    index = f"t{unique}-alerts*"

    with daemon(config, tmp_path / "socd.log") as process:
        count = await wait_for_count(es, index, expected["docs"], process)
        assert count == expected["docs"], (tmp_path / "socd.log").read_text()[-3000:]
        dead = await read_topic(servers.kafka, dead_topic, 2)
        metrics = await wait_for_metrics(metrics_port, process, threats=expected["docs"],
                                         events=expected["events"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

    log_text = (tmp_path / "socd.log").read_text()
    assert '"event": "stopped"' in log_text and '"status": "ok"' in log_text

    # Elasticsearch: one document per threat, socd's verdict on each.
    await es.indices.refresh(index=index)
    hits = (await es.search(index=index, size=100))["hits"]["hits"]
    assert len(hits) == expected["docs"]
    got: dict[tuple[str, int], int] = {}
    for hit in hits:
        source = hit["_source"]
        key = (source["socd"]["class"], source["socd"]["layer"])
        got[key] = got.get(key, 0) + 1
        assert source["event"]["kind"] == "alert"
        assert source["@timestamp"] == "2026-06-15T01:12:44.000Z"
        assert source["socd"]["rule"]["id"] in source["socd"]["rule"]["ids"]
        assert hit["_index"] == f"t{unique}-alerts-2026.06"
    assert got == expected["by_layer"]

    # Metrics equal to what was indexed and dead-lettered.
    assert metrics[f'socd_events_total{{input="{input_topic}",sensor="cyradar-ndr"}}'] == \
        expected["events"]
    assert metrics['socd_threats_total{class="critical",layer="2",sensor="cyradar-ndr"}'] == 5
    assert metrics['socd_threats_total{class="critical",layer="1",sensor="cyradar-ndr"}'] == 2
    assert metrics['socd_threats_total{class="high-risk",layer="2",sensor="cyradar-ndr"}'] == 4
    for reason, number in expected["dead"].items():
        assert metrics[f'socd_dead_letter_total{{reason="{reason}"}}'] == number

    # Dead letters: original bytes, reason and origin in headers.
    assert len(dead) == 2
    by_reason = {dict(r.headers)["socd.reason"].decode(): r for r in dead}
    assert set(by_reason) == set(expected["dead"])
    not_json = by_reason["not_json"]
    assert not_json.value == b"this is not json"
    headers = dict(not_json.headers)
    assert headers["socd.topic"].decode() == input_topic
    assert headers["socd.connector"] == b"cyradar"
    assert int(headers["socd.offset"]) >= 0
    assert b"alert_id" in dict(by_reason["invalid_event"].headers)["socd.detail"]

    # Nothing uncommitted: the group's committed offsets reach the end of every partition.
    await assert_all_committed(servers.kafka, f"socd-test-{unique}", input_topic,
                               len(messages))


async def assert_all_committed(bootstrap: str, group: str, topic: str, total: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        committed = 0
        for partition in partitions:
            committed += await consumer.committed(TopicPartition(topic, partition)) or 0
    finally:
        await consumer.stop()
    # Offsets start at 0 on a fresh topic, so the committed offsets add up to the count.
    assert committed == total


async def test_replay_overwrites_instead_of_duplicating(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """The same events consumed twice (a new consumer group, as after a lost commit) leave
    one document per threat: document ids are deterministic."""
    input_topic, _ = topics
    messages, expected = mixed_stream()
    await produce(servers.kafka, input_topic, messages)
    index = f"t{unique}-alerts*"
    for run in range(2):
        port = free_port()
        config = write_config(tmp_path / f"socd-{run}.yaml", servers, f"{unique}", port)
        text = config.read_text().replace(f"socd-test-{unique}", f"socd-test-{unique}-{run}")
        config.write_text(text)
        with daemon(config, tmp_path / f"socd-{run}.log") as process:
            metrics = await wait_for_metrics(port, process, threats=expected["docs"],
                                             events=expected["events"])
            assert sum(v for k, v in metrics.items()
                       if k.startswith("socd_threats_total")) == expected["docs"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
    await es.indices.refresh(index=index)
    assert (await es.count(index=index))["count"] == expected["docs"]
