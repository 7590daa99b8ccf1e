"""Zeek ``notice.log`` and ``intel.log`` records of an on-site network security monitor, as
Zeek's JSON writer writes them (``LogAscii::use_json=T``): flat dotted keys (``id.orig_h``),
``ts`` in epoch seconds with microseconds, unset fields left out, sets as arrays. The
sensors of some networks run the JSON streaming package instead, which adds ``_path`` and
``_write_ts`` and writes times as ISO-8601 strings.

Notices follow Zeek's own scripts (``policy/misc/scan.zeek``, ``protocols/ssh/detect-
bruteforcing.zeek``, ``protocols/http/detect-sqli.zeek``, ``protocols/ssl/validate-certs.
zeek`` and ``expiring-certs.zeek``, ``frameworks/software/vulnerable.zeek``,
``frameworks/intel/do_notice.zeek``, ``frameworks/files/detect-MHR.zeek``,
``misc/capture-loss.zeek``, ``protocols/ftp/detect-bruteforcing.zeek``): their note names,
``msg`` and ``sub`` texts and which of ``src``/``dst``/``p``/connection fields they fill.
Intel hits carry ``seen.indicator``, ``seen.indicator_type``, ``seen.where``,
``seen.node``, ``matched`` and ``sources``; file hits also ``fuid``, ``file_mime_type`` and
``file_desc``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from socd.simulate.common import (
    SERVERS,
    SITES,
    Event,
    Site,
    client_port,
    external_ip,
    internal_ip,
    sensor_clock,
)

_BASE62 = string.digits + string.ascii_letters
# The columns of each log in the order Zeek writes them (base/frameworks/notice/main.zeek,
# base/frameworks/intel/main.zeek); a record holds those that are set.
_NOTICE_COLUMNS = ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "fuid",
                   "file_mime_type", "file_desc", "proto", "note", "msg", "sub", "src", "dst",
                   "p", "n", "peer_descr", "actions", "email_dest", "suppress_for")
_INTEL_COLUMNS = ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "seen.indicator",
                  "seen.indicator_type", "seen.where", "seen.node", "matched", "sources",
                  "fuid", "file_mime_type", "file_desc")
_ACTIONS = ["Notice::ACTION_LOG"]
_BAD_DOMAINS = ("update-cdn.example", "cdn-static-content.example", "stealer-panel.example",
                "invoice-docs.example", "dvc-quocgia.example", "mail-gov-vn.example",
                "t.data-sync.example", "qb-relay.example")
_SOURCES = (["abuse.ch URLhaus"], ["abuse.ch ThreatFox"], ["abuse.ch Feodo Tracker"],
            ["NCSC-VN IoC feed"], ["MISP provincial CSIRT"], ["AlienVault OTX"],
            ["NCSC-VN IoC feed", "MISP provincial CSIRT"])
_SOFTWARE = (("OpenSSH 7.4", "OpenSSH"), ("Apache/2.4.49", "Apache"),
             ("Microsoft-IIS/7.5", "IIS"), ("Java 1.8.0", "Java"),
             ("nginx/1.14.0", "nginx"), ("PHP/5.6.40", "PHP"))
_CERT_ERRORS = ("self signed certificate", "unable to get local issuer certificate",
                "certificate has expired", "self signed certificate in certificate chain")
_BAD_FILES = (("invoice_03-2026.exe", "application/x-dosexec"),
              ("QD-UBND-so-15.docx.exe", "application/x-dosexec"),
              ("setup_update.msi", "application/x-msi"),
              ("bangluong.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"))


def _uid(rng: random.Random, prefix: str = "C") -> str:
    """A connection (``C…``) or file (``F…``) id as Zeek writes it: 17 or 18 base62 chars."""
    return prefix + "".join(rng.choice(_BASE62) for _ in range(rng.choice((17, 17, 18))))


def _duration(rng: random.Random, most: int) -> str:
    """``0m37s``: how Zeek's scripts print a short interval."""
    seconds = rng.randint(1, most)
    return f"{seconds // 60}m{seconds % 60}s"


def _conn(rng: random.Random, orig: str, resp: str, port: int) -> Event:
    """The connection fields a notice raised with ``$conn`` (or an intel hit) carries."""
    return {"uid": _uid(rng), "id.orig_h": orig, "id.orig_p": client_port(rng),
            "id.resp_h": resp, "id.resp_p": port}


def _notice(note: str, msg: str, **fields: object) -> Event:
    return {**fields, "note": note, "msg": msg}


# --------------------------------------------------------------------------- notices
# Each builder returns the notice's own fields; the common ones are added by _finish.

def _port_scan(rng: random.Random, site: Site) -> Event:
    scanner, victim = external_ip(rng), internal_ip(rng, site, server=True)
    ports = rng.choice((15, 15, 20, 32))
    return _notice("Scan::Port_Scan",
                   f"{scanner} scanned at least {ports} unique ports of host {victim} in "
                   f"{_duration(rng, 300)}", sub="remote", src=scanner, dst=victim)


def _address_scan(rng: random.Random, site: Site) -> Event:
    inside = rng.random() < 0.15  # an infected workstation sweeping its own network
    scanner = internal_ip(rng, site, server=False) if inside else external_ip(rng)
    port, proto = rng.choice(((23, "tcp"), (445, "tcp"), (22, "tcp"), (3389, "tcp"),
                              (5060, "udp"), (80, "tcp")))
    hosts = rng.choice((25, 25, 40, 100))
    return _notice("Scan::Address_Scan",
                   f"{scanner} scanned at least {hosts} unique hosts on port {port}/{proto} "
                   f"in {_duration(rng, 900)}", sub="local" if inside else "remote",
                   src=scanner, p=port)


def _password_guessing(rng: random.Random, site: Site) -> Event:
    guesser = external_ip(rng)
    servers = [internal_ip(rng, site, server=True)] * 5
    return _notice("SSH::Password_Guessing",
                   f"{guesser} appears to be guessing SSH passwords (seen in "
                   f"{rng.choice((30, 30, 45, 120))} connections).",
                   sub="Sampled servers:  " + ", ".join(servers), src=guesser)


def _login_by_guesser(rng: random.Random, site: Site) -> Event:
    guesser, server = external_ip(rng), internal_ip(rng, site, server=True)
    return _notice("SSH::Login_By_Password_Guesser",
                   "Successful SSH login by address seen password guessing attempts.",
                   **_conn(rng, guesser, server, 22), proto="tcp", src=guesser, dst=server,
                   p=22)


def _ftp_bruteforcing(rng: random.Random, site: Site) -> Event:
    attacker = external_ip(rng)
    return _notice("FTP::Bruteforcing",
                   f"{attacker} had {rng.choice((20, 20, 35, 60))} failed logins on 1 FTP "
                   f"server in {_duration(rng, 600)}", src=attacker)


def _sql_injection(rng: random.Random, site: Site, *, victim: bool) -> Event:
    attacker, server = external_ip(rng), internal_ip(rng, site, server=True)
    if victim:
        return _notice("HTTP::SQL_Injection_Victim", "An SQL injection victim was discovered!",
                       uid=_uid(rng), src=attacker, dst=server)
    return _notice("HTTP::SQL_Injection_Attacker", "An SQL injection attacker was discovered!",
                   uid=_uid(rng), src=attacker, dst=server)


def _certificate(rng: random.Random, site: Site, note: str) -> Event:
    client = internal_ip(rng, site, server=False)
    server = internal_ip(rng, site, server=True) if rng.random() < 0.6 else external_ip(rng)
    port = rng.choice((443, 443, 8443, 636))
    host = rng.choice((*site.portals, f"{rng.choice(SERVERS)}.{site.slug}.local"))
    # Zeek escapes a comma inside a value of the distinguished name as "\,"
    subject = f"CN={host},OU=Trung tam CNTT\\, {site.org},C=VN"
    fields = {**_conn(rng, client, server, port), "fuid": _uid(rng, "F"), "proto": "tcp",
              "src": client, "dst": server, "p": port}
    if note == "SSL::Invalid_Server_Cert":
        return _notice(note, f"SSL certificate validation failed with "
                             f"({rng.choice(_CERT_ERRORS)})", **fields, sub=subject)
    when = "expired at 2026-02-14" if note == "SSL::Certificate_Expired" else \
        "is going to expire at 2026-04-30"
    return _notice(note, f"Certificate {subject} {when}-23:59:59.000000000", **fields,
                   suppress_for=86400.0)


def _vulnerable_version(rng: random.Random, site: Site) -> Event:
    host = internal_ip(rng, site, server=True)
    software, _ = rng.choice(_SOFTWARE)
    return _notice("Software::Vulnerable_Version",
                   f"{host} is running {software} which is vulnerable.", sub=software,
                   src=host)


def _intel_notice(rng: random.Random, site: Site) -> Event:
    inside, bad = internal_ip(rng, site, server=False), external_ip(rng)
    where = rng.choice(("Conn::IN_RESP", "Conn::IN_ORIG"))
    orig, resp = (inside, bad) if where == "Conn::IN_RESP" else (bad, inside)
    return _notice("Intel::Notice", f"Intel hit on {bad} at {where}",
                   **_conn(rng, orig, resp, rng.choice((443, 80, 8080, 4444))), proto="tcp",
                   sub=bad, src=orig, dst=resp)


def _mhr_match(rng: random.Random, site: Site) -> Event:
    """Team Cymru's Malware Hash Registry knows a file seen downloaded."""
    client, server = internal_ip(rng, site, server=False), external_ip(rng)
    sha1 = f"{rng.getrandbits(160):040x}"
    name, mime = rng.choice(_BAD_FILES)
    seen = datetime(2026, 2, rng.randint(1, 27), rng.randint(0, 23), rng.randint(0, 59),
                    rng.randint(0, 59), tzinfo=UTC)
    rate = rng.randint(20, 80)
    return _notice("TeamCymruMalwareHashRegistry::Match",
                   f"Malware Hash Registry Detection rate: {rate}%  Last seen: "
                   f"{seen:%Y-%m-%d %H:%M:%S}", **_conn(rng, client, server, 80), n=rate,
                   fuid=_uid(rng, "F"), file_mime_type=mime,
                   file_desc=f"http://{rng.choice(_BAD_DOMAINS)}/dl/{name}", proto="tcp",
                   sub=f"https://www.virustotal.example/gui/search/{sha1}", src=client,
                   dst=server, p=80)


def _capture_loss(rng: random.Random, site: Site) -> Event:
    return _notice("CaptureLoss::Too_Much_Loss",
                   f"The capture loss script detected an estimated loss rate above "
                   f"{rng.uniform(10, 30):.3f}%")


_NoticeBuilder = Callable[[random.Random, Site], Event]
_NOTICES: tuple[tuple[_NoticeBuilder, float], ...] = (
    (_port_scan, 9),
    (_address_scan, 7),
    (_password_guessing, 5),
    (lambda rng, site: _certificate(rng, site, "SSL::Invalid_Server_Cert"), 7),
    (lambda rng, site: _certificate(rng, site, "SSL::Certificate_Expired"), 1.5),
    (lambda rng, site: _certificate(rng, site, "SSL::Certificate_Expires_Soon"), 1.5),
    (_vulnerable_version, 2),
    (lambda rng, site: _sql_injection(rng, site, victim=False), 2.5),
    (lambda rng, site: _sql_injection(rng, site, victim=True), 0.5),
    (_ftp_bruteforcing, 1),
    (_intel_notice, 1.5),
    (_login_by_guesser, 1.0),
    (_mhr_match, 0.4),
    (_capture_loss, 0.4),
)


# --------------------------------------------------------------------------- intel


@dataclass(frozen=True, slots=True)
class _Seen:
    """Where an indicator of a type was seen, as intel.log names it."""

    indicator_type: str
    where: str
    weight: float


# Broad feeds list many scanners: a listed address reaching in is the commonest hit.
_SEEN = (
    _Seen("Intel::ADDR", "Conn::IN_ORIG", 8),
    _Seen("Intel::ADDR", "Conn::IN_RESP", 3),
    _Seen("Intel::DOMAIN", "DNS::IN_REQUEST", 3),
    _Seen("Intel::DOMAIN", "HTTP::IN_HOST_HEADER", 1.2),
    _Seen("Intel::DOMAIN", "SSL::IN_SERVER_NAME", 1.5),
    _Seen("Intel::DOMAIN", "X509::IN_CERT", 0.4),
    _Seen("Intel::URL", "HTTP::IN_URL", 0.8),
    _Seen("Intel::FILE_HASH", "Files::IN_HASH", 0.6),
    _Seen("Intel::FILE_NAME", "Files::IN_NAME", 0.4),
    _Seen("Intel::FILE_NAME", "SMB::IN_FILE_NAME", 0.2),
    _Seen("Intel::EMAIL", "SMTP::IN_FROM", 0.6),
)


def _intel(rng: random.Random, site: Site, node: str) -> Event:
    seen = rng.choices(_SEEN, weights=[s.weight for s in _SEEN])[0]
    inside, bad = internal_ip(rng, site, server=False), external_ip(rng)
    domain = rng.choice(_BAD_DOMAINS)
    record: Event
    extra: Event = {}
    if seen.where == "Conn::IN_ORIG":  # a listed address reaching in
        record = _conn(rng, bad, internal_ip(rng, site, server=True),
                       rng.choice((22, 80, 443, 3389)))
        indicator = bad
    elif seen.where == "Conn::IN_RESP":  # a host inside reaching a listed address
        record = _conn(rng, inside, bad, rng.choice((443, 80, 8080, 4444, 53)))
        indicator = bad
    elif seen.where == "DNS::IN_REQUEST":
        record = _conn(rng, inside, f"10.{site.octet}.10.53", 53)
        indicator = domain
    elif seen.where == "SMB::IN_FILE_NAME":
        record = _conn(rng, inside, internal_ip(rng, site, server=True), 445)
        indicator = rng.choice(_BAD_FILES)[0]
        extra = {"fuid": _uid(rng, "F"), "file_desc": indicator}
    elif seen.where == "SMTP::IN_FROM":
        record = _conn(rng, bad, f"10.{site.octet}.10.25", 25)
        indicator = f"{rng.choice(('billing', 'hoadon', 'admin'))}@{domain}"
    else:  # web: host header, server name, certificate, URL, files
        port = 80 if seen.where in ("HTTP::IN_HOST_HEADER", "HTTP::IN_URL",
                                    "Files::IN_NAME", "Files::IN_HASH") else 443
        record = _conn(rng, inside, bad, port)
        name, mime = rng.choice(_BAD_FILES)
        indicator = {"Intel::URL": f"{domain}/dl/{name}",
                     "Intel::FILE_HASH": f"{rng.getrandbits(160):040x}",
                     "Intel::FILE_NAME": name}.get(seen.indicator_type, domain)
        if seen.where == "X509::IN_CERT":
            extra = {"fuid": _uid(rng, "F"), "file_mime_type": "application/x-x509-user-cert",
                     "file_desc": f"{bad}:443/tcp"}
        elif seen.where.startswith("Files::"):
            extra = {"fuid": _uid(rng, "F"), "file_mime_type": mime,
                     "file_desc": f"http://{domain}/dl/{name}"}
    return {**record, "seen.indicator": indicator, "seen.indicator_type": seen.indicator_type,
            "seen.where": seen.where, "seen.node": node, "matched": [seen.indicator_type],
            "sources": rng.choice(_SOURCES), **extra}


# --------------------------------------------------------------------------- records


def _streaming(site: Site) -> bool:
    """Whether a network's sensor writes through the JSON streaming package."""
    return site.octet % 2 == 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def zeek_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[Event]:
    """notice.log and intel.log records, forever, deterministic for a given ``rng``: about
    85% notices (scans, SSH password guessing, certificate problems, SQL injection,
    vulnerable software, intel notices, malware-hash matches …) and 15% intel hits
    (addresses, domains, URLs, file hashes and names, e-mail senders; most of them listed
    addresses reaching in). ``ts`` is epoch seconds (an ISO-8601 string from the networks
    whose sensor uses the JSON streaming package)."""
    clock = sensor_clock(rng, start, rate_hint)
    notice_weights = [weight for _, weight in _NOTICES]
    columns: tuple[str, ...]
    while True:
        now = next(clock)
        site = rng.choice(SITES)
        node = f"nsm-{site.code}-ens224-{rng.randint(1, 2)}"
        if rng.random() < 0.85:
            builder = rng.choices(_NOTICES, weights=notice_weights)[0][0]
            fields = builder(rng, site)
            fields.update(peer_descr=node, actions=list(_ACTIONS))
            if rng.random() < 0.5:  # newer Zeek writes the empty set; older leave it out
                fields["email_dest"] = []
            fields.setdefault("suppress_for", 3600.0)
            path, columns = "notice", _NOTICE_COLUMNS
        else:
            fields = _intel(rng, site, node)
            path, columns = "intel", _INTEL_COLUMNS
        body = {column: fields.pop(column) for column in columns if column in fields}
        if fields:  # a builder wrote a column the log does not have
            raise ValueError(f"not {path}.log columns: {sorted(fields)}")
        if _streaming(site):
            written = now + timedelta(seconds=rng.uniform(0.5, 5))
            yield {"_path": path, "_write_ts": _iso(written), "ts": _iso(now), **body}
        else:
            yield {"ts": round(now.timestamp(), 6), **body}


def zeek_key(record: Event) -> bytes | None:
    """A Zeek record's Kafka key: its connection ``uid`` (a notice about no connection, such
    as a scan, has none)."""
    uid = record.get("uid")
    return str(uid).encode() if uid is not None else None
