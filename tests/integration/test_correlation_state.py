"""Correlation verdicts do not change when socd crashes, restarts or scales out: the windows
live in Elasticsearch (socd.state.windows).

One correlation rule (``event_count``, ``gte: 3`` high-risk threats from one ``source.ip``
within an hour → critical) over 8 sources, each keyed to one of 4 partitions (Kafka message
key = the group-by value, as rules/README.md advises), 12 events per source: the 3rd, 6th,
9th and 12th of each source are critical, the others high-risk. The same documents must be
upgraded, to the same class, in every run: uninterrupted, SIGKILLed mid-window and started
again, and with two socd processes in one group; and a clean restart mid-window continues
the window. With each source's events spread over the partitions instead, every run gives
each source the same number of firings. Tansu for Kafka (its coordinator hands a killed
member's partitions over; see test_scale_out), noida-db for Elasticsearch.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import given_servers, make_topics
from tests.integration.helpers import (
    RULES,
    committed_total,
    daemon,
    produce,
    wait_committed,
    wait_for_count,
    wait_ready,
    write_config,
)
from tests.integration.test_scale_out import lag_partitions, until

pytestmark = pytest.mark.integration

SOURCES = 8
PER_SOURCE = 12
PARTITIONS = 4
T0 = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)

CORRELATION = """\
title: Test - three high-risk threats from one source within an hour
id: 0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f00c1
status: test
correlation:
  type: event_count
  rules: [0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0002]
  group-by: [source.ip]
  timespan: 1h
  condition: {gte: 3}
level: critical
"""


@pytest.fixture
def tansu(group_servers: Endpoints) -> Endpoints:
    """Tansu: it hands a SIGKILLed member's partitions to the others (conftest)."""
    return group_servers


@pytest.fixture
def es(group_es: AsyncElasticsearch) -> AsyncElasticsearch:
    return group_es


@pytest.fixture
def short_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3 s group session on the local Tansu, so that a SIGKILLed member's partitions are
    handed over soon (Kafka refuses less than 6 s: given servers keep write_config's)."""
    monkeypatch.setenv("SOCD_ELASTICSEARCH__RETRY_BACKOFF_MAX", "1")
    if given_servers() is None:
        monkeypatch.setenv("SOCD_KAFKA__SESSION_TIMEOUT_MS", "3000")


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "severity-high.yml").write_text((RULES / "severity-high.yml").read_text())
    (folder / "three.yml").write_text(CORRELATION)
    return folder


def name(source: int, n: int) -> str:
    return f"c-{source}-{n}"


def message(source: int, n: int) -> bytes:
    when = T0 + timedelta(seconds=10 * n, milliseconds=source)
    return orjson.dumps({"alert_id": name(source, n), "detected_at": when.isoformat(),
                         "severity": 6, "category": "scan",
                         "src": {"ip": f"10.7.0.{source + 1}"}})


def events(numbers: range, spread: bool = False) -> tuple[list[bytes], list[int]]:
    """The events numbered ``numbers`` of every source, interleaved, and their partitions:
    a source's own (keyed), or event n of each source to partition n mod 4 (``spread``)."""
    pairs = [(source, n) for n in numbers for source in range(SOURCES)]
    return [message(s, n) for s, n in pairs], [
        (n if spread else s) % PARTITIONS for s, n in pairs]


EXPECTED = {name(s, n): "critical" if n % 3 == 2 else "high-risk"
            for s in range(SOURCES) for n in range(PER_SOURCE)}

LAYOUTS = ["keyed", "spread"]
"""keyed: each source's events on one partition, the same events upgraded in every run;
spread: each source's events over the four partitions, all within one timespan, so the
counts and the number of firings (12 // 3 per source) are the same in every run, though
which event completes a count depends on how the partitions interleave."""


def check(got: dict[str, str], layout: str) -> None:
    """The verdicts of a run: the expected ones (keyed), or the same firings per source."""
    assert set(got) == set(EXPECTED)
    if layout == "keyed":
        assert got == EXPECTED
        return
    fired = {s: sum(got[name(s, n)] == "critical" for n in range(PER_SOURCE))
             for s in range(SOURCES)}
    assert fired == {s: PER_SOURCE // 3 for s in range(SOURCES)}


async def classes(es: AsyncElasticsearch, prefix: str) -> dict[str, str]:
    """``event.id`` → ``socd.class`` of every threat document."""
    await es.indices.refresh(index=f"{prefix}-alerts*")
    hits = (await es.search(index=f"{prefix}-alerts*", size=1000,
                            source_includes=["event.id", "socd.class"]))["hits"]["hits"]
    return {hit["_source"]["event"]["id"]: hit["_source"]["socd"]["class"] for hit in hits}


async def setup(servers: Endpoints, unique: str) -> str:
    topic = f"sensors.cyradar.{unique}"
    await make_topics(servers.kafka, topic, f"socd.dead-letter.{unique}",
                      partitions=PARTITIONS)
    return topic


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_uninterrupted_run_upgrades_every_third_event(
        tansu: Endpoints, es: AsyncElasticsearch, unique: str, tmp_path: Path,
        rules: Path, layout: str) -> None:
    topic = await setup(tansu, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", tansu, unique, port, rules=rules,
                          watch_rules=False)
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_ready(port, process)
        await produce(tansu.kafka, topic, *events(range(PER_SOURCE), layout == "spread"))
        assert await wait_for_count(es, f"t{unique}-alerts*", len(EXPECTED), process) == len(
            EXPECTED)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    check(await classes(es, f"t{unique}"), layout)
    await es.indices.refresh(index=f"t{unique}-state")
    assert (await es.count(index=f"t{unique}-state"))["count"] == SOURCES


async def test_a_clean_restart_mid_window_continues_the_window(
        tansu: Endpoints, es: AsyncElasticsearch, unique: str, tmp_path: Path,
        rules: Path) -> None:
    """Two events of each source, committed; socd stopped and started again; the third
    event of each source completes the window counted before the restart."""
    topic = await setup(tansu, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", tansu, unique, port, rules=rules,
                          watch_rules=False)
    with daemon(config, tmp_path / "a.log") as process:
        await wait_ready(port, process)
        await produce(tansu.kafka, topic, *events(range(2)))
        await wait_committed(tansu.kafka, f"socd-test-{unique}", topic, 2 * SOURCES, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    with daemon(config, tmp_path / "b.log") as process:
        await wait_ready(port, process)
        await produce(tansu.kafka, topic, *events(range(2, 3)))
        await wait_for_count(es, f"t{unique}-alerts*", 3 * SOURCES, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    got = await classes(es, f"t{unique}")
    assert got == {k: v for k, v in EXPECTED.items() if int(k.rsplit("-", 1)[1]) < 3}


@pytest.mark.usefixtures("short_session")
@pytest.mark.parametrize("layout", LAYOUTS)
async def test_sigkill_mid_window_gives_the_same_verdicts(
        tansu: Endpoints, es: AsyncElasticsearch, unique: str, tmp_path: Path,
        rules: Path, layout: str) -> None:
    """Four events of each source committed (the second window has begun), three more
    delivered, and socd SIGKILLed at once (their batches possibly not committed: read again
    by the next start), then started again for the rest. An in-memory window would start
    empty there and miss the next firing."""
    topic = await setup(tansu, unique)
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", tansu, unique, port, rules=rules,
                          watch_rules=False)
    group = f"socd-test-{unique}"
    with daemon(config, tmp_path / "a.log") as process:
        await wait_ready(port, process)
        spread = layout == "spread"
        await produce(tansu.kafka, topic, *events(range(4), spread))
        await wait_committed(tansu.kafka, group, topic, 4 * SOURCES, process)
        await produce(tansu.kafka, topic, *events(range(4, 7), spread))
        await wait_for_count(es, f"t{unique}-alerts*", 7 * SOURCES, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    committed = await committed_total(tansu.kafka, group, topic)
    with daemon(config, tmp_path / "b.log") as process:
        await wait_ready(port, process)
        await produce(tansu.kafka, topic, *events(range(7, PER_SOURCE), spread))
        assert await wait_for_count(es, f"t{unique}-alerts*", len(EXPECTED), process,
                                    timeout=90) == len(EXPECTED)
        await wait_committed(tansu.kafka, group, topic, len(EXPECTED), process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    check(await classes(es, f"t{unique}"), layout)
    assert 4 * SOURCES <= committed <= 7 * SOURCES


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_two_instances_in_one_group_give_the_same_verdicts(
        tansu: Endpoints, es: AsyncElasticsearch, unique: str, tmp_path: Path,
        rules: Path, layout: str) -> None:
    """Two socd processes share the four partitions; each source's events are counted by
    the process that owns its partition, in the one window of the source."""
    topic = await setup(tansu, unique)
    ports = [free_port(), free_port()]
    configs = [write_config(tmp_path / f"socd-{n}.yaml", tansu, unique, port, rules=rules,
                            watch_rules=False) for n, port in enumerate(ports)]
    with daemon(configs[0], tmp_path / "a.log") as a, \
            daemon(configs[1], tmp_path / "b.log") as b:
        await wait_ready(ports[0], a)
        await wait_ready(ports[1], b)

        def split() -> bool:
            mine, theirs = lag_partitions(ports[0]), lag_partitions(ports[1])
            return bool(mine) and bool(theirs) and mine | theirs == set(range(PARTITIONS))

        await until(split, "both members own partitions")
        await produce(tansu.kafka, topic, *events(range(PER_SOURCE), layout == "spread"))
        assert await wait_for_count(es, f"t{unique}-alerts*", len(EXPECTED), None,
                                    timeout=90) == len(EXPECTED)
        for process in (a, b):
            process.send_signal(signal.SIGTERM)
        assert a.wait(timeout=30) == 0 and b.wait(timeout=30) == 0
    check(await classes(es, f"t{unique}"), layout)
