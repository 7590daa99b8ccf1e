"""socd run, end to end, as a user runs it: a real process against real servers."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.helpers import (
    assert_all_committed,
    daemon,
    produce,
    read_topic,
    scrape_until,
    wait_for_count,
    wait_for_metrics,
    write_config,
)

pytestmark = pytest.mark.integration


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
    stopped = [line for line in map(orjson.loads, log_text.splitlines())
               if line.get("event.action") == "stopped"]
    assert [line["socd"]["status"] for line in stopped] == ["ok"]

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


async def test_replay_keeps_one_document_per_threat_and_its_handling(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """The same events consumed twice (a new consumer group, as after a lost commit) leave
    one document per threat (document ids are deterministic), each as first written: what
    an operator recorded on it between the two (here a closed status) is kept."""
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
        if run == 0:
            first = (await es.search(index=index, size=1))["hits"]["hits"][0]
            await es.update(index=first["_index"], id=first["_id"],
                            doc={"socd": {"status": "closed"}}, refresh=True)
    assert (await es.count(index=index))["count"] == expected["docs"]
    again = await es.get(index=first["_index"], id=first["_id"])
    assert again["_source"]["socd"]["status"] == "closed"
    assert again["_source"]["event"]["ingested"] == first["_source"]["event"]["ingested"]


async def test_sigterm_during_start_up_ends_it_at_once(
        servers: Endpoints, unique: str, tmp_path: Path) -> None:
    """A broker that accepts connections and never answers holds the consumer's start-up
    for its request timeout (40 s); SIGTERM meanwhile cancels the start-up after at most
    STOP_FETCH_S (2 s): socd exits 0, well inside systemd's TimeoutStopSec, having logged
    start_up_cancelled; nothing was fetched, so nothing is lost."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshakes; nobody reads or answers
        broker = f"127.0.0.1:{silent.getsockname()[1]}"
        port = free_port()
        config = write_config(tmp_path / "socd.yaml", Endpoints(broker, servers.elasticsearch),
                              unique, port)
        with daemon(config, tmp_path / "socd.log") as process:
            listening, _ = await scrape_until(
                port, process, lambda samples: samples.get("socd_rules_loaded", 0) > 0)
            assert listening
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=20)  # a start-up left to end by itself: 40 s+
    log = (tmp_path / "socd.log").read_text()
    assert status == 0, log
    assert '"start_up_cancelled"' in log
    assert '"fatal"' not in log
    assert "Unclosed" not in log  # the half-started Kafka clients were closed
