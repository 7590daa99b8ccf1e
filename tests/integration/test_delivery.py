"""Delivery guarantees with real servers: malformed documents are dead-lettered, nothing is
committed before it is durable, rules reload on SIGHUP and a broken set is refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.helpers import (
    RULES,
    committed_total,
    daemon,
    produce,
    read_topic,
    scrape,
    scrape_until,
    wait_for_count,
    wait_for_metrics,
    wait_ready,
    write_config,
)

pytestmark = pytest.mark.integration


def event(i: int, category: str = "apt_c2", severity: int = 9, **extra: Any) -> bytes:
    return orjson.dumps({"alert_id": f"d-{i}", "detected_at": "2026-02-03T10:00:00+07:00",
                         "severity": severity, "category": category, **extra})


async def test_document_elasticsearch_refuses_is_dead_lettered(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """A threat whose document Elasticsearch refuses (a text size in a long field) goes to
    the dead-letter topic as index_rejected with Elasticsearch's reason; the others index.
    (A mapping file cannot write such a value; an ECS document passed through can bring one
    in a field the passthrough mapping does not check.)"""
    input_topic, dead_topic = topics
    mapping = (Path(__file__).resolve().parents[2] / "connectors" / "ecs.yaml").read_text()
    (tmp_path / "loose.yaml").write_text(mapping.replace(
        "name: ecs", "name: loose\nlogsource: {product: cyradar}"))

    def document(i: int, **extra: Any) -> bytes:
        return orjson.dumps({"@timestamp": "2026-02-03T03:00:00Z", "event": {"id": f"d-{i}",
                             "severity": 9}, "rule": {"category": "apt_c2"}, **extra})

    await produce(servers.kafka, input_topic, [
        document(1), document(2, file={"size": "not-a-number"}), document(3)])
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port,
                          connector=str(tmp_path / "loose.yaml"))
    with daemon(config, tmp_path / "socd.log") as process:
        metrics = await wait_for_metrics(port, process, threats=2, events=3)
        dead = await read_topic(servers.kafka, dead_topic, 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert metrics['socd_dead_letter_total{reason="index_rejected"}'] == 1
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["socd.reason"] == b"index_rejected"
    assert b"file.size" in headers["socd.detail"]
    assert orjson.loads(dead[0].value)["event"]["id"] == "d-2"
    assert await wait_for_count(es, f"t{unique}-alerts*", 2, None) == 2
    assert await committed_total(servers.kafka, f"socd-test-{unique}", input_topic) == 3


class Proxy:
    """A TCP relay in front of Elasticsearch that a test can cut and restore."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, upstream_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_nothing_committed_while_elasticsearch_is_down(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """With Elasticsearch unreachable socd keeps retrying and commits nothing; once it is
    back every threat is indexed and every offset committed; SIGTERM still exits 0."""
    input_topic, _ = topics
    proxy = Proxy(servers.elasticsearch)
    await proxy.up()
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port,
                          elasticsearch=f"http://127.0.0.1:{proxy.port}")
    group = f"socd-test-{unique}"
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        await proxy.down()
        await produce(servers.kafka, input_topic, [event(i) for i in range(6)])
        metrics = await wait_for_metrics(port, process, threats=0, events=6)
        await asyncio.sleep(2.0)  # several bulk attempts fail meanwhile
        assert await committed_total(servers.kafka, group, input_topic) == 0
        during = scrape(port)
        assert during.get("socd_bulk_retries_total", 0) >= 1
        assert during["socd_in_flight_events"] == 6 and during["socd_in_flight_bytes"] > 0
        assert sum(v for k, v in metrics.items() if k.startswith("socd_threats_total")) == 0
        await proxy.up()
        await wait_for_metrics(port, process, threats=6, events=6)
        after = await _settled(port)
        assert after["socd_in_flight_events"] == 0 and after["socd_in_flight_bytes"] == 0
        assert after["socd_ready"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    await proxy.down()
    assert await wait_for_count(es, f"t{unique}-alerts*", 6, None) == 6
    assert await committed_total(servers.kafka, group, input_topic) == 6
    # the Elasticsearch client's own warnings of the outage are JSON lines among socd's
    written = [json.loads(line) for line in (tmp_path / "socd.log").read_text().splitlines()]
    assert {line["log.logger"] for line in written} >= {"socd.app",
                                                          "elastic_transport.node_pool"}


async def _settled(port: int, timeout: float = 15) -> dict[str, float]:
    """Scrape until nothing is in flight and a commit has been observed (the commit follows
    durability by up to one fetch timeout)."""
    ok, metrics = await scrape_until(port, None, lambda m: (
        m.get("socd_in_flight_events") == 0
        and m.get("socd_offset_commit_duration_seconds_count", 0) >= 1), timeout=timeout)
    if not ok:
        raise AssertionError(f"delivery did not settle: {metrics}")
    return metrics


async def test_sighup_reloads_rules_and_refuses_a_broken_set(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, topics: tuple[str, str],
        tmp_path: Path) -> None:
    """SIGHUP with a broken rule file: refused, counted, logged, old rules kept. SIGHUP with
    a good new rule: it classifies the next events."""
    input_topic, _ = topics
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port, rules=rules,
                          watch_rules=False)  # only the signal reloads here
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        before = scrape(port)
        (rules / "broken.yml").write_text("title: broken\ndetection: {condition: nope}\n")
        process.send_signal(signal.SIGHUP)
        await produce(servers.kafka, input_topic, [event(1, "scan", 2)])
        after_broken = await wait_for_metrics(port, process, threats=0, events=1)
        assert after_broken["socd_rule_reload_failures_total"] == 1
        assert after_broken["socd_rules_loaded"] == before["socd_rules_loaded"]

        (rules / "broken.yml").unlink()
        (rules / "scan.yml").write_text(
            "title: scans count now\nid: 5f0c4f38-6a8e-4b3e-9d8e-0a0a0a0a0a0a\nstatus: test\n"
            "logsource: {product: cyradar}\ndetection:\n  s: {rule.category: scan}\n"
            "  condition: s\nlevel: high\n")
        process.send_signal(signal.SIGHUP)
        for _ in range(50):
            if scrape(port)["socd_rules_loaded"] == before["socd_rules_loaded"] + 1:
                break
            await asyncio.sleep(0.1)
        await produce(servers.kafka, input_topic, [event(2, "scan", 2)])
        metrics = await wait_for_metrics(port, process, threats=1, events=2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert metrics['socd_threats_total{class="high-risk",layer="2",sensor="cyradar-ndr"}'] == 1
    log = (tmp_path / "socd.log").read_text()
    assert "rules_reload_rejected" in log
    assert "broken.yml" in log


async def test_rule_file_change_reloads_without_a_signal(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path) -> None:
    """A rule file added while socd runs is picked up within seconds (rules.watch), and
    classifies the events that follow."""
    input_topic, _ = topics
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port, rules=rules)
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        loaded = scrape(port)["socd_rules_loaded"]
        (rules / "scan.yml").write_text(
            "title: scans count now\nid: 6a1d0b7e-2b9c-4f0e-8d6a-1b1b1b1b1b1b\nstatus: test\n"
            "logsource: {product: cyradar}\ndetection:\n  s: {rule.category: scan}\n"
            "  condition: s\nlevel: critical\n")
        for _ in range(150):
            if scrape(port)["socd_rules_loaded"] == loaded + 1:
                break
            await asyncio.sleep(0.1)
        assert scrape(port)["socd_rules_loaded"] == loaded + 1
        await produce(servers.kafka, input_topic, [event(1, "scan", 2)])
        metrics = await wait_for_metrics(port, process, threats=1, events=1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert metrics['socd_threats_total{class="critical",layer="2",sensor="cyradar-ndr"}'] == 1
    assert "rules_changed" in (tmp_path / "socd.log").read_text()


async def test_message_too_large_for_any_topic_is_dead_lettered_cut(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path) -> None:
    """A message far over kafka.max_message_bytes goes to the dead-letter topic as its first
    64 KiB with its real size in socd.truncated, instead of being refused there too (which
    would stop socd and make it read the message again at every start)."""
    input_topic, dead_topic = topics
    huge = orjson.dumps({"alert_id": "huge", "padding": "x" * 200_000})
    await produce(servers.kafka, input_topic, [huge, event(1)])
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)
    config.write_text(config.read_text().replace(
        "  session_timeout_ms: 6000\n", "  session_timeout_ms: 6000\n  max_message_bytes: 1024\n"))
    with daemon(config, tmp_path / "socd.log") as process:
        metrics = await wait_for_metrics(port, process, threats=1, events=2)
        dead = await read_topic(servers.kafka, dead_topic, 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert metrics['socd_dead_letter_total{reason="too_large"}'] == 1
    headers = dict(dead[0].headers)
    assert headers["socd.reason"] == b"too_large"
    assert headers["socd.truncated"] == str(len(huge)).encode()
    assert dead[0].value == huge[:65_536]
