"""IBM LEEF lines of devices integrated with QRadar: each network's Palo Alto Networks
firewall (traffic it denies and the threats its IPS, anti-spyware, antivirus, WildFire and
zone protection report) and the Trend Micro Deep Security agents on its servers (intrusion
prevention, host firewall, anti-malware, web reputation, integrity monitoring).

- **PAN-OS** writes what its syslog server profile's custom format says; the QRadar
  templates write LEEF 1.0 with ``|`` between attributes, or LEEF 2.0 with the delimiter
  ``x7C`` (``|``) in the header (as in ``tenzir_leef2.log``), behind an RFC 3164 header.
  The header's event id is the action (traffic) or the threat's name and id
  (``Apache Log4j Remote Code Execution Vulnerability(91991)``). PAN-OS rates threats
  ``informational`` … ``critical`` (kept in ``Severity``/``VendorSeverity``); ``sev`` carries
  the same on LEEF's 1-10 scale (1, 3, 5, 8, 10). PAN-OS writes ``devTime`` in UTC with a
  ``GMT`` suffix; here it is local time without a zone, the form the LEEF guide gives for a
  ``devTime`` without ``devTimeFormat``, which socd's connector reads.
- **Deep Security** writes LEEF 2.0 without a delimiter field (attributes TAB-separated),
  ``sev`` as Trend Micro rates its rules (intrusion prevention Low 3, Medium 6, High 8,
  Critical 10; firewall 5; anti-malware 6, 8 for ransomware; web reputation 6 or 8), no
  ``devTime``: the provincial syslog relay forwards it with an RFC 5424 header, whose time
  has a year.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from socd.simulate.common import (
    SERVERS,
    SITES,
    Site,
    client_port,
    external_ip,
    internal_ip,
    sensor_clock,
)

# PAN-OS's threat severity words and their LEEF sev
_PAN_SEV = {"informational": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}


@dataclass(frozen=True, slots=True)
class _PanThreat:
    """One threat a PAN-OS firewall reports: name(id), subtype, severity, traffic."""

    name: str
    subtype: str  # vulnerability, spyware, virus, wildfire, url, scan, flood
    severities: tuple[str, ...]  # drawn uniformly
    category: str  # PAN's threat category (ThreatCategory)
    app: str
    ports: tuple[int, ...]
    direction: str  # in: Internet → DMZ server; out: workstation → Internet
    actions: tuple[str, ...]
    weight: float


_PAN_THREATS = (
    _PanThreat("SSH2 Login Attempt(31914)", "vulnerability", ("informational",), "brute-force",
               "ssh", (22,), "in", ("alert",), 6),
    _PanThreat("Microsoft RPC Endpoint Mapper Detection(30845)", "vulnerability",
               ("informational",), "info-leak", "msrpc", (135,), "in", ("alert", "drop"), 3),
    _PanThreat("ZGrab Application Layer Scanner Detection(57955)", "vulnerability", ("low",),
               "info-leak", "web-browsing", (80, 443), "in", ("alert", "reset-both"), 4),
    _PanThreat("HTTP Directory Traversal Request Attempt(33194)", "vulnerability",
               ("medium",), "code-execution", "web-browsing", (80, 443), "in",
               ("reset-both", "alert"), 3),
    _PanThreat("HTTP SQL Injection Attempt(38195)", "vulnerability", ("high",), "sql-injection",
               "web-browsing", (80, 443), "in", ("reset-both", "alert"), 4),
    _PanThreat("HTTP /etc/passwd Access Attempt(35107)", "vulnerability", ("high",),
               "info-leak", "web-browsing", (80,), "in", ("reset-both",), 1),
    _PanThreat("Apache Log4j Remote Code Execution Vulnerability(91991)", "vulnerability",
               ("critical",), "code-execution", "web-browsing", (80, 443, 8080), "in",
               ("reset-both", "alert"), 1.5),
    _PanThreat("Microsoft Windows SMB Remote Code Execution Vulnerability(32424)",
               "vulnerability", ("critical",), "code-execution", "ms-ds-smb", (445,), "in",
               ("drop",), 0.5),
    _PanThreat("Suspicious Domain(109010003)", "spyware", ("medium",), "dns-c2", "dns",
               (53,), "out", ("sinkhole", "alert"), 3),
    _PanThreat("Cobalt Strike.Gen Command and Control Traffic(86246)", "spyware",
               ("critical",), "command-and-control", "ssl", (443,), "out",
               ("reset-both", "alert"), 0.8),
    _PanThreat("Mirai.Gen Command and Control Traffic(85600)", "spyware", ("high",),
               "botnet", "telnet", (23, 48101), "out", ("drop", "alert"), 1),
    _PanThreat("Virus/Win32.WGeneric.dmsnk(548315212)", "virus", ("medium",), "virus",
               "web-browsing", (80,), "out", ("reset-both",), 1.5),
    _PanThreat("Windows Executable (EXE)(52020)", "wildfire", ("high",), "malware",
               "web-browsing", (80, 443), "out", ("alert", "block"), 1),
    _PanThreat("(9999)", "url", ("informational",), "phishing", "web-browsing", (80, 443),
               "out", ("block-url", "alert"), 4),
    _PanThreat("TCP Port scan(8001)", "scan", ("low", "medium"), "scan", "not-applicable",
               (0,), "in", ("drop",), 3),
    _PanThreat("UDP Flood(8502)", "flood", ("high", "critical"), "flood", "not-applicable",
               (53, 123), "in", ("drop",), 0.4),
)
_PAN_TRAFFIC_WEIGHT = 45  # denied and dropped sessions, beside the threats' weights above
_PAN_VERSIONS = ("10.2.9-h1", "11.1.4-h7")
_URL_CATEGORIES = ("phishing", "malware", "command-and-control", "gambling", "adult",
                   "proxy-avoidance-and-anonymizers")
_BAD_HOSTS = ("invoice-docs.example", "stealer-panel.example", "dvc-quocgia.example",
              "casino-online.example", "free-vpn.example")
_COUNTRIES = ("United States", "China", "Russian Federation", "Netherlands", "Singapore",
              "Korea Republic of", "Brazil")


@dataclass(frozen=True, slots=True)
class _DsEvent:
    """One kind of Deep Security agent event."""

    event_id: str
    category: str  # cat: the protection module
    name: str
    sev: int
    kind: str  # ips, firewall, malware, web, integrity
    ports: tuple[int, ...] = (0,)
    actions: tuple[str, ...] = ("",)
    weight: float = 1.0


_DS_EVENTS = (
    _DsEvent("1000128", "Intrusion Prevention", "HTTP Protocol Decoding", 3, "ips", (80,),
             ("IDS:Reset", "Reset"), 4),
    _DsEvent("1000552", "Intrusion Prevention", "Generic Cross Site Scripting(XSS) Prevention "
             "Filter", 6, "ips", (80, 443), ("Reset", "IDS:Reset"), 2),
    _DsEvent("1000608", "Intrusion Prevention", "Generic SQL Injection Prevention", 8, "ips",
             (80, 443), ("Reset", "IDS:Reset"), 2.5),
    _DsEvent("1008224", "Intrusion Prevention", "Microsoft Windows SMB Remote Code Execution "
             "Vulnerabilities (CVE-2017-0144 and CVE-2017-0146)", 10, "ips", (445,),
             ("Reset",), 0.5),
    _DsEvent("1011242", "Intrusion Prevention", "Apache Log4j Remote Code Execution "
             "Vulnerability (CVE-2021-44228)", 10, "ips", (80, 443, 8080),
             ("Reset", "IDS:Reset"), 0.5),
    _DsEvent("1006540", "Intrusion Prevention", "Identified Too Many Failed RDP Login "
             "Attempts", 6, "ips", (3389,), ("IDS:Reset",), 2),
    _DsEvent("20", "Firewall", "Log Only: inbound SMB from Internet", 5, "firewall", (445,),
             ("Log",), 2),
    _DsEvent("21", "Firewall", "Deny: RDP from outside the management network", 5,
             "firewall", (3389,), ("Deny",), 3),
    _DsEvent("100", "Firewall", "Out Of Allowed Policy", 5, "firewall", (135, 139, 1433),
             ("Deny",), 3),
    _DsEvent("4000000", "Anti-Malware", "TROJ_GEN.R002C0DB426", 6, "malware",
             actions=("Quarantine", "Clean"), weight=1.5),
    _DsEvent("4000000", "Anti-Malware", "Eicar_test_file", 6, "malware",
             actions=("Quarantine",), weight=0.5),
    _DsEvent("4000000", "Anti-Malware", "Ransom.Win32.LOCKBIT.YXDBY", 8, "malware",
             actions=("Delete", "Quarantine", "Access Denied"), weight=0.4),
    _DsEvent("5000000", "Web Reputation", "WebReputation", 6, "web",
             actions=("Suspicious",), weight=1.5),
    _DsEvent("5000000", "Web Reputation", "WebReputation", 8, "web",
             actions=("Dangerous",), weight=0.6),
    _DsEvent("2002779", "Integrity Monitoring", "Microsoft Windows - System file modified", 6,
             "integrity", actions=("updated",), weight=1),
)
_MALWARE_PATHS = ("C:\\Users\\Public\\Downloads\\invoice.exe", "C:\\Windows\\Temp\\svc.dll",
                  "D:\\VanBan\\QD-UBND.docx.exe", "/var/www/html/uploads/img.php")


def _mac(rng: random.Random) -> str:
    return ":".join(f"{rng.getrandbits(8):02X}" for _ in range(6))


def _serial(site: Site) -> str:
    return f"0131010{site.octet:02d}{site.octet * 37 % 1000:03d}"


def _pan_header(rng: random.Random, now: datetime, device: str) -> str:
    """RFC 3164, with the firewall's host name ("Send Hostname in Syslog")."""
    return f"<{rng.choice((14, 12, 10))}>{now:%b} {now.day:2d} {now:%H:%M:%S} {device} "


def _pan_line(rng: random.Random, site: Site, now: datetime) -> str:
    weights = [_PAN_TRAFFIC_WEIGHT, *(t.weight for t in _PAN_THREATS)]
    choice = rng.choices(range(len(weights)), weights=weights)[0]
    threat = _PAN_THREATS[choice - 1] if choice else None
    device = f"pa-{site.code}-01"
    leef2 = site.octet % 2 == 1  # each network's firewall has one template
    received = now + timedelta(seconds=rng.choice((0, 0, 1)))
    inbound = threat is None or threat.direction == "in"
    if inbound:
        src, dst = external_ip(rng), f"203.0.113.{site.octet}"  # the site's public address
        nat_dst, from_zone, to_zone = internal_ip(rng, site, server=True), "untrust", "dmz"
        nat_src = "0.0.0.0"  # PAN-OS writes the unspecified address for "no NAT"
    else:
        src, dst = internal_ip(rng, site, server=False), external_ip(rng)
        nat_src, nat_dst, from_zone, to_zone = f"203.0.113.{site.octet}", "0.0.0.0", \
            "trust", "untrust"
    if threat is None:
        port = rng.choice((23, 445, 3389, 1433, 5900, 8080, 22))
        action = rng.choice(("deny", "drop", "drop"))
        event_id, log_type, subtype = action, "TRAFFIC", action
        app = "not-applicable" if action == "drop" else rng.choice(("ms-rdp", "ssh",
                                                                    "mssql-db", "telnet"))
    else:
        port = rng.choice(threat.ports) or rng.randint(1, 1024)
        action = rng.choice(threat.actions)
        event_id, log_type, subtype, app = threat.name, "THREAT", threat.subtype, threat.app
    session = rng.randint(10**5, 10**7)
    sequence = str(rng.randint(10**18, 9 * 10**18))
    common = {"src": src, "dst": dst, "srcPort": str(client_port(rng)), "dstPort": str(port),
              "proto": "udp" if port in (53, 123, 5060) else "tcp",
              "SessionID": str(session)}
    where = ("10.0.0.0-10.255.255.255" if not inbound else rng.choice(_COUNTRIES),
             "10.0.0.0-10.255.255.255" if inbound else rng.choice(_COUNTRIES))
    stamp = f"{received:%Y/%m/%d %H:%M:%S}"
    dev_time = f"{now:%b %d %Y %H:%M:%S}"
    pairs: list[tuple[str, str]]
    if not leef2:  # LEEF 1.0: the names of the QRadar DSM's template
        pairs = [("cat", log_type), ("ReceiveTime", stamp), ("SerialNumber", _serial(site)),
                 ("Type", log_type), ("Subtype", subtype), ("devTime", dev_time),
                 ("src", src), ("dst", dst), ("srcPostNAT", nat_src), ("dstPostNAT", nat_dst),
                 ("RuleName", "dmz-inbound" if inbound else "lan-to-internet"),
                 ("usrName", ""), ("SourceUser", ""), ("DestinationUser", ""),
                 ("Application", app), ("VirtualSystem", "vsys1"),
                 ("SourceZone", from_zone), ("DestinationZone", to_zone),
                 ("IngressInterface", "ethernet1/1" if inbound else "ethernet1/2"),
                 ("EgressInterface", "ethernet1/3" if inbound else "ethernet1/1"),
                 ("LogForwardingProfile", "QRadar-SIEM"), ("SessionID", common["SessionID"]),
                 ("RepeatCount", "1"), ("srcPort", common["srcPort"]),
                 ("dstPort", common["dstPort"]), ("proto", common["proto"]),
                 ("action", action)]
    else:  # LEEF 2.0 with the delimiter x7C
        pairs = [("ProfileToken", "0x0"), ("TimeReceived", stamp), ("DeviceSN", _serial(site)),
                 ("cat", log_type), ("SubType", subtype), ("devTime", dev_time), ("src", src),
                 ("dst", dst), ("Rule", "dmz-inbound" if inbound else "lan-to-internet"),
                 ("usrName", ""), ("Application", app), ("FromZone", from_zone),
                 ("ToZone", to_zone), ("LogSetting", "QRadar-SIEM"),
                 ("SessionID", common["SessionID"]), ("srcPort", common["srcPort"]),
                 ("dstPort", common["dstPort"]), ("proto", common["proto"]),
                 ("Action", action)]
    if threat is None:
        sent = rng.randint(1, 4)
        pairs += [("Bytes", str(sent * 66)), ("srcBytes", str(sent * 66)), ("dstBytes", "0"),
                  ("totalPackets", str(sent)), ("srcPackets", str(sent)), ("dstPackets", "0"),
                  ("SessionEndReason", "policy-deny"), ("URLCategory", "any")]
    else:
        severity = rng.choice(threat.severities)
        misc = ""
        if threat.subtype in ("url", "virus", "wildfire"):
            host = rng.choice(_BAD_HOSTS)
            misc = f"{host}/{rng.choice(('dl/invoice.zip', 'login.php', 'setup.exe'))}"
        elif threat.app == "web-browsing":
            misc = rng.choice(("/index.php", "/dichvucong/tracuu", "/.env", "/cgi-bin/"))
        category = rng.choice(_URL_CATEGORIES) if threat.subtype == "url" else "any"
        name = "Severity" if not leef2 else "VendorSeverity"
        pairs += [("Miscellaneous" if not leef2 else "FileName", misc),
                  ("URLCategory", category), ("sev", str(_PAN_SEV[severity])),
                  (name, severity),
                  ("Direction" if not leef2 else "DirectionOfAttack",
                   "client-to-server" if inbound or threat.subtype != "virus"
                   else "server-to-client"),
                  ("ThreatCategory", threat.category)]
    pairs += [("sequence" if not leef2 else "SequenceNo", sequence),
              ("SourceLocation", where[0]), ("DestinationLocation", where[1]),
              ("DeviceName", device)]
    header = "|".join(("LEEF:2.0" if leef2 else "LEEF:1.0", "Palo Alto Networks",
                       "PAN-OS Syslog Integration", _PAN_VERSIONS[leef2], event_id))
    if leef2:
        header += "|x7C"
    return _pan_header(rng, now, device) + header + "|" + "|".join(
        f"{key}={value}" for key, value in pairs)


def _ds_line(rng: random.Random, site: Site, now: datetime) -> str:
    kind = rng.choices(_DS_EVENTS, weights=[e.weight for e in _DS_EVENTS])[0]
    agent = rng.choice(SERVERS)
    host_id = str(site.octet * 100 + SERVERS.index(agent) + 1)
    pairs: list[tuple[str, str]] = [
        ("cat", kind.category), ("name", kind.name), ("desc", kind.name),
        ("sev", str(kind.sev)), ("cn1", host_id), ("cn1Label", "Host ID"),
        ("dvchost", f"{agent}.{site.slug}.local"), ("TrendMicroDsTenant", "Primary"),
        ("TrendMicroDsTenantId", "0")]
    server = internal_ip(rng, site, server=True)
    if kind.kind in ("ips", "firewall"):
        lateral = kind.ports[0] in (445, 135, 139) and rng.random() < 0.5
        source = internal_ip(rng, site, server=False) if lateral else external_ip(rng)
        pairs += [("dstMAC", _mac(rng)), ("srcMAC", _mac(rng)),
                  ("TrendMicroDsFrameType", "IP"), ("src", source), ("dst", server),
                  ("out", str(rng.randint(60, 1500))), ("cs3", "DF"),
                  ("cs3Label", "Fragmentation Bits"), ("proto", "TCP"),
                  ("srcPort", str(client_port(rng))), ("dstPort", str(rng.choice(kind.ports))),
                  ("cnt", str(rng.randint(1, 20))), ("act", rng.choice(kind.actions))]
        if kind.kind == "ips":
            pairs += [("cn3", str(rng.randint(1, 40))), ("cn3Label", "DPI Packet Position"),
                      ("cs5", str(rng.randint(1, 9000))), ("cs5Label", "DPI Stream Position"),
                      ("cs6", "8"), ("cs6Label", "DPI Flags")]
    elif kind.kind == "malware":
        path = rng.choice(_MALWARE_PATHS)
        pairs += [("filePath", path), ("act", rng.choice(kind.actions)), ("msg", "Realtime"),
                  ("TrendMicroDsMalwareTarget", "N/A"),
                  ("TrendMicroDsMalwareTargetType", "N/A"),
                  ("TrendMicroDsFileSHA256", f"{rng.getrandbits(256):064X}")]
    elif kind.kind == "web":
        host = rng.choice(_BAD_HOSTS)
        pairs += [("request", f"http://{host}/{rng.choice(('login.php', 'dl/setup.exe'))}"),
                  ("msg", rng.choice(kind.actions))]
    else:  # integrity
        pairs += [("act", rng.choice(kind.actions)),
                  ("filePath", "C:\\Windows\\System32\\drivers\\etc\\hosts"),
                  ("msg", "sha256,size,lastModified")]
    header = "|".join(("LEEF:2.0", "Trend Micro", "Deep Security Agent", "20.0.1-8438",
                       kind.event_id))
    relay = (f"<{rng.choice((134, 132, 131))}>1 {now.isoformat(timespec='milliseconds')} "
             f"dsm-{site.code}-01 DeepSecurity - - - ")
    return relay + header + "|" + "\t".join(f"{key}={value}" for key, value in pairs)


def leef_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[str]:
    """LEEF lines, forever, deterministic for a given ``rng``: about 70% from the networks'
    Palo Alto firewalls (denied traffic, and threats rated informational to critical) and
    30% from Deep Security agents on their servers. Every line has a syslog header and a
    time with a date (``devTime``, or the relay's RFC 5424 time)."""
    clock = sensor_clock(rng, start, rate_hint)
    while True:
        now = next(clock)
        site = rng.choice(SITES)
        yield _pan_line(rng, site, now) if rng.random() < 0.7 else _ds_line(rng, site, now)


def sequence_key(line: str) -> bytes | None:
    """A LEEF line's Kafka key: PAN-OS's log sequence number (``sequence`` or
    ``SequenceNo``), unique per firewall and log type; Deep Security lines have none."""
    for marker in ("|sequence=", "|SequenceNo="):
        at = line.find(marker)
        if at >= 0:
            return line[at + len(marker):].split("|", 1)[0].encode() or None
    return None
