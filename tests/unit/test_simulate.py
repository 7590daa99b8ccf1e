"""socd.simulate: the Cyradar-style generator, the Kafka producer and ``socd simulate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from socd.simulate import (
    FORMATS,
    VIETNAM,
    add_arguments,
    cyradar_events,
    mixed_messages,
    produce,
    run,
)

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


# --------------------------------------------------------------------------- other formats

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
RULES = Path(__file__).resolve().parents[2] / "rules"
IPV4 = re.compile(rb"(?<![\d./])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])")
SENSOR_FORMATS = ("suricata", "wazuh", "cef", "leef", "zeek")
UNSPECIFIED = ipaddress.ip_address("0.0.0.0")  # PAN-OS's "no NAT"


def messages(name: str, n: int, seed: int = 7, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("start", START)
    return list(itertools.islice(FORMATS[name].generate(random.Random(seed), **kwargs), n))


def normalizer(name: str) -> Any:
    from socd.normalize import build_normalizer

    return build_normalizer(name, sensor="sim", timezone="Asia/Ho_Chi_Minh",
                            keep_original=False)


def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_normalises_cleanly_through_its_connector(name: str) -> None:
    """For many seeds, every generated message normalises through the connector of the same
    name (no dead letter: the connector raises for one) without a warning, with a
    @timestamp, as one line of bytes."""
    connector = normalizer(name)
    for seed in range(25):
        for message in messages(name, 200, seed=seed, rate_hint=3.0):
            raw = FORMATS[name].encode(message)
            assert b"\n" not in raw
            doc = connector.normalize(raw)
            assert "warnings" not in doc.get("socd", {}), (raw, doc["socd"])
            assert doc["@timestamp"].startswith("2026-03-0")


@pytest.mark.parametrize("name", SENSOR_FORMATS)
def test_generators_are_deterministic_per_seed(name: str) -> None:
    """The same seed and start give the same messages; another seed gives others."""
    assert messages(name, 300, seed=5) == messages(name, 300, seed=5)
    assert messages(name, 300, seed=5) != messages(name, 300, seed=6)


@pytest.mark.parametrize("name", SENSOR_FORMATS)
def test_addresses_are_internal_or_documentation_and_domains_reserved(name: str) -> None:
    """Every IPv4 address in the bytes is in 10.0.0.0/8 or a documentation range (or
    0.0.0.0, PAN-OS's "no NAT"); every domain the connector finds is the network's own
    (.gov.vn, .local, a bare host name) or under .example."""
    connector = normalizer(name)
    domain_fields = ("source.domain", "destination.domain", "url.domain",
                     "tls.client.server_name", "dns.question.name")
    for message in messages(name, 2000):
        raw = FORMATS[name].encode(message)
        for found in IPV4.findall(raw):
            address = ipaddress.ip_address(found.decode())
            assert (address in INTERNAL or is_documentation(str(address))
                    or address == UNSPECIFIED), raw
        doc = flat(connector.normalize(raw))
        for field in domain_fields:
            if field in doc and "." in doc[field]:  # a bare name is an internal host
                assert doc[field].endswith((".example", ".gov.vn", ".local")), (field, raw)


@pytest.mark.parametrize("name", SENSOR_FORMATS)
def test_timestamps_start_at_start_and_advance_at_the_rate_hint(name: str) -> None:
    """The first message is at ``start``; sensor times never go back (by more than a
    second where a device writes whole seconds: PAN-OS beside Deep Security's milliseconds)
    and span about count / rate_hint seconds."""
    connector = normalizer(name)
    stamps = [datetime.fromisoformat(connector.normalize(FORMATS[name].encode(m))["@timestamp"])
              for m in messages(name, 3000, rate_hint=10.0)]
    assert stamps[0] == START
    if name == "leef":
        assert all(b > a - timedelta(seconds=1) for a, b in itertools.pairwise(stamps))
    else:
        assert stamps == sorted(stamps)
    assert 300 * 0.9 < (stamps[-1] - stamps[0]).total_seconds() < 300 * 1.1


def test_suricata_has_alerts_of_every_priority_and_protocol_records() -> None:
    """EVE records: about a third alerts with severities 1-3 and ET/ETPRO metadata, the rest
    dns, http, tls and flow; offsets written +0700; keyed by flow_id."""
    batch = messages("suricata", 3000)
    kinds = Counter(r["event_type"] for r in batch)
    assert set(kinds) == {"alert", "dns", "http", "tls", "flow"}
    assert 0.25 < kinds["alert"] / len(batch) < 0.45
    alerts = [r["alert"] for r in batch if r["event_type"] == "alert"]
    assert {a["severity"] for a in alerts} == {1, 2, 3}
    assert all(a["signature"].startswith(("ET ", "ETPRO ")) and a["metadata"] for a in alerts)
    assert any(a["signature"].startswith("ETPRO ") for a in alerts)
    assert all(r["timestamp"].endswith("+0700") for r in batch)
    assert all(FORMATS["suricata"].key(r) == str(r["flow_id"]).encode() for r in batch)


# Suricata's classification.config: each classtype's description and priority.
CLASSTYPE_PRIORITY = {
    "Not Suspicious Traffic": 3, "Misc activity": 3, "Attempted Information Leak": 2,
    "Potentially Bad Traffic": 2, "Misc Attack": 2, "Attempted Denial of Service": 2,
    "Crypto Currency Mining Activity Detected": 2, "Unsuccessful User Privilege Gain": 1,
    "Web Application Attack": 1, "Attempted Administrator Privilege Gain": 1,
    "A Network Trojan was detected": 1, "Malware Command and Control Activity Detected": 1,
    "Exploit Kit Activity Detected": 1, "Successful Credential Theft Detected": 1,
}


def test_suricata_priorities_are_those_of_the_classtypes() -> None:
    """Every alert's severity is its category's priority in classification.config, and the
    ET metadata's signature_severity is one of ET's four words."""
    alerts = [r["alert"] for r in messages("suricata", 4000) if r["event_type"] == "alert"]
    assert {a["category"] for a in alerts} == set(CLASSTYPE_PRIORITY)
    for alert in alerts:
        assert alert["severity"] == CLASSTYPE_PRIORITY[alert["category"]], alert
        assert alert["metadata"]["signature_severity"][0] in {
            "Informational", "Minor", "Major", "Critical"}


def test_wazuh_levels_span_the_scale_and_ids_are_unique() -> None:
    """Wazuh alerts: levels from 3 to 15, every alert's id unique and its key."""
    batch = messages("wazuh", 5000)
    levels = {a["rule"]["level"] for a in batch}
    assert min(levels) == 3
    assert max(levels) == 15
    assert len(levels) >= 7
    ids = [a["id"] for a in batch]
    assert len(set(ids)) == len(ids)
    assert all(FORMATS["wazuh"].key(a) == a["id"].encode() for a in batch)


def test_cef_lines_mix_framing_severity_words_and_escapes() -> None:
    """CEF: bare and syslog-framed lines, numeric and word severities, an escaped pipe in a
    header; every line keyed by its externalId."""
    connector = normalizer("cef")
    batch = messages("cef", 2000)
    framed = [line for line in batch if not line.startswith("CEF:0|")]
    assert 0.3 < len(framed) / len(batch) < 0.5
    assert all(re.match(r"(<\d+>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ CEF:0\|", line)
               for line in framed)
    severities = {connector.normalize(line.encode())["cef"]["severity"] for line in batch}
    assert {"High", "Very-High", "Unknown", "10", "3"} <= severities
    assert any("\\|" in line for line in batch)
    for line in batch:
        external_id = re.search(r" externalId=(\d+)", line)
        assert external_id
        assert FORMATS["cef"].key(line) == external_id[1].encode()


def leef_parts(line: str) -> tuple[str, dict[str, Any]]:
    """(the text before 'LEEF:', the fields socd's LEEF codec reads from the line)."""
    from socd.normalize.codecs.leef import parse_leef

    return line[:line.index("LEEF:")], parse_leef(line)


def test_leef_lines_are_pan_os_and_deep_security_as_they_frame_them() -> None:
    """LEEF: PAN-OS lines are LEEF 1.0 with '|' between attributes or 2.0 with the
    delimiter x7C, behind an RFC 3164 header, the event id the action or the threat;
    Deep Security lines are LEEF 2.0 with TAB-separated attributes behind an RFC 5424
    header. Every attribute is a key=value pair the codec reads (nothing unparsed), every
    line has a time with a year, and PAN-OS lines are keyed by their sequence number."""
    batch = messages("leef", 4000)
    kinds: Counter[tuple[str, str, str]] = Counter()
    for line in batch:
        prefix, fields = leef_parts(line)
        head = fields["header"]
        assert "extension" not in fields, line
        kinds[(head["product"], head["version"], head.get("delimiter", "TAB"))] += 1
        if head["vendor"] == "Palo Alto Networks":
            assert re.fullmatch(r"<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d pa-[a-z]+-01 ",
                                prefix), prefix
            assert re.fullmatch(r"[A-Z][a-z]{2} \d\d \d{4} \d\d:\d\d:\d\d", fields["devTime"])
            assert fields["cat"] in {"TRAFFIC", "THREAT"}
            if fields["cat"] == "TRAFFIC":
                assert head["event_id"] in {"deny", "drop"}
                assert "sev" not in fields
            else:
                assert re.fullmatch(r".*\(\d+\)", head["event_id"]), head
                word = fields.get("Severity", fields.get("VendorSeverity"))
                assert int(fields["sev"]) == {"informational": 1, "low": 3, "medium": 5,
                                              "high": 8, "critical": 10}[word]
            sequence = fields.get("sequence", fields.get("SequenceNo"))
            assert FORMATS["leef"].key(line) == sequence.encode()
        else:
            assert (head["vendor"], head["product"]) == ("Trend Micro", "Deep Security Agent")
            assert re.fullmatch(r"<\d+>1 2026-03-0\dT\S+\+07:00 dsm-[a-z]+-01 DeepSecurity "
                                r"- - - ", prefix), prefix
            assert "\t" in line
            assert fields["cat"] in {"Intrusion Prevention", "Firewall", "Anti-Malware",
                                     "Web Reputation", "Integrity Monitoring"}
            assert FORMATS["leef"].key(line) is None
    assert set(kinds) == {("PAN-OS Syslog Integration", "1.0", "TAB"),
                          ("PAN-OS Syslog Integration", "2.0", "x7C"),
                          ("Deep Security Agent", "2.0", "TAB")}
    pan = sum(n for (product, _, _), n in kinds.items() if product.startswith("PAN"))
    assert 0.6 < pan / len(batch) < 0.8


def test_leef_severities_follow_the_vendors_scales() -> None:
    """PAN-OS threats span informational to critical; Deep Security's intrusion prevention
    uses 3, 6, 8 and 10, its firewall 5; the connector's event.severity is the sev."""
    connector = normalizer("leef")
    sevs: dict[str, set[int]] = {}
    for line in messages("leef", 6000):
        _, fields = leef_parts(line)
        if "sev" in fields:
            sevs.setdefault(fields["cat"], set()).add(int(fields["sev"]))
            assert connector.normalize(line.encode())["event"]["severity"] == int(fields["sev"])
    assert sevs["THREAT"] == {1, 3, 5, 8, 10}
    assert sevs["Intrusion Prevention"] == {3, 6, 8, 10}
    assert sevs["Firewall"] == {5}
    assert sevs["Anti-Malware"] == {6, 8}


ZEEK_NOTES = {"Scan::Port_Scan", "Scan::Address_Scan", "SSH::Password_Guessing",
              "SSH::Login_By_Password_Guesser", "FTP::Bruteforcing", "Intel::Notice",
              "SSL::Invalid_Server_Cert", "SSL::Certificate_Expired",
              "SSL::Certificate_Expires_Soon", "HTTP::SQL_Injection_Attacker",
              "HTTP::SQL_Injection_Victim", "Software::Vulnerable_Version",
              "TeamCymruMalwareHashRegistry::Match", "CaptureLoss::Too_Much_Loss"}


def test_zeek_records_are_notices_and_intel_hits_of_the_json_writer() -> None:
    """Zeek: notices of every note above and intel hits of every indicator type, flat dotted
    keys, ts in epoch seconds (ISO-8601 with _path and _write_ts where the streaming
    package writes), each intel hit's matched naming its type; keyed by uid when there is
    one."""
    batch = messages("zeek", 5000)
    notes = Counter(r["note"] for r in batch if "note" in r)
    intel = [r for r in batch if "seen.indicator" in r]
    assert set(notes) == ZEEK_NOTES
    assert 0.10 < len(intel) / len(batch) < 0.20
    assert {r["seen.indicator_type"] for r in intel} == {
        "Intel::ADDR", "Intel::DOMAIN", "Intel::URL", "Intel::FILE_HASH", "Intel::FILE_NAME",
        "Intel::EMAIL"}
    streamed = [r for r in batch if "_path" in r]
    assert 0.2 < len(streamed) / len(batch) < 0.6
    for record in batch:
        assert not any(isinstance(v, dict) for v in record.values()), record  # flat
        if "_path" in record:
            assert record["_path"] == ("notice" if "note" in record else "intel")
            assert re.fullmatch(r"2026-03-0\dT\d\d:\d\d:\d\d\.\d{6}Z", record["ts"])
            assert record["_write_ts"] > record["ts"]
        else:
            assert type(record["ts"]) is float
        if "seen.indicator" in record:
            assert record["matched"] == [record["seen.indicator_type"]]
            assert record["sources"]
        else:
            assert record["actions"] == ["Notice::ACTION_LOG"]
            assert record["peer_descr"].startswith("nsm-")
        uid = record.get("uid")
        assert FORMATS["zeek"].key(record) == (uid.encode() if uid else None)
    # the common noise outnumbers the grave notes, as on a real network
    assert notes["Scan::Port_Scan"] > 5 * notes["SSH::Login_By_Password_Guesser"]
    assert notes["SSL::Invalid_Server_Cert"] > 5 * notes["HTTP::SQL_Injection_Victim"]


def zeek_sample_records() -> list[dict[str, Any]]:
    """Zeek's own notice and intel records from the samples (JSON and TSV baselines)."""
    from socd.normalize import iter_messages

    folder = SAMPLES / "zeek"
    files = [*folder.glob("*.ndjson"), *(folder / "zeek_btest_tsv").glob("*.log")]
    return [orjson.loads(raw) for path in sorted(files)
            for _, raw in iter_messages(path, "json")]


def zeek_kind(record: dict[str, Any]) -> tuple[str, ...]:
    if "note" in record:
        return (record["note"],)
    return (record.get("seen.indicator_type", ""), record.get("seen.where", ""))


@pytest.mark.skipif(not (SAMPLES / "zeek").is_dir(), reason="no Zeek samples here")
def test_zeek_records_have_the_columns_zeek_sets_for_their_kind() -> None:
    """For each note and each (indicator type, where) of Zeek's own records in the samples,
    every generated record of that kind sets at least the columns Zeek set (apart from the
    time and the set columns an older writer leaves out)."""
    generated: dict[tuple[str, ...], list[set[str]]] = {}
    for record in messages("zeek", 8000):
        generated.setdefault(zeek_kind(record), []).append(set(record))
    compared = 0
    for real in zeek_sample_records():
        kind = zeek_kind(real)
        if kind not in generated:
            continue
        compared += 1
        wanted = set(real) - {"ts", "email_dest", "remote_location.country_code"}
        for keys in generated[kind]:
            assert wanted <= keys, (kind, wanted - keys)
    assert compared >= 10


def test_registry_names_each_format_s_usual_topic() -> None:
    """Each format goes to sensors.<format> by default."""
    assert {name: f.topic for name, f in FORMATS.items()} == {
        name: f"sensors.{name}"
        for name in ("cyradar", "suricata", "wazuh", "cef", "leef", "zeek")}


def common_fields(docs: list[dict[str, Any]]) -> set[str]:
    fields = [set(flat(doc)) for doc in docs]
    return set.intersection(*fields) if fields else set()


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="no real sensor samples here")
@pytest.mark.parametrize(("name", "files", "is_alert"), [
    ("suricata", ["suricata/crowdsec_suricata-eve-detect.log",
                  "suricata/tenzir_eve_excerpt.json"],
     lambda raw: b'"event_type":"alert"' in raw),
    ("wazuh", ["wazuh/wazuh_indexer_sample_alerts_subset.json"], lambda raw: True),
    ("cef", ["cef/crowdsec_unifi-cef-logs.log", "cef/tenzir_checkpoint.log"],
     lambda raw: True),
])
def test_generated_alerts_have_the_fields_real_sensor_alerts_have(
        name: str, files: list[str], is_alert: Any) -> None:
    """Every ECS field that all the real samples' alerts normalise to is in every generated
    alert too (the sensor output has the same shape)."""
    from socd.errors import InputError

    connector = normalizer(name)
    real = []
    for file in files:
        for raw in (SAMPLES / file).read_bytes().splitlines():
            if raw.strip() and is_alert(raw):
                # The Wazuh sample generator leaves a placeholder for the time.
                raw = raw.replace(b"{timestamp}", b"2026-03-02T08:00:00.000+0700")
                with contextlib.suppress(InputError):
                    real.append(connector.normalize(raw))
    assert len(real) >= 5
    wanted = common_fields(real) - {"event.ingested"}
    assert wanted
    for message in messages(name, 500):
        doc = connector.normalize(FORMATS[name].encode(message))
        if doc["event"]["kind"] == "alert":
            assert wanted <= set(flat(doc)), wanted - set(flat(doc))


# --------------------------------------------------------------------------- severity mix
# Each sensor's traffic must hold the three classes once a policy reads it: mostly noise,
# some high-risk, a few critical. Measured on each vendor's own scale, banded as socd's
# connectors band event.severity (connectors/README.md, "Severity").


def suricata_band(record: dict[str, Any]) -> str:
    if record["event_type"] != "alert":
        return "low"
    return {1: "top", 2: "high"}.get(record["alert"]["severity"], "low")


def wazuh_band(alert: dict[str, Any]) -> str:
    level = alert["rule"]["level"]
    return "top" if level >= 12 else "high" if level >= 7 else "low"


def severity_band(name: str) -> Any:
    """The band of event.severity after the connector: 9-10 top, 7-8 high, else low."""
    connector = normalizer(name)

    def band(message: Any) -> str:
        severity = connector.normalize(FORMATS[name].encode(message))["event"].get("severity")
        return "low" if severity is None or severity < 7 else "high" if severity < 9 else "top"

    return band


ZEEK_GRAVE = {"SSH::Login_By_Password_Guesser", "HTTP::SQL_Injection_Victim",
              "TeamCymruMalwareHashRegistry::Match", "Intel::Notice"}


def zeek_band(record: dict[str, Any]) -> str:
    """Zeek has no severity: the grave notes and file-hash hits on top; SQL injection
    attackers, password guessing, vulnerable software and intel hits of hosts inside
    reaching listed infrastructure high; listed addresses knocking from outside low."""
    if record.get("note") in ZEEK_GRAVE or record.get("seen.indicator_type") == \
            "Intel::FILE_HASH":
        return "top"
    if record.get("note") in {"HTTP::SQL_Injection_Attacker", "SSH::Password_Guessing",
                              "Software::Vulnerable_Version"}:
        return "high"
    if "seen.indicator" in record:
        return "low" if record["seen.where"] in ("Conn::IN_ORIG", "SMTP::IN_FROM") else "high"
    return "low"


@pytest.mark.parametrize(("name", "band", "top", "high"), [
    ("suricata", lambda: suricata_band, (0.05, 0.20), (0.10, 0.30)),
    ("wazuh", lambda: wazuh_band, (0.02, 0.10), (0.15, 0.40)),
    ("cef", lambda: severity_band("cef"), (0.05, 0.20), (0.10, 0.35)),
    ("leef", lambda: severity_band("leef"), (0.02, 0.12), (0.07, 0.25)),
    ("zeek", lambda: zeek_band, (0.02, 0.10), (0.20, 0.45)),
])
def test_each_sensor_s_traffic_is_mostly_noise_with_some_high_and_a_few_top(
        name: str, band: Any, top: tuple[float, float], high: tuple[float, float]) -> None:
    """On the vendor's own scale, for several seeds: a few percent of the messages in the
    top band, more in the high band, and the low band the largest."""
    classify = band()
    for seed in (1, 2, 3):
        bands = Counter(classify(m) for m in messages(name, 3000, seed=seed))
        shares = {k: bands[k] / 3000 for k in ("top", "high", "low")}
        assert top[0] < shares["top"] < top[1], shares
        assert high[0] < shares["high"] < high[1], shares
        assert shares["low"] > max(shares["top"], shares["high"]), shares


def policy_classes(rules_path: Path, name: str, count: int = 3000) -> Counter[str | None]:
    """How many of ``count`` simulated messages of a format the rules under ``rules_path``
    make critical, high-risk or nothing (None), with the connector's logsource."""
    from socd.classify import RuleSet

    rules, problems = RuleSet.load([rules_path])
    assert list(problems) == []
    connector = normalizer(name)
    bound = rules.bind(connector.logsource)
    classes: Counter[str | None] = Counter()
    for message in messages(name, count, seed=11):
        verdict = bound.classify(connector.normalize(FORMATS[name].encode(message)))
        classes[verdict.threat_class if verdict else None] += 1
    return classes


@pytest.mark.parametrize("name", SENSOR_FORMATS)
def test_a_shipped_policy_finds_all_three_classes_in_the_sensor_s_traffic(name: str) -> None:
    """Where socd ships a policy for the sensor (rules/<sensor>/), it finds critical and
    high-risk threats in the simulated traffic, and most messages are not threats."""
    if not (RULES / name).is_dir():
        pytest.skip(f"no shipped policy for {name} (rules/{name}/)")
    classes = policy_classes(RULES, name)
    assert classes["critical"] > 0, classes
    assert classes["high-risk"] > 0, classes
    assert classes[None] > 3000 / 2, classes


SAMPLE_POLICY = {
    "critical.yml": """
title: C2 seen by the IDS
id: 6d7c1f0e-0000-4000-8000-000000000001
logsource: {product: suricata}
detection:
  selection:
    rule.category: Malware Command and Control Activity Detected
  condition: selection
level: critical
""",
    "high.yml": """
title: Other priority-1 alerts
id: 6d7c1f0e-0000-4000-8000-000000000002
logsource: {product: suricata}
detection:
  selection:
    suricata.alert.severity: 1
  condition: selection
level: high
""",
}


def test_the_policy_check_counts_what_a_policy_decides(tmp_path: Path) -> None:
    """The check above counts each class a policy gives: a two-rule Suricata policy (C2
    critical, other priority-1 alerts high-risk) finds both in the simulated IDS traffic,
    most of it no threat; the same rules for another product find nothing."""
    for file, text in SAMPLE_POLICY.items():
        (tmp_path / file).write_text(text)
    classes = policy_classes(tmp_path, "suricata")
    assert 0 < classes["critical"] < classes["high-risk"] < classes[None], classes
    assert policy_classes(tmp_path, "zeek", count=500) == Counter({None: 500})


# --------------------------------------------------------------------------- mix


def test_mix_interleaves_formats_in_their_shares_and_normalises() -> None:
    """mixed_messages tags each message with its format, in about the shares asked, each
    normalising through its connector; same seed, same mix."""
    shares = {"cyradar": 4, "suricata": 3, "wazuh": 2, "cef": 1}
    mixed = list(itertools.islice(mixed_messages(random.Random(3), start=START,
                                                 shares=shares), 5000))
    counts = Counter(name for name, _ in mixed)
    for name, share in shares.items():
        assert abs(counts[name] / 5000 - share / 10) < 0.03, counts
    connectors = {name: normalizer(name) for name in shares}
    for name, message in mixed[:1500]:
        connectors[name].normalize(FORMATS[name].encode(message))
    again = list(itertools.islice(mixed_messages(random.Random(3), start=START,
                                                 shares=shares), 5000))
    assert again == mixed


def test_default_mix_is_a_provincial_network_s_traffic() -> None:
    """The default mix holds every format in its MIX share: the IDS and firewalls most,
    then the HIDS and network monitor, the provider's NDR/APT sensors least; every message
    normalises cleanly."""
    from socd.simulate import MIX

    assert set(MIX) == set(FORMATS)
    assert MIX["suricata"] + MIX["cef"] + MIX["leef"] > 0.6 * sum(MIX.values())
    assert min(MIX["suricata"], MIX["cef"]) > MIX["wazuh"] >= MIX["zeek"] >= MIX["cyradar"]
    mixed = list(itertools.islice(mixed_messages(random.Random(8), start=START), 10000))
    counts = Counter(name for name, _ in mixed)
    total = sum(MIX.values())
    for name, share in MIX.items():
        assert abs(counts[name] / 10000 - share / total) < 0.02, counts
    connectors = {name: normalizer(name) for name in MIX}
    for name, message in mixed[:3000]:
        doc = connectors[name].normalize(FORMATS[name].encode(message))
        assert "warnings" not in doc.get("socd", {})


async def test_run_mix_sends_each_format_to_its_usual_topic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--format mix produces every format to its own topic, with its own key and bytes."""
    from socd.simulate import command

    fake = FakeProducer()

    async def with_fake(*args: Any, **kwargs: Any) -> int:
        return await produce(*args, **kwargs, producer_factory=lambda servers: fake)

    monkeypatch.setattr(command, "produce", with_fake)
    assert await run(parse(["--format", "mix", "--count", "600", "--seed", "2"])) == 0
    by_topic = Counter(topic for topic, _, _ in fake.sent)
    assert set(by_topic) == {f"sensors.{name}" for name in FORMATS}
    assert sum(by_topic.values()) == 600
    for topic, value, key in fake.sent:
        assert value is not None
        if topic == "sensors.cef":
            assert value.startswith((b"CEF:0|", b"<")) or value[:3].isalpha()
            assert key
        elif topic == "sensors.leef":
            assert b"LEEF:" in value
            assert key or b"Deep Security" in value
        else:
            record = orjson.loads(value)
            assert key or (topic == "sensors.zeek" and "uid" not in record)


async def test_mix_with_one_topic_or_shares_without_mix_is_a_usage_error() -> None:
    """--topic goes with one format only and --mix with --format mix only: exit 2."""
    assert await run(parse(["--format", "mix", "--topic", "t", "--output", "-"])) == 2
    assert await run(parse(["--format", "wazuh", "--mix", "cef=1", "--output", "-"])) == 2
    for bad in (["--mix", "nope=1"], ["--mix", "cef=x"], ["--mix", "cef=0"]):
        with pytest.raises(SystemExit):
            parse(bad)


async def test_run_writes_cef_lines_to_a_file(tmp_path: Path) -> None:
    """--format cef --output FILE writes the generator's lines, one a line."""
    out = tmp_path / "cef.log"
    args = parse(["--format", "cef", "--count", "30", "--seed", "4", "--start",
                  "2026-03-02T08:00:00", "--output", str(out)])
    assert await run(args) == 0
    assert out.read_text().splitlines() == messages("cef", 30, seed=4, rate_hint=1.0)


@pytest.mark.parametrize("name", SENSOR_FORMATS)
async def test_a_written_file_reads_back_through_socd_normalize(name: str,
                                                                tmp_path: Path) -> None:
    """--output FILE writes the generator's messages one a line, and `socd normalize`'s
    framing reads back exactly those messages, each normalising without a warning."""
    from socd.normalize import iter_messages

    out = tmp_path / f"{name}.log"
    args = parse(["--format", name, "--count", "200", "--seed", "6", "--start",
                  "2026-03-02T08:00:00", "--output", str(out)])
    assert await run(args) == 0
    expected = [FORMATS[name].encode(m) for m in messages(name, 200, seed=6, rate_hint=1.0)]
    connector = normalizer(name)
    read = [raw for _, raw in iter_messages(out, connector.format)]
    assert read == expected
    for raw in read:
        assert "warnings" not in connector.normalize(raw).get("socd", {})
