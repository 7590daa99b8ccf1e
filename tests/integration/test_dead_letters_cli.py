"""``socd dead-letters list`` and ``replay`` on the real servers, end to end: the daemon
dead-letters bad messages; ``list`` counts them and shows their origin; ``replay`` sends the
original bytes, key and headers back to their topic marked ``socd.replayed``; the daemon
dead-letters them again carrying the mark; a second ``replay`` sends nothing unless
``--again``."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from socd.event import DeadLetter, Record
from socd.sinks.dead_letter import headers_for, letter_value
from tests.integration.conftest import TopicMaker
from tests.integration.helpers import (
    daemon,
    produce,
    read_topic,
    run_socd,
    wait_committed,
    wait_for_count,
    write_config,
)

pytestmark = pytest.mark.integration

THREAT = orjson.dumps({"alert_id": "d-1", "detected_at": "2026-02-03T10:00:00+07:00",
                       "severity": 9, "category": "apt_c2"})


async def test_list_replay_and_no_replay_loop(servers: Endpoints, unique: str,
                                              create_topics: TopicMaker,
                                              tmp_path: Path) -> None:
    """Two messages the connector refuses (not JSON) are dead-lettered; ``list`` reports
    them by reason, connector and topic with their origin; ``replay --dry-run`` sends
    nothing; ``replay`` sends both back with their key and headers and ``socd.replayed``;
    failing again, their new letters carry ``socd.replayed``; ``replay`` then sends nothing
    (failed replays skipped, originals superseded), ``replay --again`` sends the two newest
    copies once."""
    input_topic, dead_topic = f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"
    await create_topics(input_topic, partitions=1)
    await create_topics(dead_topic)
    group = f"socd-test-{unique}"
    config = str(write_config(tmp_path / "socd.yaml", servers, unique, free_port()))

    with daemon(Path(config), tmp_path / "socd.log") as process:
        producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(input_topic, THREAT, key=b"k0")
            await producer.send_and_wait(input_topic, b"broken one", key=b"k1",
                                         headers=[("trace", b"t-1")])
            await producer.send_and_wait(input_topic, b"broken two", key=b"k2")
        finally:
            await producer.stop()
        first = await read_topic(servers.kafka, dead_topic, 2, timeout=60)
        assert len(first) == 2
        assert await wait_committed(servers.kafka, group, input_topic, 3, process) == 3

        listed = await run_socd("dead-letters", "list", "-c", config, "--format", "json")
        assert listed.returncode == 0, listed.stderr
        report = orjson.loads(listed.stdout)
        assert report["total"] == 2 and report["failed_replays"] == 0
        assert report["by_reason"] == {"not_json": 2}
        assert report["by_connector"] == {"cyradar": 2}
        assert report["by_topic"] == {input_topic: 2}
        assert sorted((n["topic"], n["partition"], n["offset"]) for n in report["newest"]) == [
            (input_topic, 0, 1), (input_topic, 0, 2)]
        text = await run_socd("dead-letters", "list", "-c", config, "--limit", "1")
        assert text.returncode == 0 and f"{dead_topic}: 2 dead letters" in text.stdout
        assert text.stdout.count(f"{input_topic}/0/") == 1  # the newest one only

        dry = await run_socd("dead-letters", "replay", "-c", config, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.count("would send ") == 2
        assert "would replay 2 of 2 matching" in dry.stdout
        none = await run_socd("dead-letters", "replay", "-c", config, "--reason", "too_large")
        assert "replayed 0 of 0 matching" in none.stdout

        sent = await run_socd("dead-letters", "replay", "-c", config, "--connector",
                              "cyradar", "--reason", "not_json", "--since", "1h")
        assert sent.returncode == 0, sent.stderr
        assert "replayed 2 of 2 matching" in sent.stdout
        letters = await read_topic(servers.kafka, dead_topic, 4, timeout=60)
        assert await wait_committed(servers.kafka, group, input_topic, 5, process) == 5

        assert len(letters) == 4
        where = {f"{dead_topic}/{r.partition}/{r.offset}": r for r in first}
        again = [r for r in letters if any(k == "socd.replayed" for k, _ in r.headers)]
        assert len(again) == 2
        for record in again:
            headers = dict(record.headers)
            origin = where[headers["socd.replayed"].decode()]
            assert (record.value, record.key) == (origin.value, origin.key)
            assert headers["socd.topic"].decode() == input_topic
            assert headers["socd.offset"] in (b"3", b"4")
            assert headers.get("trace") == dict(origin.headers).get("trace")
        assert any(dict(r.headers).get("trace") == b"t-1" for r in again)

        listed = await run_socd("dead-letters", "list", "-c", config, "--format", "json")
        assert orjson.loads(listed.stdout)["failed_replays"] == 2
        skipped = await run_socd("dead-letters", "replay", "-c", config)
        assert skipped.returncode == 0, skipped.stderr
        assert "replayed 0 of 4 matching" in skipped.stdout
        assert "2 failed replays skipped" in skipped.stdout
        assert "2 replayed before and failed again" in skipped.stdout
        forced = await run_socd("dead-letters", "replay", "-c", config, "--again")
        assert "replayed 2 of 4 matching" in forced.stdout, forced.stdout
        assert await wait_committed(servers.kafka, group, input_topic, 7, process) == 7

    # Every replay's sends were acknowledged before it returned, so the topic now holds all
    # that was ever sent: the three produced, two by `replay`, two by `replay --again`; the
    # dry run, the too_large filter and the skipping replay sent nothing.
    assert len(await read_topic(servers.kafka, input_topic, 8, timeout=5)) == 7

async def test_list_of_a_missing_topic_is_one_line(servers: Endpoints, unique: str,
                                                   tmp_path: Path) -> None:
    """A dead-letter topic that does not exist: one line naming the key, exit 2."""
    config = str(write_config(tmp_path / "socd.yaml", servers, unique, free_port()))
    result = await run_socd("dead-letters", "list", "-c", config)
    assert result.returncode == 2
    assert result.stderr == (f"socd: dead_letter.topic 'socd.dead-letter.{unique}': no such "
                             f"topic on Kafka at {servers.kafka}: check the name (socd creates "
                             "no topic; none means no letter yet)\n")


async def test_list_reads_to_the_end_of_letters_sent_in_one_batch(
        servers: Endpoints, unique: str, create_topics: TopicMaker, tmp_path: Path) -> None:
    """Letters written as the daemon writes them, several in one produce batch on one
    partition (the daemon sends a batch's letters together): ``list`` counts every one and
    stops at the end; a truncated letter is counted and ``replay`` does not send it."""
    input_topic, dead_topic = f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"
    await create_topics(input_topic, dead_topic, partitions=1)
    config = str(write_config(tmp_path / "socd.yaml", servers, unique, free_port()))
    now = datetime.now(UTC)
    letters = [DeadLetter(Record(input_topic, 0, 0, b"z" * 70_000), "too_large", "big", "cef")]
    letters += [DeadLetter(Record(input_topic, 0, i, b"m%d" % i), "not_json", "bad", "cyradar")
                for i in range(1, 7)]  # small: these six share the topic's last batch
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, acks="all",
                                linger_ms=100)
    await producer.start()
    try:
        futures = []
        for letter in letters:
            value, extra = letter_value(letter)
            futures.append(await producer.send(dead_topic, value, key=None,
                                               headers=headers_for(letter, now) + extra))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    listed = await run_socd("dead-letters", "list", "-c", config, "--format", "json",
                            "--limit", "3")
    assert listed.returncode == 0, listed.stderr
    report = orjson.loads(listed.stdout)
    assert (report["total"], report["truncated"]) == (7, 1)
    assert report["by_reason"] == {"not_json": 6, "too_large": 1}
    assert report["by_connector"] == {"cyradar": 6, "cef": 1}
    assert len(report["newest"]) == 3
    dry = await run_socd("dead-letters", "replay", "-c", config, "--dry-run")
    assert "would replay 6 of 7 matching" in dry.stdout, dry.stdout
    assert "1 truncated, cannot be replayed" in dry.stdout
    assert dry.stdout.count("would send ") == 6


async def test_after_a_fix_replayed_letters_are_indexed(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, create_topics: TopicMaker,
        tmp_path: Path) -> None:
    """The input is read with the wrong connector (suricata for Cyradar alerts): its threats
    are dead-lettered as ``invalid_event``. With the connector fixed and socd restarted,
    ``replay --reason invalid_event`` sends them back and they are indexed, once each."""
    input_topic, dead_topic = f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"
    await create_topics(input_topic, partitions=1)
    await create_topics(dead_topic)
    group = f"socd-test-{unique}"
    threats = [orjson.dumps({"alert_id": f"f-{i}", "detected_at": "2026-02-03T10:00:00+07:00",
                             "severity": 9, "category": "apt_c2"}) for i in range(3)]
    wrong = write_config(tmp_path / "wrong.yaml", servers, unique, free_port(),
                         connector="suricata")
    with daemon(wrong, tmp_path / "wrong.log") as process:
        await produce(servers.kafka, input_topic, threats)
        assert len(await read_topic(servers.kafka, dead_topic, 3, timeout=60)) == 3
        assert await wait_committed(servers.kafka, group, input_topic, 3, process) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0

    fixed = write_config(tmp_path / "fixed.yaml", servers, unique, free_port())
    with daemon(fixed, tmp_path / "fixed.log") as process:
        listed = await run_socd("dead-letters", "list", "-c", str(fixed), "--format", "json")
        assert orjson.loads(listed.stdout)["by_reason"] == {"invalid_event": 3}
        sent = await run_socd("dead-letters", "replay", "-c", str(fixed), "--reason",
                              "invalid_event", "--connector", "suricata")
        assert "replayed 3 of 3 matching" in sent.stdout, sent.stdout + sent.stderr
        assert await wait_committed(servers.kafka, group, input_topic, 6, process) == 6
        index = f"t{unique}-alerts*"
        assert await wait_for_count(es, index, 3, process) == 3
        await es.indices.refresh(index=index)
        found = await es.search(index=index, size=10)
        assert sorted(hit["_source"]["event"]["id"] for hit in found["hits"]["hits"]) == [
            "f-0", "f-1", "f-2"]
