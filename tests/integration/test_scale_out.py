"""Two socd processes in one consumer group share the partitions; when one stops, the
other takes its partitions over, and every event is processed and committed."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import make_topics
from tests.integration.helpers import (
    committed_total,
    daemon,
    events_counted,
    labelled,
    produce,
    scrape,
    until,
    wait_for_count,
    wait_ready,
    write_config,
)

pytestmark = pytest.mark.integration


def critical(i: int) -> bytes:
    return orjson.dumps({"alert_id": f"s-{i}", "detected_at": "2026-04-01T12:00:00+07:00",
                         "severity": 9, "category": "ransomware"})




def lag_partitions(port: int) -> set[int]:
    """The partitions whose socd_consumer_lag the process at ``port`` reports."""
    try:
        metrics = scrape(port)
    except OSError:
        return set()
    return {int(dict(labels)["partition"])
            for labels in labelled(metrics, "socd_consumer_lag")}




async def test_two_processes_share_and_hand_over_partitions(
        group_servers: Endpoints, unique: str, group_es: AsyncElasticsearch,
        tmp_path: Path) -> None:
    """Both members consume; after SIGTERM to one, the other finishes the stream; each
    event is indexed once and the group commits every offset. The consumer lag follows the
    partitions: the first member reports all four, and once the second has joined each
    reports only its own (the revoked partitions' series are gone)."""
    topic = f"sensors.cyradar.{unique}"
    servers, es = group_servers, group_es
    await make_topics(servers.kafka, topic, f"socd.dead-letter.{unique}", partitions=4)
    ports = [free_port(), free_port()]
    configs = [write_config(tmp_path / f"socd-{n}.yaml", servers, unique, port)
               for n, port in enumerate(ports)]
    first_half = [critical(i) for i in range(200)]
    second_half = [critical(i) for i in range(200, 400)]
    with daemon(configs[0], tmp_path / "a.log") as a:
        await wait_ready(ports[0], a)
        await until(lambda: lag_partitions(ports[0]) == {0, 1, 2, 3},
                    "the first member's lag on all four partitions")
        with daemon(configs[1], tmp_path / "b.log") as b:
            await wait_ready(ports[1], b)

            def split() -> bool:
                mine, theirs = lag_partitions(ports[0]), lag_partitions(ports[1])
                return (bool(mine) and bool(theirs) and not mine & theirs
                        and mine | theirs == {0, 1, 2, 3})

            await until(split, "each member's lag on its own partitions only")
            await produce(servers.kafka, topic, first_half)
            for _ in range(300):
                if sum(events_counted(p) for p in ports) >= len(first_half):
                    break
                await asyncio.sleep(0.1)
            shares = [events_counted(p) for p in ports]
            a.send_signal(signal.SIGTERM)
            assert a.wait(timeout=30) == 0
            await produce(servers.kafka, topic, second_half)
            count = await wait_for_count(es, f"t{unique}-alerts*", 400, b, timeout=90)
            b.send_signal(signal.SIGTERM)
            assert b.wait(timeout=30) == 0
    assert count == 400
    assert sum(shares) == len(first_half)
    assert all(share > 0 for share in shares), f"one member got no partition: {shares}"
    assert await committed_total(servers.kafka, f"socd-test-{unique}", topic) == 400
