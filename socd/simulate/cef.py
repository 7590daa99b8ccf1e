"""ArcSight CEF lines from on-site devices: a next-generation firewall, an endpoint
protection agent and a threat-prevention gateway that writes severities as words. Some
lines come behind a syslog header, as a relay forwards them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from socd.simulate.common import (
    SERVERS,
    SITES,
    USER_AGENTS,
    Site,
    client_port,
    external_ip,
    internal_ip,
    sensor_clock,
    workstation,
)


@dataclass(frozen=True, slots=True)
class _Device:
    vendor: str
    product: str
    version: str
    host: str  # host name prefix; the site code and a number follow


@dataclass(frozen=True, slots=True)
class _Kind:
    """One kind of event a device reports."""

    device: int  # index in _DEVICES
    class_id: str
    name: str
    severities: tuple[str, ...]  # drawn uniformly: the header's severity as written
    category: str
    actions: tuple[str, ...]
    direction: str  # in, out, lateral, host (on the endpoint itself)
    ports: tuple[int, ...]
    weight: float = 1.0


_DEVICES = (
    _Device("Fortinet", "Fortigate", "v7.2.8", "fw"),
    _Device("Trend Micro", "Deep Security Agent", "20.0.1", "dsa"),
    _Device("Check Point", "VPN-1 & FireWall-1", "R81.20", "cpgw"),
)
_KINDS = (
    _Kind(0, "0000000013", "forward traffic denied", ("2", "3"), "traffic:forward",
          ("deny",), "in", (22, 23, 445, 3389), weight=8),
    _Kind(0, "0419016384", "SQL.Injection|UNION.SELECT", ("6", "7", "8"), "utm:ips",
          ("dropped", "detected"), "in", (80, 443), weight=3),
    _Kind(0, "0419016385", "Apache.Log4j.Remote.Code.Execution", ("9", "10"), "utm:ips",
          ("dropped", "dropped", "detected"), "in", (80, 8080), weight=1),
    _Kind(0, "0316013056", "URL belongs to a denied category", ("4", "5"), "utm:webfilter",
          ("blocked",), "out", (80, 443), weight=4),
    _Kind(0, "0211008192", "File is infected: W32/Agent.TROJAN", ("7", "8"), "utm:virus",
          ("blocked",), "out", (80,), weight=1),
    _Kind(1, "4000000", "Eicar_test_file", ("6",), "Anti-Malware", ("Quarantine",), "host",
          (0,), weight=1),
    _Kind(1, "4000010", "Ransom.Win32.LOCKBIT.A", ("9", "10"), "Anti-Malware",
          ("Delete", "Quarantine"), "host", (0,), weight=0.5),
    _Kind(1, "1008224", "SMB remote code execution attempt (CVE-2017-0144)", ("10",),
          "Intrusion Prevention", ("reset",), "lateral", (445,), weight=1),
    _Kind(2, "Log", "SSH brute force attempt", ("High",), "SmartDefense", ("Drop",), "in",
          (22,), weight=2),
    _Kind(2, "Log", "Port scan", ("Medium", "Low"), "SmartDefense", ("Detect",), "in",
          (0,), weight=2),
    _Kind(2, "Log", "Anti-Bot: command and control traffic", ("Critical", "Very-High"),
          "Anti Bot", ("Prevent", "Prevent", "Detect"), "out", (443, 8080), weight=1),
    _Kind(2, "Log", "https", ("Unknown",), "Firewall", ("Accept",), "out", (443,), weight=4),
)
_BAD_HOSTS = ("cdn-static-content.example", "invoice-docs.example", "stealer-panel.example",
              "casino-online.example", "free-movies.example")
_REQUESTS = ("/index.php?id=1 UNION SELECT 1,2", "/search?q=${jndi:ldap://x.example/a}",
             "/dl/invoice.zip", "/", "/api/login")
_MALWARE_FILES = ("C:\\Users\\Public\\Downloads\\invoice.exe", "/tmp/.x/kworker",
                  "C:\\Windows\\Temp\\svc.dll", "D:\\VanBan\\QD-UBND.docx.exe")


def _escape_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n")


def _extension(rng: random.Random, kind: _Kind, site: Site, dvchost: str,
               now: datetime) -> dict[str, str]:
    ext: dict[str, str] = {"rt": str(int(now.timestamp() * 1000)), "dvchost": dvchost,
                           "dvc": f"10.{site.octet}.0.{rng.randint(1, 9)}",
                           "externalId": str(rng.randint(10**6, 10**9)),
                           "cat": kind.category, "act": rng.choice(kind.actions)}
    if kind.direction == "host":
        ext.update(dhost=workstation(rng), dst=internal_ip(rng, site, server=False),
                   fname=rng.choice(_MALWARE_FILES).rsplit("\\", 1)[-1].rsplit("/", 1)[-1],
                   filePath=rng.choice(_MALWARE_FILES), fsize=str(rng.randint(10**3, 10**7)),
                   fileHash=f"{rng.getrandbits(256):064x}",
                   duser=f"{site.slug}\\{rng.choice(('ketoan01', 'vanthu02', 'cntt03'))}")
        return ext
    if kind.direction == "in":
        src, dst = external_ip(rng), internal_ip(rng, site, server=True)
        ext["deviceDirection"] = "0"
    elif kind.direction == "lateral":
        src, dst = internal_ip(rng, site, server=False), internal_ip(rng, site, server=True)
        ext["dhost"] = f"{rng.choice(SERVERS)}.{site.slug}.local"
    else:
        src, dst = internal_ip(rng, site, server=False), external_ip(rng)
        ext.update(deviceDirection="1", shost=workstation(rng))
    port = rng.choice(kind.ports) or rng.randint(1, 1024)
    ext.update(src=src, spt=str(client_port(rng)), dst=dst, dpt=str(port),
               proto=rng.choice(("TCP", "6")) if port != 53 else "UDP",
               out=str(rng.randint(40, 90000)))
    if port in (80, 443, 8080):
        host = rng.choice(site.portals) if kind.direction == "in" else rng.choice(_BAD_HOSTS)
        ext.update(app="HTTPS" if port == 443 else "HTTP", dhost=host,
                   request=f"http://{host}{rng.choice(_REQUESTS)}", requestMethod="GET",
                   requestClientApplication=rng.choice(USER_AGENTS))
    if kind.device == 0:
        ext.update(cs1Label="policyname", cs1=rng.choice(("wan-to-dmz", "lan-to-wan")))
    if kind.category == "SmartDefense":
        ext["cnt"] = str(rng.randint(1, 400))
    return ext


def _syslog_prefix(rng: random.Random, now: datetime, host: str) -> str:
    """An RFC 3164 header, with or without its priority, as relays write it."""
    pri = f"<{rng.choice((134, 132, 131))}>" if rng.random() < 0.7 else ""
    return f"{pri}{now:%b} {now.day:2d} {now:%H:%M:%S} {host} "


def cef_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[str]:
    """CEF lines, forever, deterministic for a given ``rng``: header severities as numbers
    0-10 or words (``High``, ``Very-High``, ``Unknown``), ``rt`` in epoch milliseconds,
    values escaped as CEF requires; about 40% behind a syslog header."""
    clock = sensor_clock(rng, start, rate_hint)
    while True:
        now = next(clock)
        site = rng.choice(SITES)
        kind = rng.choices(_KINDS, weights=[k.weight for k in _KINDS])[0]
        device = _DEVICES[kind.device]
        dvchost = f"{device.host}-{site.code}-{rng.randint(1, 2):02d}"
        header = "|".join(_escape_header(part) for part in (
            "CEF:0", device.vendor, device.product, device.version, kind.class_id, kind.name,
            rng.choice(kind.severities)))
        extension = " ".join(f"{key}={_escape_value(value)}"
                             for key, value in _extension(rng, kind, site, dvchost, now).items())
        line = f"{header}|{extension}"
        if rng.random() < 0.4:
            line = _syslog_prefix(rng, now, dvchost) + line
        yield line


def external_id_key(line: str) -> bytes | None:
    """A CEF line's Kafka key: its ``externalId``, when it has one."""
    marker = " externalId="
    at = line.find(marker)
    if at < 0:
        return None
    value = line[at + len(marker):].split(" ", 1)[0]
    return value.encode() or None
