"""One socd process, three connectors (Suricata, Wazuh, CEF), good and bad messages mixed:
each threat indexed with the class its product's rules give, each bad message dead-lettered
once with its reason and origin, metrics equal to both, and every offset committed."""

from __future__ import annotations

import itertools
import random
import re
import signal
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from socd.simulate import FORMATS, VIETNAM
from tests.integration.conftest import TopicMaker
from tests.integration.helpers import (
    committed_total,
    daemon,
    labelled,
    produce,
    read_topic,
    scrape,
    wait_for_count,
    wait_for_metrics,
)

pytestmark = pytest.mark.integration

MAX_BYTES = 1024  # kafka.max_message_bytes: the smallest socd accepts
START = datetime(2026, 3, 2, 8, 0, 0, tzinfo=VIETNAM)
SENSORS = {"suricata": "ids-onsite", "wazuh": "hids-onsite", "cef": "fw-onsite"}
RULES = {
    "suricata_priority_1.yml": """
title: Suricata alert of priority 1
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0001
logsource: {product: suricata}
detection:
  selection: {event.kind: alert, event.severity|gte: 7}
  condition: selection
level: critical
""",
    "suricata_priority_2.yml": """
title: Suricata alert of priority 2
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0002
logsource: {product: suricata}
detection:
  selection: {event.kind: alert, suricata.alert.severity: 2}
  condition: selection
level: high
""",
    "wazuh_level_12.yml": """
title: Wazuh alert of level 12 or above
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0003
logsource: {product: wazuh}
detection:
  selection: {wazuh.rule.level|gte: 12}
  condition: selection
level: critical
""",
    "wazuh_severity_5.yml": """
title: Wazuh alert of severity 5 to 7
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0004
logsource: {product: wazuh}
detection:
  selection: {event.severity|gte: 5}
  filter: {wazuh.rule.level|gte: 12}
  condition: selection and not filter
level: high
""",
    "cef_severity_9.yml": """
title: CEF event of severity 9 or 10
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0005
logsource: {product: cef}
detection:
  selection: {event.severity|gte: 9}
  condition: selection
level: critical
""",
    "cef_severity_7.yml": """
title: CEF event of severity 7 or 8
id: 0b6f0a39-0d6e-4f0e-9a57-3f1f6f3c0006
logsource: {product: cef}
detection:
  selection: {event.severity|gte: 7}
  filter: {event.severity|gte: 9}
  condition: selection and not filter
level: high
""",
}


def expected_class(name: str, message: Any) -> str | None:
    """The class the rules above give, worked out from the sensor's own values."""
    if name == "suricata":
        if message["event_type"] != "alert":
            return None
        return {1: "critical", 2: "high-risk"}.get(message["alert"]["severity"])
    if name == "wazuh":
        level = message["rule"]["level"]
        return "critical" if level >= 12 else "high-risk" if level >= 7 else None
    severity = re.split(r"(?<!\\)\|", message)[6]  # the header's 7th field
    number = {"low": 2, "medium": 5, "high": 8, "very-high": 10, "critical": 10,
              "substantial": 7, "unknown": 0}.get(severity.lower())
    value = number if number is not None else int(severity)
    return "critical" if value >= 9 else "high-risk" if value >= 7 else None


def good_messages(name: str, count: int, seed: int) -> list[bytes]:
    """``count`` simulated messages of a format that fit under kafka.max_message_bytes."""
    fmt = FORMATS[name]
    stream = fmt.generate(random.Random(seed), start=START, rate_hint=2.0)
    fitting = (m for m in stream if len(fmt.encode(m)) <= MAX_BYTES)
    return [fmt.encode(m) for m in itertools.islice(fitting, count)]


def bad_messages(name: str) -> list[tuple[bytes, str]]:
    """One message for each way a message of this format can be unusable, with its reason."""
    too_large = orjson.dumps({"timestamp": "2026-03-02T08:00:00+0700", "padding": "x" * 4000})
    common = [(b"\xff\xfe\x00 not UTF-8", "not_utf8"), (too_large, "too_large")]
    if name == "cef":
        return [*common, (b"an ordinary log line, not CEF", "invalid_event"),
                (b"CEF:0|Vendor|Product", "invalid_event")]
    missing = ({"event_type": "alert", "src_ip": "10.20.1.5"} if name == "suricata"
               else {"rule": {"level": 12, "id": "5712"}, "agent": {"id": "001"}})
    return [*common, (b"this is not JSON", "not_json"),
            (orjson.dumps(missing), "invalid_event")]


def write_config(path: Path, servers: Endpoints, unique: str, port: int, rules: Path) -> Path:
    inputs = "".join(f"""
  - topic: sensors.{name}.{unique}
    connector: {name}
    layer: 1
    sensor: {sensor}""" for name, sensor in SENSORS.items())
    path.write_text(f"""
kafka:
  bootstrap_servers: "{servers.kafka}"
  group_id: socd-test-{unique}
  session_timeout_ms: 6000
  max_message_bytes: {MAX_BYTES}
inputs:{inputs}
rules:
  paths: ["{rules}"]
  watch: false
elasticsearch:
  hosts: ["{servers.elasticsearch}"]
  index_prefix: t{unique}
metrics:
  listen: "127.0.0.1:{port}"
dead_letter:
  topic: socd.dead-letter.{unique}
logging:
  format: json
""")
    return path


async def test_good_and_bad_messages_of_three_connectors(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, create_topics: TopicMaker,
        tmp_path: Path) -> None:
    """Suricata, Wazuh and CEF topics, each with simulated sensor messages and four bad
    ones (not UTF-8, not JSON or not CEF, a required field missing, over
    kafka.max_message_bytes): Elasticsearch holds exactly the threats the product's rules
    classify, per class and product; the dead-letter topic holds each bad message once,
    unchanged, with its reason and source topic, partition and offset; the metrics agree;
    after SIGTERM (exit 0) every offset is committed."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for file, text in RULES.items():
        (rules / file).write_text(text)
    topics = {name: f"sensors.{name}.{unique}" for name in SENSORS}
    dead_topic = f"socd.dead-letter.{unique}"
    await create_topics(*topics.values(), partitions=1)  # offsets = positions below
    await create_topics(dead_topic)

    classes: Counter[tuple[str, str]] = Counter()  # (connector, class) → threats expected
    dead_expected: set[tuple[str, int, str]] = set()  # (topic, offset, reason)
    originals: dict[tuple[str, int], bytes] = {}
    sent: dict[str, list[bytes]] = {}
    for seed, name in enumerate(SENSORS):
        good = good_messages(name, 60, seed)
        for raw in good:
            message = raw.decode() if name == "cef" else orjson.loads(raw)
            verdict = expected_class(name, message)
            if verdict:
                classes[(name, verdict)] += 1
        messages = list(good)
        for n, (raw, reason) in enumerate(bad_messages(name)):
            at = 7 + 13 * n  # spread among the good ones
            messages.insert(at, raw)
            dead_expected.add((topics[name], at, reason))
            originals[(topics[name], at)] = raw
        sent[name] = messages
        await produce(servers.kafka, topics[name], messages)
    for name in SENSORS:  # the simulated mix holds both classes for every product
        assert classes[(name, "critical")] > 0
        assert classes[(name, "high-risk")] > 0
    threats = sum(classes.values())
    events = sum(len(m) for m in sent.values())

    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port, rules)
    with daemon(config, tmp_path / "socd.log") as process:
        await wait_for_metrics(port, process, threats=threats, events=events)
        dead = await read_topic(servers.kafka, dead_topic, len(dead_expected))
        assert await wait_for_count(es, f"t{unique}-alerts*", threats, process) == threats
        metrics = scrape(port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0

    # Elasticsearch: exactly the expected threats, per product and class.
    index = f"t{unique}-alerts*"
    await es.indices.refresh(index=index)
    for name in SENSORS:
        for verdict in ("critical", "high-risk"):
            query = {"bool": {"filter": [{"term": {"socd.class": verdict}},
                                         {"term": {"event.module": name}}]}}
            found = (await es.count(index=index, query=query))["count"]
            assert found == classes[(name, verdict)], (name, verdict)
    assert (await es.count(index=index))["count"] == threats

    # The dead-letter topic: each bad message once, unchanged, with why and where from.
    seen = set()
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        origin = (headers["socd.topic"], int(headers["socd.offset"]))
        assert headers["socd.partition"] == "0"
        assert record.value == originals[origin]
        assert headers["socd.connector"] == origin[0].split(".")[1]
        assert headers["socd.detail"]
        seen.add((*origin, headers["socd.reason"]))
    assert len(dead) == len(dead_expected)
    assert seen == dead_expected

    # Metrics: events per input, threats per class and sensor, dead letters per reason.
    by_input = labelled(metrics, "socd_events_total")
    for name, sensor in SENSORS.items():
        key = frozenset({("input", topics[name]), ("sensor", sensor)})
        assert by_input[key] == len(sent[name])
    by_class = labelled(metrics, "socd_threats_total")
    for (name, verdict), want in classes.items():
        key = frozenset({("class", verdict), ("layer", "1"), ("sensor", SENSORS[name])})
        assert by_class[key] == want
    assert sum(by_class.values()) == threats
    reasons = Counter(reason for _, _, reason in dead_expected)
    by_reason = labelled(metrics, "socd_dead_letter_total")
    assert {dict(k)["reason"]: v for k, v in by_reason.items() if v} == reasons

    # Every offset committed, the bad messages' included.
    group = f"socd-test-{unique}"
    for name in SENSORS:
        assert await committed_total(servers.kafka, group, topics[name]) == len(sent[name])
