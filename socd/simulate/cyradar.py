"""Cyradar-style managed NDR/APT alerts: the schema of the design brief."""

from __future__ import annotations

import copy
import random
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from socd.simulate.common import (
    SERVERS,
    SITES,
    VIETNAM,
    Event,
    Site,
    external_ip,
    internal_ip,
    ptr_name,
    workstation,
)

_SENSORS: tuple[tuple[str, str], ...] = (("ndr-01", "core-dc"), ("ndr-02", "dmz-web"),
                                         ("apt-01", "mail-gw"))
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


def _severity(rng: random.Random, profile: _Profile) -> int:
    return rng.choices(range(1, 11), weights=profile.severity)[0]


def _confidence(rng: random.Random, profile: _Profile) -> int:
    if rng.random() < profile.high_confidence:
        return rng.randint(70, 100)
    return rng.randint(10, 69)


def _endpoints(rng: random.Random, site: Site, category: str, threat: _Threat) -> Event:
    """Source and destination of one event, as the sensor reports them."""
    ext_ip = external_ip(rng)
    ext_name = rng.choice(threat.domains) if threat.domains else ptr_name(ext_ip)
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
            "src": {"ip": ext_ip, "port": client_port, "hostname": ptr_name(ext_ip)},
            "dst": {"ip": internal_ip(rng, site, server=True), "port": ext["port"],
                    "domain": server},
        }
    src = {"ip": internal_ip(rng, site, server=False), "port": client_port,
           "hostname": workstation(rng)}
    if threat.direction == "lateral":
        victim = rng.choice(SERVERS)
        return {"src": src, "dst": {"ip": internal_ip(rng, site, server=True),
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
    site = rng.choice(SITES)
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


def alert_id_key(event: Event) -> bytes | None:
    """A Cyradar-style event's Kafka key: its ``alert_id``."""
    alert_id = event.get("alert_id")
    return str(alert_id).encode() if alert_id is not None else None
