"""socd.simulate: the Cyradar-style generator, the Kafka producer and ``socd simulate``."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import random
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.errors import SinkError
from socd.simulate import FORMATS, VIETNAM, add_arguments, cyradar_events, produce, run

START = datetime(2026, 3, 2, 8, 0, 0, tzinfo=VIETNAM)
CATEGORIES = {"malware", "apt_c2", "ransomware", "phishing", "exploit", "bruteforce", "ddos",
              "defacement", "data_exfiltration", "botnet", "scan", "policy"}
INTERNAL = ipaddress.ip_network("10.0.0.0/8")
DOCUMENTATION = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24",
                                                     "203.0.113.0/24")]
# Each category's events carry at least one technique of its family (MITRE ATT&CK ids).
TECHNIQUES = {
    "apt_c2": {"T1071", "T1573", "T1105"},
    "ransomware": {"T1486"},
    "data_exfiltration": {"T1041", "T1048", "T1567"},
    "defacement": {"T1491"},
    "malware": {"T1105", "T1204", "T1048", "T1555", "T1071"},
    "botnet": {"T1071", "T1571", "T1095"},
    "exploit": {"T1190"},
    "phishing": {"T1566"},
    "bruteforce": {"T1110"},
    "ddos": {"T1498", "T1499"},
    "scan": {"T1595", "T1046"},
    "policy": {"T1090", "T1219", "T1496", "T1048"},
}


def events(n: int, seed: int = 7, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("start", START)
    return list(itertools.islice(cyradar_events(random.Random(seed), **kwargs), n))


def is_documentation(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in net for net in DOCUMENTATION)


# --------------------------------------------------------------------------- generation


def test_same_seed_gives_same_events_and_other_seed_differs() -> None:
    """Two generators with the same seed and start yield identical events; another seed not."""
    assert events(500, seed=42) == events(500, seed=42)
    assert events(500, seed=42) != events(500, seed=43)


def test_events_follow_the_documented_schema() -> None:
    """Every event has exactly the fields of the Cyradar-style schema, with their types."""
    for event in events(3000):
        assert set(event) == {"alert_id", "detected_at", "sensor", "severity", "category",
                              "threat_name", "src", "dst", "protocol", "action", "ioc",
                              "mitre"}
        assert set(event["sensor"]) == {"id", "name", "org"}
        assert all(isinstance(v, str) and v for v in event["sensor"].values())
        assert type(event["severity"]) is int
        assert 1 <= event["severity"] <= 10
        assert event["category"] in CATEGORIES
        assert isinstance(event["threat_name"], str)
        assert event["threat_name"]
        assert set(event["src"]) == {"ip", "port", "hostname"}
        assert set(event["dst"]) == {"ip", "port", "domain"}
        for end in (event["src"], event["dst"]):
            ipaddress.IPv4Address(end["ip"])
            assert type(end["port"]) is int
            assert 1 <= end["port"] <= 65535
        assert isinstance(event["src"]["hostname"], str)
        assert isinstance(event["dst"]["domain"], str)
        assert event["protocol"] in {"tcp", "udp"}
        assert event["action"] in {"blocked", "alerted"}
        assert isinstance(event["mitre"], list)
        assert event["mitre"]
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in event["mitre"])


def test_indicators_have_the_documented_types_and_consistent_values() -> None:
    """ioc.type is domain, ip, url or hash, its value has that shape, confidence is 0..100."""
    seen: Counter[str] = Counter()
    for event in events(3000):
        ioc = event["ioc"]
        assert set(ioc) == {"type", "value", "confidence"}
        assert type(ioc["confidence"]) is int
        assert 0 <= ioc["confidence"] <= 100
        kind, value = ioc["type"], ioc["value"]
        seen[kind] += 1
        if kind == "ip":
            assert value in (event["src"]["ip"], event["dst"]["ip"])
        elif kind == "domain":
            assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", value)
        elif kind == "url":
            assert re.fullmatch(r"https?://[a-z0-9.-]+/\S*", value)
        else:
            assert kind == "hash"
            assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert set(seen) == {"domain", "ip", "url", "hash"}


def test_alert_ids_are_unique_uuids() -> None:
    """alert_id is a UUID and never repeats, even when an incident repeats."""
    ids = [event["alert_id"] for event in events(5000)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_timestamps_carry_vietnam_offset_and_advance_at_the_rate_hint() -> None:
    """detected_at is ISO-8601 with +07:00, starts at ``start``, never goes back, and its mean
    gap is 1 / rate_hint seconds."""
    batch = events(4000, rate_hint=10.0)
    stamps = [datetime.fromisoformat(e["detected_at"]) for e in batch]
    assert all(e["detected_at"].endswith("+07:00") for e in batch)
    assert all(s.utcoffset() == timedelta(hours=7) for s in stamps)
    assert stamps[0] == START
    assert stamps == sorted(stamps)
    span = (stamps[-1] - stamps[0]).total_seconds()
    assert 4000 / 10.0 * 0.9 < span < 4000 / 10.0 * 1.1


def test_naive_start_is_vietnam_time_and_aware_start_is_converted() -> None:
    """A start without offset is read as +07:00; one in UTC is written in +07:00."""
    naive = events(1, start=datetime(2026, 3, 2, 8, 0, 0))
    utc = events(1, start=datetime.fromisoformat("2026-03-02T01:00:00+00:00"))
    assert naive[0]["detected_at"] == "2026-03-02T08:00:00+07:00"
    assert utc[0]["detected_at"] == "2026-03-02T08:00:00+07:00"


def test_rate_hint_must_be_positive() -> None:
    """A zero rate_hint is refused rather than looping forever at one instant."""
    with pytest.raises(ValueError, match="rate_hint"):
        next(cyradar_events(random.Random(1), start=START, rate_hint=0))


def test_addresses_are_internal_or_documentation_ranges() -> None:
    """Every event has an internal 10.x side; the other side is internal (lateral) or in a
    documentation range; outbound traffic comes from named workstations."""
    directions: Counter[str] = Counter()
    for event in events(3000):
        src, dst = event["src"]["ip"], event["dst"]["ip"]
        src_internal = ipaddress.ip_address(src) in INTERNAL
        dst_internal = ipaddress.ip_address(dst) in INTERNAL
        assert src_internal or dst_internal
        assert src_internal or is_documentation(src)
        assert dst_internal or is_documentation(dst)
        if src_internal and not dst_internal:
            directions["out"] += 1
            assert re.fullmatch(r"(ws|pc|lt)-[a-z]+-\d\d", event["src"]["hostname"])
            assert event["dst"]["domain"].endswith(".example")
        elif dst_internal and not src_internal:
            directions["in"] += 1
            assert event["dst"]["domain"].endswith((".gov.vn", ".example"))
        else:
            directions["lateral"] += 1
    assert directions["out"] > directions["in"] > directions["lateral"] > 0


def test_mix_covers_every_category_site_and_action() -> None:
    """All twelve categories, several provincial networks, both actions appear; scans and
    malware are common, ransomware rare."""
    batch = events(5000)
    categories = Counter(e["category"] for e in batch)
    assert set(categories) == CATEGORIES
    assert categories["scan"] > categories["ransomware"] * 3
    assert categories["malware"] > categories["defacement"] * 3
    orgs = {e["sensor"]["org"] for e in batch}
    assert "So TTTT Binh Phuoc" in orgs
    assert len(orgs) >= 4
    assert all(e["sensor"]["id"].split("-")[0] in {"bp", "dn", "ld", "tn", "cm"} for e in batch)
    assert {e["action"] for e in batch} == {"blocked", "alerted"}
    assert len({e["severity"] for e in batch}) == 10


def test_mitre_techniques_match_the_category() -> None:
    """Each event lists at least one technique of its category's family."""
    for event in events(3000):
        bases = {t.split(".")[0] for t in event["mitre"]}
        assert bases & TECHNIQUES[event["category"]], event


def test_defacement_targets_government_portals_mostly() -> None:
    """Defacement is inbound to a web site; most are .gov.vn portals, some other sites."""
    targets = [e["dst"]["domain"] for e in events(8000) if e["category"] == "defacement"]
    gov = sum(t.endswith(".gov.vn") for t in targets)
    assert 0.5 * len(targets) < gov < len(targets)


def test_registry_offers_cyradar_keyed_by_alert_id() -> None:
    """FORMATS has the cyradar format, keyed by alert_id, usually on sensors.cyradar."""
    sensor = FORMATS["cyradar"]
    event = next(sensor.generate(random.Random(1), start=START))
    assert sensor.key(event) == event["alert_id"].encode()
    assert sensor.topic == "sensors.cyradar"


# --------------------------------------------------------------------------- class mix


def test_simulated_traffic_has_the_intended_class_mix() -> None:
    """Through the cyradar connector and the shipped rules, 40-60% of the events are threats,
    both classes appear, and critical is a sizeable minority of the threats."""
    from socd.classify import RuleSet
    from socd.normalize import build_normalizer

    rules, problems = RuleSet.load([Path(__file__).parents[2] / "rules"])
    assert list(problems) == []
    normalizer = build_normalizer("cyradar", sensor="cyradar-ndr",
                                  timezone="Asia/Ho_Chi_Minh", keep_original=False)
    for seed in (1, 2, 3):
        classes: Counter[str | None] = Counter()
        for event in events(3000, seed=seed):
            verdict = rules.classify(normalizer.normalize(orjson.dumps(event)),
                                     {"product": "cyradar"})
            classes[verdict.threat_class if verdict else None] += 1
        threats = classes["critical"] + classes["high-risk"]
        assert 0.40 < threats / 3000 < 0.60, classes
        assert 0.15 < classes["critical"] / threats < 0.45, classes


# --------------------------------------------------------------------------- producer


class FakeProducer:
    """Stands in for AIOKafkaProducer: records sends, acknowledges all but refused keys."""

    def __init__(self, refuse: frozenset[bytes] = frozenset(), fail_start: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.sent_at: list[float] = []
        self.started = 0
        self.stopped = 0
        self.refuse = refuse
        self.fail_start = fail_start

    async def start(self) -> None:
        from aiokafka.errors import KafkaConnectionError

        self.started += 1
        if self.fail_start:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")

    async def stop(self) -> None:
        self.stopped += 1

    async def send(self, topic: str, value: bytes | None = None,
                   key: bytes | None = None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        self.sent.append((topic, value, key))
        self.sent_at.append(loop.time())
        future: asyncio.Future[Any] = loop.create_future()
        if key in self.refuse:
            from aiokafka.errors import MessageSizeTooLargeError

            loop.call_soon(future.set_exception, MessageSizeTooLargeError())
        else:
            loop.call_soon(future.set_result, None)
        return future


async def test_produce_sends_count_events_keyed_by_alert_id() -> None:
    """produce sends the first ``count`` events as orjson values keyed by alert_id, returns
    the number acknowledged, and starts and stops the producer once."""
    fake = FakeProducer()
    batch = events(50)
    acked = await produce("kafka:9092", "sensors.cyradar", iter(batch), rate=None, count=30,
                          producer_factory=lambda servers: fake)
    assert acked == 30
    assert [k for _, _, k in fake.sent] == [e["alert_id"].encode() for e in batch[:30]]
    assert [orjson.loads(v or b"") for _, v, _ in fake.sent] == batch[:30]
    assert {t for t, _, _ in fake.sent} == {"sensors.cyradar"}
    assert (fake.started, fake.stopped) == (1, 1)


async def test_produce_does_not_count_refused_messages() -> None:
    """A message the broker refuses is not counted; the others are, even past max_in_flight."""
    batch = events(40)
    refused = frozenset(e["alert_id"].encode() for e in batch[::10])
    fake = FakeProducer(refuse=refused)
    acked = await produce("kafka:9092", "t", batch, rate=None, count=40, max_in_flight=7,
                          producer_factory=lambda servers: fake)
    assert acked == 40 - len(refused)
    assert len(fake.sent) == 40


async def test_produce_paces_to_the_rate() -> None:
    """With rate=100, 21 events take at least 0.2 s, spread evenly."""
    fake = FakeProducer()
    await produce("kafka:9092", "t", events(21), rate=100.0, count=21,
                  producer_factory=lambda servers: fake)
    assert fake.sent_at[-1] - fake.sent_at[0] >= 0.19
    assert fake.sent_at[10] - fake.sent_at[0] >= 0.09


async def test_produce_translates_kafka_errors_and_stops_the_producer() -> None:
    """An unreachable broker becomes SinkError naming the servers; the producer is stopped."""
    fake = FakeProducer(fail_start=True)
    with pytest.raises(SinkError, match="kafka:9092"):
        await produce("kafka:9092", "t", events(5), rate=None, count=5,
                      producer_factory=lambda servers: fake)
    assert fake.stopped == 1
    assert fake.sent == []


# --------------------------------------------------------------------------- sub-command


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="socd simulate")
    add_arguments(parser)
    return parser.parse_args(argv)


async def test_run_writes_jsonl_without_kafka(tmp_path: Path) -> None:
    """--output FILE writes --count JSON lines, the same events the generator yields for the
    seed and start, and exits 0."""
    out = tmp_path / "events.jsonl"
    args = parse(["--count", "25", "--seed", "9", "--start", "2026-03-02T08:00:00",
                  "--output", str(out)])
    assert await run(args) == 0
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == events(25, seed=9, rate_hint=1.0)


def test_arguments_default_to_cyradar_and_reject_bad_values() -> None:
    """Defaults: cyradar format, its usual topic, no pacing; a negative count or a zero rate
    is a usage error."""
    args = parse([])
    assert (args.format, args.topic, args.rate, args.output) == ("cyradar", None, None, None)
    assert args.bootstrap_servers == "127.0.0.1:9092"
    for bad in (["--count", "-1"], ["--rate", "0"], ["--format", "nope"], ["--start", "x"]):
        with pytest.raises(SystemExit):
            parse(bad)
