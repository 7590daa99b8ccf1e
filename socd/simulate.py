"""Realistic sensor traffic: ``socd simulate``.

Three parts, from pure to effectful:

- **Generators** (:data:`FORMATS`: format name → :class:`SensorFormat`) yield the dicts a
  sensor would publish, deterministic for a given :class:`random.Random`. ``cyradar`` follows
  the Cyradar-style schema of the design brief; a new sensor format is one more entry.
- :func:`produce` sends events to a Kafka topic with aiokafka (``acks="all"``, key = the
  event's id, value = JSON by orjson), paced to a rate or as fast as possible, and returns how
  many the broker acknowledged. It does not create the topic.
- :func:`add_arguments` and :func:`run` make the sub-command; ``--output`` writes JSON lines
  instead of producing.

Every address and name the generators write is data: internal addresses are in 10.0.0.0/8,
external ones in the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24),
external domains under the reserved ``.example`` top-level domain.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import logging
import os
import random
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import orjson

from socd.errors import SinkError

__all__ = [
    "FORMATS",
    "VIETNAM",
    "Event",
    "EventGenerator",
    "SensorFormat",
    "add_arguments",
    "cyradar_events",
    "produce",
    "run",
]

_log = logging.getLogger(__name__)

Event = dict[str, Any]
"""One sensor message, as the sensor would serialise it to JSON."""

VIETNAM = timezone(timedelta(hours=7), "ICT")
"""Vietnam's offset (UTC+07:00, no daylight saving): the sensors' local time."""


class EventGenerator(Protocol):
    """Yields sensor messages forever, deterministic for a given ``rng``.

    ``start`` is the sensor time of the first event; ``rate_hint`` the mean number of events
    per second of sensor time (the spacing of the timestamps, not the sending rate).
    """

    def __call__(
        self, rng: random.Random, *, start: datetime, rate_hint: float = 1.0
    ) -> Iterator[Event]: ...


@dataclass(frozen=True, slots=True)
class SensorFormat:
    """A simulated sensor format: how to generate it, how to key it, where it usually goes."""

    generate: EventGenerator
    key: Callable[[Event], bytes | None]
    """The Kafka message key of an event (its id), or None for no key."""
    topic: str
    """The topic of the example configuration that consumes this format."""


# --------------------------------------------------------------------------- cyradar data


@dataclass(frozen=True, slots=True)
class _Site:
    """One provincial network watched by the provider's sensors."""

    org: str
    code: str
    slug: str  # the province in its .gov.vn domain
    octet: int  # internal addresses are 10.<octet>.x.y

    @property
    def portals(self) -> tuple[str, ...]:
        return (
            f"{self.slug}.gov.vn",
            f"dichvucong.{self.slug}.gov.vn",
            f"stttt.{self.slug}.gov.vn",
            f"vanban.{self.slug}.gov.vn",
        )

    @property
    def other_sites(self) -> tuple[str, ...]:
        """Web sites hosted on the network that are not government portals."""
        return (f"thpt-{self.code}.example", f"hoinongdan-{self.code}.example")


_SITES: tuple[_Site, ...] = (
    _Site("So TTTT Binh Phuoc", "bp", "binhphuoc", 20),
    _Site("So TTTT Dong Nai", "dn", "dongnai", 21),
    _Site("So TTTT Lam Dong", "ld", "lamdong", 22),
    _Site("So TTTT Tay Ninh", "tn", "tayninh", 23),
    _Site("So TTTT Ca Mau", "cm", "camau", 24),
)
_SENSORS: tuple[tuple[str, str], ...] = (("ndr-01", "core-dc"), ("ndr-02", "dmz-web"),
                                         ("apt-01", "mail-gw"))
# Departments of a provincial administration: accounting, records office, personnel,
# inspection, one-stop service desk, planning and finance, IT, legal, director's office.
_DEPARTMENTS = ("ketoan", "vanthu", "tochuc", "thanhtra", "motcua", "khtc", "cntt", "phapche",
                "vanphong", "giamdoc")
_SERVERS = ("srv-portal-01", "srv-dvc-01", "srv-mail-01", "srv-qlvb-01", "srv-egov-02",
            "srv-vpn-01", "srv-dns-01", "srv-hcm-01")
_EXTERNAL_NETS = ("192.0.2", "198.51.100", "203.0.113")
_URL_PATHS = ("/update/check.php", "/wp-content/plugins/x.php", "/login", "/dl/invoice.zip",
              "/api/v2/beacon", "/files/QD-UBND.docx.exe", "/owa/auth/logon.aspx")


@dataclass(frozen=True, slots=True)
class _Threat:
    """One kind of detection of a category: the sensor's name for it and its traffic."""

    name: str
    mitre: tuple[str, ...]
    ports: tuple[int, ...]
    protocol: str = "tcp"
    direction: str = "out"  # out: internal → external; in: external → internal; lateral
    domains: tuple[str, ...] = ()  # attacker infrastructure


@dataclass(frozen=True, slots=True)
class _Profile:
    """How one category shows up in a provider's feed."""

    weight: float  # share of the feed
    severity: tuple[float, ...]  # relative weights of severities 1..10
    blocked: float  # probability the sensor blocked it
    high_confidence: float  # probability the indicator's confidence is 70 or more
    ioc_types: tuple[str, ...]  # drawn uniformly: domain, ip, url, hash
    threats: tuple[_Threat, ...]


_C2_DOMAINS = ("update-cdn.example", "office365-sync.example", "vn-news-update.example",
               "gov-docs-share.example")
_PROFILES: dict[str, _Profile] = {
    "apt_c2": _Profile(11, (0, 0, 1, 1, 2, 3, 5, 6, 5, 3), 0.6, 0.8, ("domain", "ip", "url"), (
        _Threat("OceanLotus C2 beacon", ("T1071.001", "T1573.002"), (443, 80),
                domains=_C2_DOMAINS),
        _Threat("PlugX C2 check-in", ("T1071.001", "T1573.001"), (443, 8080),
                domains=("cloud-drive-sync.example",)),
        _Threat("ShadowPad DNS C2", ("T1071.004",), (53,), "udp",
                domains=("ns1.dns-resolve.example",)),
        _Threat("Cobalt Strike beacon", ("T1071.001", "T1105"), (443,),
                domains=("cdn-static-content.example",)),
    )),
    "ransomware": _Profile(3, (0, 0, 0, 1, 1, 2, 3, 4, 4, 3), 0.7, 0.8, ("hash", "domain", "ip"), (
        _Threat("LockBit 3.0 payload download", ("T1486", "T1105"), (443, 80),
                domains=("files-transfer.example",)),
        _Threat("WannaCry SMB propagation", ("T1486", "T1210"), (445,), direction="lateral"),
        _Threat("Phobos ransom note over RDP session", ("T1486", "T1021.001"), (3389,),
                direction="in"),
    )),
    "data_exfiltration": _Profile(3, (0, 0, 1, 1, 2, 3, 4, 4, 2, 1), 0.5, 0.6, ("domain", "ip"), (
        _Threat("DNS tunnelling exfiltration", ("T1048.003", "T1071.004"), (53,), "udp",
                domains=("t.data-sync.example",)),
        _Threat("Document upload to attacker storage", ("T1567.002", "T1041"), (443,),
                domains=("mega-share.example", "paste-drop.example")),
        _Threat("FTP upload of office documents", ("T1048.003",), (21,),
                domains=("ftp.backup-store.example",)),
    )),
    "defacement": _Profile(3, (0, 0, 1, 2, 3, 4, 4, 3, 2, 1), 0.5, 0.5, ("ip", "url"), (
        _Threat("Home page defacement signature", ("T1491.002",), (80, 443), direction="in"),
        _Threat("Web shell upload for defacement", ("T1505.003", "T1491.002"), (80, 443),
                direction="in"),
    )),
    "malware": _Profile(14, (0, 1, 2, 3, 4, 6, 7, 5, 3, 1), 0.6, 0.6, ("hash", "url", "domain"), (
        _Threat("Emotet loader download", ("T1105", "T1204.002"), (80, 443),
                domains=("invoice-docs.example",)),
        _Threat("AgentTesla SMTP exfiltration", ("T1048.003", "T1114"), (587, 25),
                domains=("mail.smtp-relay.example",)),
        _Threat("RedLine stealer check-in", ("T1555.003", "T1071.001"), (443,),
                domains=("stealer-panel.example",)),
        _Threat("Trojan dropper in fake decree attachment", ("T1204.002", "T1566.001"), (443,),
                domains=("vanban-chinhphu.example",)),
    )),
    "botnet": _Profile(6, (0, 1, 1, 2, 3, 5, 6, 4, 2, 1), 0.5, 0.7, ("ip", "domain"), (
        _Threat("Mirai C2 check-in", ("T1071.001", "T1571"), (23, 48101)),
        _Threat("Qakbot C2 traffic", ("T1071.001", "T1573.002"), (443, 2222),
                domains=("qb-relay.example",)),
        _Threat("Sality P2P botnet", ("T1095", "T1571"), (1024, 4000), "udp"),
    )),
    "exploit": _Profile(10, (0, 1, 2, 3, 4, 5, 5, 4, 3, 1), 0.7, 0.5, ("ip", "url"), (
        _Threat("CVE-2021-44228 Log4Shell attempt", ("T1190",), (443, 8080), direction="in"),
        _Threat("CVE-2021-26855 ProxyLogon attempt", ("T1190",), (443,), direction="in"),
        _Threat("CVE-2019-19781 Citrix ADC traversal", ("T1190",), (443,), direction="in"),
        _Threat("SQL injection on public-service portal", ("T1190",), (80, 443),
                direction="in"),
    )),
    "phishing": _Profile(8, (0, 1, 2, 3, 4, 6, 6, 4, 2, 1), 0.7, 0.6, ("url", "domain"), (
        _Threat("Fake public-service portal login page", ("T1566.002",), (443, 80),
                domains=("dichvucong-gov.example", "dvc-quocgia.example")),
        _Threat("Fake webmail login page", ("T1566.002",), (443,),
                domains=("mail-gov-vn.example",)),
        _Threat("Malicious attachment link", ("T1566.001", "T1204.001"), (443,),
                domains=("drive-share-docs.example",)),
    )),
    "bruteforce": _Profile(14, (0, 2, 4, 5, 6, 5, 4, 3, 2, 1), 0.8, 0.35, ("ip",), (
        _Threat("SSH password brute force", ("T1110.001",), (22,), direction="in"),
        _Threat("RDP password brute force", ("T1110.001",), (3389,), direction="in"),
        _Threat("Webmail password spraying", ("T1110.003",), (443,), direction="in"),
        _Threat("VPN login brute force", ("T1110.001",), (443, 4433), direction="in"),
    )),
    "ddos": _Profile(4, (0, 1, 2, 4, 5, 5, 4, 3, 2, 1), 0.8, 0.35, ("ip",), (
        _Threat("HTTP flood on portal", ("T1498", "T1499.002"), (80, 443), direction="in"),
        _Threat("UDP flood", ("T1498.001",), (53, 123), "udp", direction="in"),
        _Threat("SYN flood", ("T1498.001",), (443,), direction="in"),
    )),
    "scan": _Profile(20, (3, 5, 6, 5, 4, 2, 2, 1, 0.5, 0.25), 0.6, 0.2, ("ip",), (
        _Threat("Nmap SYN port scan", ("T1595.001",), (22, 80, 443, 3389), direction="in"),
        _Threat("Web vulnerability scanner", ("T1595.002",), (80, 443), direction="in"),
        _Threat("Internal SMB sweep", ("T1046",), (445,), direction="lateral"),
    )),
    "policy": _Profile(10, (3, 5, 6, 5, 3, 2, 1, 1, 0.5, 0.5), 0.5, 0.3, ("domain", "ip"), (
        _Threat("Tor network connection", ("T1090.003",), (9001, 443),
                domains=("tor-relay.example",)),
        _Threat("Remote access tool (AnyDesk)", ("T1219",), (443, 6568),
                domains=("relay.remote-desk.example",)),
        _Threat("Crypto-mining pool connection", ("T1496",), (3333, 4444),
                domains=("pool.coin-mine.example",)),
        _Threat("BitTorrent peer-to-peer traffic", ("T1048",), (6881,),
                domains=("tracker.torrent.example",)),
    )),
}
_REPEAT = 0.2  # probability that an event repeats a recent incident (a beacon, a campaign)


def _external_ip(rng: random.Random) -> str:
    return f"{rng.choice(_EXTERNAL_NETS)}.{rng.randint(1, 254)}"


def _internal_ip(rng: random.Random, site: _Site, *, server: bool) -> str:
    subnet = 10 if server else rng.randint(1, 9)
    return f"10.{site.octet}.{subnet}.{rng.randint(10, 250)}"


def _workstation(rng: random.Random) -> str:
    kind = rng.choice(("ws", "ws", "pc", "lt"))
    return f"{kind}-{rng.choice(_DEPARTMENTS)}-{rng.randint(1, 12):02d}"


def _ptr_name(ip: str) -> str:
    """The reverse-DNS name a sensor shows for an external address."""
    return f"static-{ip.replace('.', '-')}.hosting.example"


def _severity(rng: random.Random, profile: _Profile) -> int:
    return rng.choices(range(1, 11), weights=profile.severity)[0]


def _confidence(rng: random.Random, profile: _Profile) -> int:
    if rng.random() < profile.high_confidence:
        return rng.randint(70, 100)
    return rng.randint(10, 69)


def _endpoints(rng: random.Random, site: _Site, category: str, threat: _Threat) -> Event:
    """Source and destination of one event, as the sensor reports them."""
    ext_ip = _external_ip(rng)
    ext_name = rng.choice(threat.domains) if threat.domains else _ptr_name(ext_ip)
    ext = {"ip": ext_ip, "port": rng.choice(threat.ports), "domain": ext_name}
    client_port = rng.randint(49152, 65535)
    if threat.direction == "in":
        if category == "defacement":
            gov = rng.random() < 0.75
            server = rng.choice(site.portals if gov else site.other_sites)
        elif category in ("exploit", "ddos", "scan"):
            server = rng.choice(site.portals)
        else:
            server = rng.choice((f"mail.{site.slug}.gov.vn", f"vpn.{site.slug}.gov.vn"))
        return {
            "src": {"ip": ext_ip, "port": client_port, "hostname": _ptr_name(ext_ip)},
            "dst": {"ip": _internal_ip(rng, site, server=True), "port": ext["port"],
                    "domain": server},
        }
    src = {"ip": _internal_ip(rng, site, server=False), "port": client_port,
           "hostname": _workstation(rng)}
    if threat.direction == "lateral":
        victim = rng.choice(_SERVERS)
        return {"src": src, "dst": {"ip": _internal_ip(rng, site, server=True),
                                    "port": ext["port"],
                                    "domain": f"{victim}.{site.slug}.local"}}
    return {"src": src, "dst": ext}


def _ioc(rng: random.Random, profile: _Profile, direction: str, ends: Event) -> Event:
    """The indicator the sensor matched: the attacker's side, or the file seen."""
    inbound = direction == "in"
    attacker = ends["dst"] if direction == "out" else ends["src"]
    kinds = profile.ioc_types
    if direction == "lateral":  # an infected host spreading: its address or the file
        kinds = tuple(k for k in kinds if k in ("ip", "hash")) or ("ip",)
    kind = rng.choice(kinds)
    if kind == "ip":
        value = attacker["ip"]
    elif kind == "domain":
        value = attacker.get("domain") or attacker["hostname"]
    elif kind == "url":
        host = attacker.get("domain") or attacker["hostname"]
        if inbound:  # the URL the attacker requested on the victim's site
            host = ends["dst"]["domain"]
        value = f"http://{host}{rng.choice(_URL_PATHS)}"
    else:
        value = f"{rng.getrandbits(256):064x}"  # SHA-256 of the file seen
    return {"type": kind, "value": value, "confidence": _confidence(rng, profile)}


def _fresh(rng: random.Random) -> Event:
    """A new incident: everything of an event except its id and time."""
    site = rng.choice(_SITES)
    categories = list(_PROFILES)
    category = rng.choices(categories, weights=[p.weight for p in _PROFILES.values()])[0]
    profile = _PROFILES[category]
    threat = rng.choice(profile.threats)
    ends = _endpoints(rng, site, category, threat)
    sensor_id, sensor_name = rng.choice(_SENSORS)
    return {
        "sensor": {"id": f"{site.code}-{sensor_id}", "name": sensor_name, "org": site.org},
        "severity": _severity(rng, profile),
        "category": category,
        "threat_name": threat.name,
        **ends,
        "protocol": threat.protocol,
        "action": "blocked" if rng.random() < profile.blocked else "alerted",
        "ioc": _ioc(rng, profile, threat.direction, ends),
        "mitre": list(threat.mitre),
    }


def cyradar_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[Event]:
    """Cyradar-style sensor events, forever, deterministic for a given ``rng``.

    Timestamps start at ``start`` (a naive ``start`` is taken as Vietnam time) and advance by
    exponential gaps of mean ``1 / rate_hint`` seconds; ``detected_at`` is written in +07:00 to
    the second. About a fifth of the events repeat a recent incident (same hosts, threat and
    verdict of the sensor) with a new ``alert_id``, as beacons and campaigns do.
    """
    if rate_hint <= 0:
        raise ValueError("rate_hint must be positive")
    if start.tzinfo is None:
        start = start.replace(tzinfo=VIETNAM)
    recent: deque[Event] = deque(maxlen=50)
    elapsed = 0.0
    while True:
        if recent and rng.random() < _REPEAT:
            body = copy.deepcopy(rng.choice(recent))
            body["src"]["port"] = rng.randint(49152, 65535)
        else:
            body = _fresh(rng)
            recent.append(copy.deepcopy(body))
        detected = (start + timedelta(seconds=elapsed)).astimezone(VIETNAM)
        yield {
            "alert_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "detected_at": detected.isoformat(timespec="seconds"),
            **body,
        }
        elapsed += rng.expovariate(rate_hint)


def _alert_id_key(event: Event) -> bytes | None:
    alert_id = event.get("alert_id")
    return str(alert_id).encode() if alert_id is not None else None


FORMATS: dict[str, SensorFormat] = {
    "cyradar": SensorFormat(cyradar_events, _alert_id_key, "sensors.cyradar"),
}
"""The simulated sensor formats, by the name ``--format`` takes."""


# --------------------------------------------------------------------------- Kafka producer


class _Producer(Protocol):
    """The part of aiokafka's ``AIOKafkaProducer`` that :func:`produce` uses."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[Any]: ...


def _aiokafka_producer(bootstrap_servers: str) -> _Producer:
    from aiokafka import AIOKafkaProducer

    producer: _Producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", client_id="socd-simulate", linger_ms=5
    )
    return producer


async def produce(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[Event],
    *,
    rate: float | None,
    count: int,
    key: Callable[[Event], bytes | None] = _alert_id_key,
    max_in_flight: int = 1000,
    producer_factory: Callable[[str], _Producer] = _aiokafka_producer,
) -> int:
    """Send the first ``count`` events to ``topic``; return how many the broker acknowledged.

    ``rate`` paces the sending to that many events per second (None: as fast as the broker
    takes them). At most ``max_in_flight`` sends wait for their acknowledgement at once.
    Failure to reach the broker raises :class:`~socd.errors.SinkError`; a message the broker
    refuses is not counted.
    """
    from aiokafka.errors import KafkaError

    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    producer = producer_factory(bootstrap_servers)
    acked = refused = 0
    pending: set[asyncio.Future[Any]] = set()

    def settle(done: Iterable[asyncio.Future[Any]]) -> None:
        nonlocal acked, refused
        for future in done:
            if not future.cancelled() and future.exception() is None:
                acked += 1
                continue
            refused += 1
            if refused == 1:  # once: the first reason is enough, the count is returned
                reason = "cancelled" if future.cancelled() else repr(future.exception())
                _log.warning("the broker did not acknowledge a message to %s: %s", topic, reason)

    try:
        await producer.start()
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n, event in enumerate(itertools.islice(events, count)):
            if rate is not None:
                delay = began + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.add(await producer.send(topic, orjson.dumps(event), key=key(event)))
            if len(pending) >= max_in_flight:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
        if pending:
            done, pending = await asyncio.wait(pending)
            settle(done)
    except KafkaError as exc:
        raise SinkError(f"Kafka at {bootstrap_servers}, topic {topic!r}: {exc}") from exc
    finally:
        for future in pending:
            future.cancel()
        await producer.stop()
    return acked


# --------------------------------------------------------------------------- sub-command


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text}") from exc
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``socd simulate`` to ``parser``."""
    parser.add_argument("--format", choices=sorted(FORMATS), default="cyradar",
                        help="sensor format to simulate (default: %(default)s)")
    parser.add_argument("--count", type=_count, default=1000,
                        help="how many events (default: %(default)s)")
    parser.add_argument("--rate", type=_positive_float, default=None,
                        help="events per second to send (default: as fast as possible)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the same seed and --start give the same events")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092",
                        help="Kafka bootstrap servers, HOST:PORT[,...] (default: %(default)s)")
    parser.add_argument("--topic", default=None,
                        help="topic to produce to (default: the format's usual topic, "
                             "sensors.cyradar for cyradar); it must exist")
    parser.add_argument("--output", metavar="FILE", default=None,
                        help="write JSON lines to FILE ('-' for standard output) instead of "
                             "producing to Kafka")
    parser.add_argument("--start", type=_timestamp, default=None,
                        help="sensor time of the first event, ISO-8601 (no offset: +07:00). "
                             "Default: now with --rate, else early enough that the last "
                             "event is about now")
    parser.add_argument("--rate-hint", type=_positive_float, default=None,
                        help="mean events per second of sensor time in the timestamps "
                             "(default: --rate, else 1)")


def _write_jsonl(output: str, events: Iterable[Event]) -> int:
    written = 0
    if output == "-":
        try:
            for event in events:
                sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
                written += 1
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader stopped (`| head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit stays quiet
        return written
    with Path(output).open("wb") as file:
        for event in events:
            file.write(orjson.dumps(event) + b"\n")
            written += 1
    return written


async def run(args: argparse.Namespace) -> int:
    """``socd simulate``: generate events and produce them (or write them); the exit status."""
    sensor = FORMATS[args.format]
    rate_hint: float = args.rate_hint or args.rate or 1.0
    start: datetime | None = args.start
    if start is None:
        start = datetime.now(VIETNAM)
        if args.rate is None:
            start -= timedelta(seconds=args.count / rate_hint)
    rng = random.Random(args.seed)
    events = itertools.islice(sensor.generate(rng, start=start, rate_hint=rate_hint), args.count)
    if args.output is not None:
        written = await asyncio.to_thread(_write_jsonl, args.output, events)
        if args.output != "-":
            print(f"wrote {written} {args.format} events to {args.output}", file=sys.stderr)
        return 0
    topic: str = args.topic or sensor.topic
    try:
        acked = await produce(args.bootstrap_servers, topic, events, rate=args.rate,
                              count=args.count, key=sensor.key)
    except SinkError as exc:
        print(f"socd simulate: {exc}", file=sys.stderr)
        return 1
    print(f"produced {acked} of {args.count} {args.format} events to {topic}", file=sys.stderr)
    return 0 if acked == args.count else 1
