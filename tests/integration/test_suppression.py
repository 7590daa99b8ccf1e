"""Alert suppression on the real servers: one alert per key and window, counts exact whatever
crashed, whichever process delivered and however often a batch was read (docs/state.md)."""

from __future__ import annotations

import random
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import make_topics
from tests.integration.helpers import (
    committed_total,
    daemon,
    events_counted,
    produce,
    scrape,
    until,
    wait_ready,
    write_config,
)

pytestmark = pytest.mark.integration

KEYS = 20
EVENTS = 10_000
WINDOW = timedelta(hours=1)
BASE = datetime(2026, 4, 1, 5, 0, tzinfo=UTC)
"""The events fall in two windows: [05:00, 06:00) and [06:00, 07:00) UTC."""
SUPPRESS = "    suppress: {by: [source.ip], for: 1h}"


def flood_event(i: int) -> tuple[bytes, str, datetime]:
    """Event ``i`` of the flood: a critical Cyradar alert from one of KEYS sources, at a
    time spread over two windows. Returns (message, source address, time)."""
    source = f"203.0.113.{i % KEYS + 1}"
    when = BASE + timedelta(seconds=(i * 7919) % 7200, milliseconds=i % 1000)
    message = orjson.dumps({
        "alert_id": f"flood-{i}", "detected_at": when.isoformat(), "severity": 9,
        "category": "ransomware", "src": {"ip": source}, "dst": {"ip": "198.51.100.7"}})
    return message, source, when






def expected_alerts() -> dict[tuple[str, str], tuple[int, str, str]]:
    """(source, window start) → (threats, earliest, latest) of the flood."""
    found: dict[tuple[str, str], list[datetime]] = {}
    for i in range(EVENTS):
        _, source, when = flood_event(i)
        start = BASE + (when - BASE) // WINDOW * WINDOW
        found.setdefault((source, start.strftime("%H:%M")), []).append(when)
    return {key: (len(times), _text(min(times)), _text(max(times)))
            for key, times in found.items()}


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def alerts(es: AsyncElasticsearch, unique: str) -> list[dict[str, Any]]:
    await es.indices.refresh(index=f"t{unique}-alerts*")
    response = await es.search(index=f"t{unique}-alerts*", size=1000,
                               query={"match_all": {}}, seq_no_primary_term=True)
    return [{**hit["_source"], "_id": hit["_id"], "_seq_no": hit.get("_seq_no")}
            for hit in response["hits"]["hits"]]


def check_flood(found: list[dict[str, Any]]) -> None:
    """Exactly one alert per key and window, each with the exact count and bounds."""
    want = expected_alerts()
    assert len(want) == 2 * KEYS
    got: dict[tuple[str, str], tuple[int, str, str]] = {}
    for alert in found:
        suppression = alert["socd"]["suppression"]
        start = suppression["start"]
        window = f"{int(start[11:13]):02d}:00"
        key = (alert["source"]["ip"], window)
        assert key not in got, f"two alerts for {key}"
        got[key] = (suppression["docs_count"], suppression["start"], suppression["end"])
        assert suppression["terms"] == [{"field": "source.ip", "value": alert["source"]["ip"]}]
        assert alert["event"]["end"] == suppression["end"]
        assert alert["@timestamp"] == suppression["start"]  # the earliest threat's document
        assert alert["socd"]["class"] == "critical"
    assert Counter(window for _, window in got) == {"05:00": KEYS, "06:00": KEYS}
    assert got == want
    assert sum(count for count, _, _ in got.values()) == EVENTS


async def test_a_flood_through_two_processes_killed_and_restarted_gives_exact_alerts(
        group_servers: Endpoints, unique: str, group_es: AsyncElasticsearch,
        tmp_path: Path) -> None:
    """10,000 critical threats from 20 sources over two one-hour windows, on 4 partitions,
    read by two socd processes in one group, each SIGKILLed once mid-flood (at seeded
    points) and started again: exactly 20 alerts per window, each source's docs_count its
    number of threats in the window (summing to 10,000), start and end the earliest and
    latest, and every offset committed. Then a third process in a new group reads the whole
    topic again: every alert is left as it was (each update a noop)."""
    servers, es = group_servers, group_es
    topic = f"sensors.cyradar.{unique}"
    await make_topics(servers.kafka, topic, f"socd.dead-letter.{unique}", partitions=4)
    rng = random.Random(1313)
    ports = [free_port() for _ in range(5)]
    configs = [write_config(tmp_path / f"socd-{n}.yaml", servers, unique, port,
                            input_extra=SUPPRESS) for n, port in enumerate(ports)]
    await produce(servers.kafka, topic, [flood_event(i)[0] for i in range(EVENTS)])
    first_kill = rng.randint(1_500, 3_500)
    second_kill = rng.randint(1_500, 3_500)
    with daemon(configs[0], tmp_path / "a.log") as a, \
            daemon(configs[1], tmp_path / "b.log") as b:
        await wait_ready(ports[0], a)
        await wait_ready(ports[1], b)
        await until(lambda: events_counted(ports[0]) + events_counted(ports[1]) >= first_kill,
                    f"{first_kill} events read", timeout=120)
        a.send_signal(signal.SIGKILL)
        a.wait()
        group = f"socd-test-{unique}"
        assert await committed_total(servers.kafka, group, topic) < EVENTS  # mid-flood
        b_before = events_counted(ports[1])
        with daemon(configs[2], tmp_path / "a2.log") as a2:
            await wait_ready(ports[2], a2)
            await until(lambda: events_counted(ports[1]) - b_before
                        + events_counted(ports[2]) >= second_kill,
                        f"{second_kill} more events read", timeout=120)
            b.send_signal(signal.SIGKILL)
            b.wait()
            assert await committed_total(servers.kafka, group, topic) < EVENTS
            with daemon(configs[3], tmp_path / "b2.log") as b2:
                await wait_ready(ports[3], b2)

                async def all_committed() -> bool:
                    total = await committed_total(servers.kafka, f"socd-test-{unique}", topic)
                    return total == EVENTS

                await until(all_committed, "every offset committed", timeout=240)
                for process in (a2, b2):
                    process.send_signal(signal.SIGTERM)
                for process in (a2, b2):
                    assert process.wait(timeout=60) == 0
    found = await alerts(es, unique)
    check_flood(found)
    # the same flood read again, from offset 0, by another group: nothing changes
    replay = configs[4]
    replay.write_text(replay.read_text().replace(f"socd-test-{unique}",
                                                 f"socd-replay-{unique}"))
    with daemon(replay, tmp_path / "replay.log") as c:
        await wait_ready(ports[4], c)

        async def replayed() -> bool:
            return await committed_total(servers.kafka, f"socd-replay-{unique}",
                                         topic) == EVENTS

        await until(replayed, "the replay committed", timeout=240)
        metrics = scrape(ports[4])
        c.send_signal(signal.SIGTERM)
        assert c.wait(timeout=60) == 0
    again = await alerts(es, unique)
    assert sorted((a["_id"], a["_seq_no"]) for a in again) == \
        sorted((a["_id"], a["_seq_no"]) for a in found)
    check_flood(again)
    assert sum(v for k, v in metrics.items() if k.startswith("socd_alerts_total")) == 0
    assert sum(v for k, v in metrics.items() if k.startswith("socd_threats_total")) == EVENTS


def threat_action(n: int, when: str, source: str, extra: dict[str, Any]) -> Any:
    """Threat ``n`` (offset n of partition n % 2) under a 1 h suppression by source.ip."""
    from socd.event import Record
    from socd.sinks.elasticsearch import encode_action
    from socd.state.suppress import Suppression, suppressed_threat

    doc = {"@timestamp": when, "source": {"ip": source}, "event": {"id": f"e{n}"},
           "socd": {"class": "critical", "layer": 2, "input": "ndr",
                    "rule": {"id": "r", "name": "R"}}, **extra}
    doc_id = f"{n:032x}"
    action = encode_action("x", doc_id, doc, Record("t", n % 2, n, b""), ("critical", "2", "s"))
    action.suppress = suppressed_threat(Suppression(("source.ip",), timedelta(hours=1)), "r",
                                        "ndr", doc, doc_id, when, lambda _: INDEX)
    return action


INDEX = "socd-suppress-script-test"


async def test_the_script_keeps_the_earliest_threats_document_and_the_operators_fields(
        es: AsyncElasticsearch) -> None:
    """Batches of one alert landing in a seeded random order (the earliest threat's last),
    some twice: the count is the threats', start/end their min/max, the document the
    earliest threat's (fields it lacks removed, socd.warnings included), and what an
    operator recorded (socd.status) kept; a batch landing again is a noop."""
    from socd.sinks.templates import alerts_template
    from socd.state.suppress import SCRIPT_ID, SCRIPT_SOURCE, aggregate

    await es.indices.put_index_template(**{**alerts_template("socd-suppress-script"),
                                           "index_patterns": [INDEX]})
    await es.put_script(id=SCRIPT_ID, script={"lang": "painless", "source": SCRIPT_SOURCE})
    rng = random.Random(77)
    times = [f"2026-04-01T05:{m:02d}:00.000Z" for m in rng.sample(range(60), 12)]
    threats = [threat_action(n, when, "10.0.0.9",
                             {"socd": {"class": "critical", "layer": 2, "input": "ndr",
                                       "rule": {"id": "r", "name": "R"},
                                       "warnings": [f"w{n}"]}} if n % 3 == 0 else
                             {"destination": {"port": n}})
               for n, when in enumerate(times)]
    batches = [threats[i:i + 3] for i in range(0, 12, 3)]
    first = times.index(min(times)) // 3  # the earliest threat's batch lands last
    order = [*rng.sample([n for n in range(4) if n != first], 3), first,
             *rng.sample(range(4), 2)]
    try:
        acknowledged = False
        for step, n in enumerate(order):
            items = aggregate(batches[n], {("t", 0): 0, ("t", 1): 0},
                              {("t", 0): (n * 3, n * 3 + 3), ("t", 1): (n * 3, n * 3 + 3)})
            response = await es.bulk(operations=b"".join(i.body for i in items), refresh=True)
            result = response["items"][0]["update"]["result"]
            assert result == ("noop" if n in order[:step] else
                              "created" if step == 0 else "updated")
            if step == 1 and not acknowledged:
                await es.update(index=INDEX, id=items[0].doc_id, refresh=True,
                                doc={"socd": {"status": "acknowledged", "status_by": "an"}})
                acknowledged = True
        seen = [threats[i] for n in set(order) for i in range(n * 3, n * 3 + 3)]
        alert = (await es.get(index=INDEX, id=seen[0].suppress.alert_id))["_source"]
        earliest = min(seen, key=lambda t: t.suppress.time_ms)
        assert alert["@timestamp"] == earliest.suppress.time_text
        assert alert["event"]["id"] == earliest.document()["event"]["id"]
        assert ("destination" in alert) == ("destination" in earliest.document())
        assert ("warnings" in alert["socd"]) == ("warnings" in earliest.document()["socd"])
        suppression = alert["socd"]["suppression"]
        assert suppression["docs_count"] == 12
        assert suppression["start"] == min(times) and suppression["end"] == max(times)
        assert alert["event"]["end"] == max(times)
        assert (alert["socd"]["status"], alert["socd"]["status_by"]) == ("acknowledged", "an")
    finally:
        await es.indices.delete(index=INDEX, ignore_unavailable=True)
