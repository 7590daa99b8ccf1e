"""The shipped policies of the other sensors (rules/suricata, wazuh, cef, leef, zeek, ecs):
socd's conventions, every decision of rules/README.md as a table row, and the classes they
give the real sensor samples in ../shared/samples.

Each row and each sample goes through the sensor's own connector and is classified by the
whole shipped rules/ folder bound as the daemon binds an input of that connector, so a rule
that reads a field the connector does not write, or a policy change that moves an event
from one class to another, fails here until the expectation is changed on purpose.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sigma.collection import SigmaCollection

from socd.classify import RuleSet
from socd.classify.ruleset import BoundRules
from socd.errors import InputError
from socd.normalize import Normalizer, build_normalizer, connectors_dir
from tests.unit.normalize.conftest import SAMPLES, messages

RULES = Path(__file__).parents[2] / "rules"
POLICIES = {  # folder → the title prefix of its rules
    "suricata": "Suricata - ", "wazuh": "Wazuh - ", "cef": "CEF - ", "leef": "LEEF - ",
    "zeek": "Zeek - ", "ecs": "ECS - ",
}
LEVELS_OF_FOLDER = {"critical": {"critical"}, "high-risk": {"high"},
                    "not-threat": {"medium", "low", "informational"}}
POLICY_FILES = sorted(p for name in POLICIES for p in (RULES / name).rglob("*.yml"))


@cache
def shipped() -> RuleSet:
    """The whole shipped rules/ folder, as the daemon loads it by default (strict)."""
    rules, problems = RuleSet.load([RULES])
    assert problems == []
    return rules


@cache
def normalizer(connector: str) -> Normalizer:
    return build_normalizer(connector, sensor="test-sensor", timezone="Asia/Ho_Chi_Minh")


def bound(connector: str) -> BoundRules:
    """The shipped rules an input of this connector meets (its default logsource)."""
    return shipped().bind(dict(normalizer(connector).logsource))


def verdict_of(connector: str, raw: bytes) -> str | None:
    verdict = bound(connector).classify(normalizer(connector).normalize(raw))
    return verdict.threat_class if verdict else None


# --------------------------------------------------------------------------- the files


def load_rule(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: f"{p.parts[-3]}/{p.stem}")
def test_rule_has_socd_metadata(path: Path) -> None:
    """Title with the sensor's prefix, UUID id, status, description, author socd, date, the
    sensor's logsource, a level that fits its folder and ATT&CK tags in Sigma's form."""
    policy, folder = path.parts[-3], path.parts[-2]
    rule = load_rule(path)
    assert rule["title"].startswith(POLICIES[policy])
    assert len(rule["title"]) <= 110
    assert uuid.UUID(rule["id"]).version == 4
    assert rule["status"] in {"stable", "test", "experimental"}
    assert len(rule["description"]) > 40
    assert rule["author"] == "socd"
    assert isinstance(rule["date"], date)
    assert rule["logsource"] == {"product": policy}
    assert rule["level"] in LEVELS_OF_FOLDER[folder]
    assert rule["falsepositives"]
    assert rule["tags"]
    assert all(re.fullmatch(r"attack\.([a-z-]+|t\d{4}(\.\d{3})?)", t) for t in rule["tags"])


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: f"{p.parts[-3]}/{p.stem}")
def test_rule_is_one_valid_pysigma_rule(path: Path) -> None:
    """pySigma parses each file into exactly one rule without errors."""
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
    assert collection.errors == []
    assert len(collection.rules) == 1
    assert collection.rules[0].errors == []


@cache
def connector_fields(connector: str) -> set[str]:
    """The fields a built-in connector writes (its mapping's targets and constants)."""
    spec = yaml.safe_load((connectors_dir() / f"{connector}.yaml").read_text(encoding="utf-8"))
    return set(spec["fields"]) | set(spec.get("set", {}))


@cache
def ecs_fields(shared: Path) -> set[str]:
    """Every field of the ECS reference (ecs_flat.yml)."""
    with open(shared / "ecs" / "ecs_flat.yml", encoding="utf-8") as handle:
        return set(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def detection_fields(rule: dict[str, Any]) -> Iterator[str]:
    for name, selection in rule["detection"].items():
        if name == "condition":
            continue
        for mapping in selection if isinstance(selection, list) else [selection]:
            for key in mapping:
                yield key.split("|")[0]


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: f"{p.parts[-3]}/{p.stem}")
def test_rule_reads_only_fields_its_connector_writes(path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """A sensor policy names only fields its connector writes; the ECS policy only ECS
    fields (../shared/ecs/ecs_flat.yml): a misspelt field would never match, silently."""
    policy = path.parts[-3]
    if policy == "ecs":
        known = ecs_fields(request.getfixturevalue("shared_dir"))
    else:
        known = connector_fields(policy)
    for field in detection_fields(load_rule(path)):
        assert field in known, field


def test_rule_ids_are_unique_across_every_shipped_policy() -> None:
    """No two files of rules/ share an id (ids must be unique across loaded folders)."""
    ids = [load_rule(p)["id"] for p in RULES.rglob("*.yml")]
    assert len(ids) == len(set(ids))


def test_whole_folder_loads_without_problems() -> None:
    """socd's engine loads rules/ whole, every policy, with no problem."""
    rules = shipped()
    assert len(rules.rules) == len(list(RULES.rglob("*.yml"))) - len(rules.correlations)
    assert {r.logsource["product"] for r in rules.rules} == set(POLICIES) | {"cyradar"}


def test_readme_has_a_section_per_policy() -> None:
    """rules/README.md documents each policy with its three classes and its sources."""
    text = (RULES / "README.md").read_text(encoding="utf-8")
    for policy in POLICIES:
        assert f"(`{policy}/`)" in text, policy
    for source in ("classification.config", "signature_severity", "rules classification",
                   "Very-High", "LEEF", "notice", "event.kind"):
        assert source in text, source


# --------------------------------------------------------------------------- binding


def test_each_sensor_input_meets_its_own_policy_only() -> None:
    """An input of a sensor connector meets that sensor's rules, not the generic ones."""
    for connector in ("suricata", "wazuh", "cef", "leef", "zeek", "cyradar"):
        products = {r.logsource["product"] for r in bound(connector).rules}
        assert products == {connector}, connector


def test_ecs_input_without_logsource_meets_the_generic_policy() -> None:
    """The ecs connector has no logsource: no sensor policy meets it, the generic one does."""
    assert normalizer("ecs").logsource == {}
    products = {r.logsource["product"] for r in bound("ecs").rules}
    assert products == {"ecs"}
    assert len(bound("ecs").rules) == len(list((RULES / "ecs").rglob("*.yml")))


def test_mapping_file_of_a_product_without_rules_meets_the_generic_policy() -> None:
    """A mapping file of its own product (UniFi IPS, product unifi) meets the generic policy;
    a product with rules of its own meets only those."""
    assert {r.logsource["product"] for r in shipped().bind({"product": "unifi"}).rules} == {
        "ecs"}
    assert {r.logsource["product"]
            for r in shipped().bind({"product": "windows", "category": "x"}).rules} == {"ecs"}


# --------------------------------------------------------------------------- raw messages

TS = "2024-05-01T10:00:00.000000+0700"


def eve(severity: int | None, category: str, signature: str = "LOCAL test signature", *,
        action: str = "allowed", signature_severity: str | None = None,
        event_type: str = "alert") -> bytes:
    """A Suricata EVE record (an alert unless event_type says otherwise)."""
    alert: dict[str, Any] = {"action": action, "gid": 1, "signature_id": 2000001, "rev": 1,
                             "signature": signature, "category": category,
                             "severity": severity}
    if signature_severity:
        alert["metadata"] = {"signature_severity": [signature_severity]}
    record: dict[str, Any] = {"timestamp": TS, "event_type": event_type, "src_ip": "203.0.113.9",
                              "src_port": 4444, "dest_ip": "10.20.1.15", "dest_port": 80,
                              "proto": "TCP"}
    if event_type == "alert":
        record["alert"] = alert
    else:
        record["dns"] = {"type": "query", "rrname": "example.org", "rrtype": "A"}
    return orjson.dumps(record)


def wazuh(level: int, groups: list[str], description: str = "Test rule", *,
          rule_id: str = "100100", tactics: tuple[str, ...] = ()) -> bytes:
    """A Wazuh manager alert of alerts.json."""
    rule: dict[str, Any] = {"level": level, "description": description, "id": rule_id,
                            "groups": groups, "firedtimes": 1}
    if tactics:
        rule["mitre"] = {"id": ["T1021"], "tactic": list(tactics), "technique": ["x"]}
    return orjson.dumps({"timestamp": "2024-05-01T10:00:00.000+0700", "rule": rule,
                         "agent": {"id": "001", "name": "web01"},
                         "manager": {"name": "wazuh-manager"}, "id": "1714532400.1",
                         "full_log": "test"})


def cef(severity: str, name: str = "Intrusion event", **extension: str) -> bytes:
    """A CEF line of an IPS; extension keys as given (act, cat ...)."""
    ext = " ".join(f"{k}={v}" for k, v in {"src": "203.0.113.9", "dst": "10.20.1.15",
                                             **extension}.items())
    return f"CEF:0|Vendor|IPS|1.0|4001|{name}|{severity}|{ext}".encode()


def leef(sev: int, **attributes: str) -> bytes:
    """A LEEF 1.0 line (attributes tab-separated); msg, cat, action as given."""
    attrs = "\t".join(f"{k}={v}" for k, v in {"src": "203.0.113.9", "dst": "10.20.1.15",
                                              "sev": str(sev), **attributes}.items())
    return f"LEEF:1.0|Vendor|IPS|1.0|4001|{attrs}".encode()


def notice(note: str) -> bytes:
    """A Zeek notice.log record (JSON writer)."""
    return orjson.dumps({"ts": 1714532400.0, "uid": "C1", "id.orig_h": "203.0.113.9",
                         "id.orig_p": 4444, "id.resp_h": "10.20.1.15", "id.resp_p": 22,
                         "note": note, "msg": "test", "actions": ["Notice::ACTION_LOG"]})


def intel(indicator_type: str) -> bytes:
    """A Zeek intel.log record (JSON writer)."""
    return orjson.dumps({"ts": 1714532400.0, "uid": "C1", "id.orig_h": "10.20.1.15",
                         "id.orig_p": 50000, "id.resp_h": "203.0.113.9", "id.resp_p": 80,
                         "seen.indicator": "bad.example", "seen.indicator_type": indicator_type,
                         "seen.where": "HTTP::IN_HOST_HEADER", "matched": [indicator_type],
                         "sources": ["feed"]})


def ecs(kind: str, severity: int | None, **fields: Any) -> bytes:
    """An ECS document (dotted keys) for the ecs connector."""
    doc: dict[str, Any] = {"@timestamp": "2024-05-01T03:00:00.000Z", "event.kind": kind,
                           "source.ip": "203.0.113.9", "destination.ip": "10.20.1.15"}
    if severity is not None:
        doc["event.severity"] = severity
    doc.update(fields)
    return orjson.dumps(doc)


C2 = "Malware Command and Control Activity Detected"
TROJAN = "A Network Trojan was detected"
ADMIN = "Attempted Administrator Privilege Gain"
WEBATTACK = "Web Application Attack"
RECON = "Attempted Information Leak"
EK = "Exploit Kit Activity Detected"

# (connector, what the row shows, raw message, expected class)
DECISIONS: list[tuple[str, str, bytes, str | None]] = [
    # Suricata: compromise classtypes at 1 critical, blocked or not; below 1 high-risk
    ("suricata", "C2 classtype sev 1", eve(1, C2), "critical"),
    ("suricata", "C2 classtype sev 1 blocked", eve(1, C2, action="blocked"), "critical"),
    ("suricata", "C2 classtype sev 2", eve(2, C2), "high-risk"),
    ("suricata", "successful admin gain sev 1",
     eve(1, "Successful Administrator Privilege Gain"), "critical"),
    ("suricata", "credential theft sev 1", eve(1, "Successful Credential Theft Detected"),
     "critical"),
    ("suricata", "domain-c2 sev 3", eve(3, "Domain Observed Used for C2 Detected"),
     "high-risk"),
    # Emerging Threats signature_severity: Critical critical, Major high-risk
    ("suricata", "ET Critical, sev 2, blocked",
     eve(2, TROJAN, "ET MALWARE Win32/X CnC Checkin", action="blocked",
         signature_severity="Critical"), "critical"),
    ("suricata", "ET Major, sev 3", eve(3, "Misc activity", "ET INFO x",
                                        signature_severity="Major"), "high-risk"),
    ("suricata", "ET Minor, sev 3", eve(3, "Misc activity", "ET INFO x",
                                        signature_severity="Minor"), None),
    # attack response: the result of a successful attack
    ("suricata", "ATTACK_RESPONSE sev 1 blocked",
     eve(1, "Potentially Bad Traffic", "ET ATTACK_RESPONSE id check returned root",
         action="blocked"), "critical"),
    ("suricata", "ATTACK_RESPONSE sev 2",
     eve(2, "Potentially Bad Traffic", "ETPRO ATTACK_RESPONSE x"), "high-risk"),
    # exploit kits: critical only when not blocked
    ("suricata", "exploit kit sev 1 allowed", eve(1, EK), "critical"),
    ("suricata", "exploit kit sev 1 blocked", eve(1, EK, action="blocked"), "high-risk"),
    ("suricata", "EXPLOIT_KIT family sev 1", eve(1, TROJAN, "ET EXPLOIT_KIT RIG Landing"),
     "critical"),
    ("suricata", "exploit kit sev 2", eve(2, EK), "high-risk"),
    # severity 1 attacks high-risk, blocked or not
    ("suricata", "web attack sev 1", eve(1, WEBATTACK, "ET WEB_SERVER PHP attack tool"),
     "high-risk"),
    ("suricata", "web attack sev 1 blocked",
     eve(1, WEBATTACK, "ET WEB_SERVER x", action="blocked"), "high-risk"),
    ("suricata", "attempted admin sev 1, local signature", eve(1, ADMIN), "high-risk"),
    ("suricata", "trojan sev 1, ET MALWARE", eve(1, TROJAN, "ET MALWARE Dropper"), "high-risk"),
    # quiet families and policy classtypes are not threats at sev 1
    ("suricata", "ET SCAN sev 1 (ZmEu)", eve(1, TROJAN, "ET SCAN ZmEu Scanner User-Agent"),
     None),
    ("suricata", "ET SCAN brute force sev 1",
     eve(1, ADMIN, "ET SCAN LibSSH Based Frequent SSH Connections Likely BruteForce Attack!"),
     "high-risk"),
    ("suricata", "ET SCAN brute force sev 2",
     eve(2, RECON, "ET SCAN Multiple FTP Login Attempts - Possible Brute Force Attempt"), None),
    ("suricata", "ET POLICY sev 1", eve(1, "Potential Corporate Privacy Violation",
                                        "ET POLICY Tor Exit"), None),
    ("suricata", "policy-violation sev 1, local", eve(1, "Potential Corporate Privacy Violation"),
     None),
    ("suricata", "ET HUNTING sev 1", eve(1, ADMIN, "ETPRO HUNTING Generic Traversal"), None),
    ("suricata", "ET DROP sev 1", eve(1, "Misc Attack", "ET DROP Dshield Block Listed Source"),
     None),
    # severity 2: malware and attack families high-risk, reconnaissance classtypes not
    ("suricata", "ET MALWARE sev 2", eve(2, TROJAN, "ET MALWARE Possible Dropper"), "high-risk"),
    ("suricata", "ET TROJAN sev 2 (before 2019)",
     eve(2, "Potentially Bad Traffic", "ET TROJAN Double HTTP/1.1 Header Inbound"), "high-risk"),
    ("suricata", "ET WEB_SERVER sev 2 recon",
     eve(2, RECON, "ET WEB_SERVER DFind w00tw00t GET-Requests"), None),
    ("suricata", "ET COMPROMISED sev 2",
     eve(2, "Misc Attack", "ET COMPROMISED Known Compromised or Hostile Host Traffic"), None),
    ("suricata", "local signature sev 2", eve(2, "Potentially Bad Traffic"), None),
    ("suricata", "ET MALWARE sev 3", eve(3, "Misc activity", "ET MALWARE x"), None),
    ("suricata", "a DNS record is no alert", eve(None, "", event_type="dns"), None),
    # Wazuh: 15 critical; 12-14 attack/virus critical; 12-14 other high-risk
    ("wazuh", "level 15 web attack", wazuh(15, ["web", "accesslog", "attack"],
                                           "Shellshock attack detected"), "critical"),
    ("wazuh", "level 12 failures then success", wazuh(12, ["syslog", "attacks"],
                                                      "Multiple authentication failures followed "
                                                      "by a success."), "critical"),
    ("wazuh", "level 12 virus not removed",
     wazuh(12, ["windows", "mse", "virus"], "Virus detected, but unable to remove"),
     "critical"),
    ("wazuh", "level 14 exploit attempt", wazuh(14, ["syslog", "attacks", "exploit_attempt"],
                                                "Buffer overflow attack"), "high-risk"),
    ("wazuh", "level 13 URL too long", wazuh(13, ["web", "accesslog", "invalid_access"]),
     "high-risk"),
    ("wazuh", "level 12 AWS Macie", wazuh(12, ["amazon", "aws", "aws_macie"]), "high-risk"),
    ("wazuh", "level 13 critical CVE", wazuh(13, ["vulnerability-detector"]), None),
    ("wazuh", "level 12 CIS-CAT finding", wazuh(12, ["ciscat"]), None),
    # level 10-11 with an attack signal high-risk
    ("wazuh", "level 10 brute force", wazuh(10, ["syslog", "sshd", "authentication_failures"]),
     "high-risk"),
    ("wazuh", "level 5 one failed login", wazuh(5, ["syslog", "sshd", "authentication_failed"]),
     None),
    ("wazuh", "level 10 web attacks", wazuh(10, ["web", "appsec", "attack"]), "high-risk"),
    ("wazuh", "level 6 Shellshock attempt",
     wazuh(6, ["web", "accesslog", "attack"], "Shellshock attack attempt",
           tactics=("Privilege Escalation", "Initial Access")), None),
    ("wazuh", "level 10 many errors", wazuh(10, ["syslog", "errors"]), None),
    # antivirus, rootcheck, syscheck, web success
    ("wazuh", "level 7 virus removed", wazuh(7, ["mcafee", "virus"],
                                             "Virus detected and properly removed."),
     "high-risk"),
    ("wazuh", "level 10 antivirus error", wazuh(10, ["clamd", "freshclam", "virus"],
                                                "Clamd error"), None),
    ("wazuh", "level 7 rootcheck", wazuh(7, ["ossec", "rootcheck"],
                                         "Host-based anomaly detection event (rootcheck)."),
     "high-risk"),
    ("wazuh", "level 3 rootcheck audit", wazuh(3, ["ossec", "rootcheck"]), None),
    ("wazuh", "level 7 file changed", wazuh(7, ["ossec", "syscheck"], rule_id="550"), None),
    ("wazuh", "level 10 file changed (own rule)", wazuh(10, ["ossec", "syscheck"]),
     "high-risk"),
    ("wazuh", "web attack answered 200", wazuh(6, ["web", "accesslog", "attack"],
                                               rule_id="31106"), "high-risk"),
    # MITRE tactics at level 10+
    ("wazuh", "level 10 lateral movement", wazuh(10, ["windows"],
                                                 tactics=("Lateral Movement",)), "high-risk"),
    ("wazuh", "level 10 impact (errors)", wazuh(10, ["service_availability"],
                                                tactics=("Impact",)), None),
    ("wazuh", "level 8 persistence", wazuh(8, ["syslog"], tactics=("Persistence",)), None),
    ("wazuh", "level 3 login", wazuh(3, ["syslog", "sshd", "authentication_success"]), None),
    # CEF: 9-10 not blocked critical; 7+ high-risk; 6 with a threat word high-risk
    ("cef", "sev 10, no action", cef("10"), "critical"),
    ("cef", "Very-High, no action", cef("Very-High"), "critical"),
    ("cef", "sev 9 act=alert", cef("9", act="alert"), "critical"),
    ("cef", "sev 10 act=blocked", cef("10", act="blocked"), "high-risk"),
    ("cef", "sev 10 act=Deny", cef("10", act="Deny"), "high-risk"),
    ("cef", "sev 9 named blocked", cef("9", "Threat Detected and Blocked"), "high-risk"),
    ("cef", "sev 10 named stopped", cef("10", "trojan successfully stopped"), "high-risk"),
    ("cef", "sev 8", cef("8"), "high-risk"),
    ("cef", "High", cef("High", act="drop"), "high-risk"),
    ("cef", "sev 7", cef("7"), "high-risk"),
    ("cef", "sev 6 cat malware", cef("6", cat="/Malware/Trojan"), "high-risk"),
    ("cef", "sev 6 named exploit", cef("6", "Exploit attempt on SMB"), "high-risk"),
    ("cef", "sev 6 traffic", cef("6", "Connection allowed", cat="traffic"), None),
    ("cef", "sev 5 cat malware", cef("5", cat="Malware"), None),
    ("cef", "Medium", cef("Medium", cat="Malware"), None),
    ("cef", "Unknown", cef("Unknown"), None),
    ("cef", "sev 3", cef("3"), None),
    # LEEF: the same bands on sev
    ("leef", "sev 10, no action", leef(10), "critical"),
    ("leef", "sev 9 action=blocked", leef(9, action="blocked"), "high-risk"),
    ("leef", "sev 9 msg says quarantined", leef(9, msg="File quarantined"), "high-risk"),
    ("leef", "sev 8", leef(8, cat="Suspected credentials theft"), "high-risk"),
    ("leef", "sev 7", leef(7), "high-risk"),
    ("leef", "sev 6 cat malware", leef(6, cat="Malware"), "high-risk"),
    ("leef", "sev 6 msg ransomware", leef(6, msg="Ransomware behaviour"), "high-risk"),
    ("leef", "sev 6 other", leef(6, cat="Login"), None),
    ("leef", "sev 4 cat malware", leef(4, cat="Malware"), None),
    ("leef", "sev 0", leef(0), None),
    # Zeek: success critical; guessing, SQL injection, intel, malware high-risk; scans not
    ("zeek", "guesser logged in", notice("SSH::Login_By_Password_Guesser"), "critical"),
    ("zeek", "Heartbleed success", notice("Heartbleed::SSL_Heartbeat_Attack_Success"),
     "critical"),
    ("zeek", "SSH password guessing", notice("SSH::Password_Guessing"), "high-risk"),
    ("zeek", "FTP brute force", notice("FTP::Bruteforcing"), "high-risk"),
    ("zeek", "SQL injection attacker", notice("HTTP::SQL_Injection_Attacker"), "high-risk"),
    ("zeek", "SQL injection victim", notice("HTTP::SQL_Injection_Victim"), "high-risk"),
    ("zeek", "Intel::Notice", notice("Intel::Notice"), "high-risk"),
    ("zeek", "malware hash registry", notice("TeamCymruMalwareHashRegistry::Match"),
     "high-risk"),
    ("zeek", "Heartbleed attempt", notice("Heartbleed::SSL_Heartbeat_Attack"), "high-risk"),
    ("zeek", "intel domain", intel("Intel::DOMAIN"), "high-risk"),
    ("zeek", "intel address", intel("Intel::ADDR"), "high-risk"),
    ("zeek", "intel file hash", intel("Intel::FILE_HASH"), "high-risk"),
    ("zeek", "intel user name", intel("Intel::USER_NAME"), None),
    ("zeek", "intel software", intel("Intel::SOFTWARE"), None),
    ("zeek", "port scan", notice("Scan::Port_Scan"), None),
    ("zeek", "address scan", notice("Scan::Address_Scan"), None),
    ("zeek", "vulnerable software", notice("Software::Vulnerable_Version"), None),
    ("zeek", "invalid certificate", notice("SSL::Invalid_Server_Cert"), None),
    ("zeek", "expired certificate", notice("SSL::Certificate_Expired"), None),
    ("zeek", "capture loss", notice("CaptureLoss::Too_Much_Loss"), None),
    # ECS (generic policy, an ecs input without logsource)
    ("ecs", "alert 9", ecs("alert", 9), "critical"),
    ("ecs", "signal 10", ecs("signal", 10), "critical"),
    ("ecs", "alert 10 denied", ecs("alert", 10, **{"event.type": ["denied"]}), "high-risk"),
    ("ecs", "alert 8", ecs("alert", 8), "high-risk"),
    ("ecs", "alert 7 denied", ecs("alert", 7, **{"event.type": ["indicator", "denied"]}),
     "high-risk"),
    ("ecs", "event 10 (not an alert)", ecs("event", 10), None),
    ("ecs", "intrusion succeeded 7", ecs("alert", 7, **{
        "event.category": ["intrusion_detection"], "event.outcome": "success"}), "critical"),
    ("ecs", "intrusion failed 7", ecs("alert", 7, **{
        "event.category": ["intrusion_detection"], "event.outcome": "failure"}), "high-risk"),
    ("ecs", "malware succeeded 6", ecs("alert", 6, **{
        "event.category": ["malware"], "event.outcome": "success"}), "high-risk"),
    ("ecs", "malware 6", ecs("alert", 6, **{"event.category": ["malware"]}), "high-risk"),
    ("ecs", "malware 5", ecs("alert", 5, **{"event.category": ["malware"]}), None),
    ("ecs", "C2 tactic 7 denied", ecs("alert", 7, **{
        "threat.tactic.name": ["Command and Control"], "event.type": ["denied"]}), "critical"),
    ("ecs", "exfiltration 8", ecs("alert", 8, **{"threat.tactic.name": ["Exfiltration"]}),
     "critical"),
    ("ecs", "C2 tactic 4", ecs("alert", 4, **{"threat.tactic.name": ["Command and Control"]}),
     "high-risk"),
    ("ecs", "impact 4", ecs("alert", 4, **{"threat.tactic.name": ["Impact"]}), "high-risk"),
    ("ecs", "impact 3", ecs("alert", 3, **{"threat.tactic.name": ["Impact"]}), None),
    ("ecs", "discovery 6", ecs("alert", 6, **{"threat.tactic.name": ["Discovery"]}), None),
    ("ecs", "high-confidence indicator 4",
     ecs("alert", 4, **{"threat.indicator.confidence": "High"}), "high-risk"),
    ("ecs", "high-confidence enrichment 4",
     ecs("alert", 4, **{"threat.enrichments": [{"indicator": {"confidence": "High"}}]}),
     "high-risk"),
    ("ecs", "medium-confidence indicator 6",
     ecs("alert", 6, **{"threat.indicator.confidence": "Medium"}), None),
    ("ecs", "alert 6", ecs("alert", 6), None),
    ("ecs", "alert without severity", ecs("alert", None), None),
]


@pytest.mark.parametrize(("connector", "raw", "expected"),
                         [(c, r, e) for c, _, r, e in DECISIONS],
                         ids=[f"{c}: {name}" for c, name, _, _ in DECISIONS])
def test_policy_decision(connector: str, raw: bytes, expected: str | None) -> None:
    """Each message, through its connector and the shipped rules bound to an input of that
    connector, gets the class rules/README.md gives it."""
    assert verdict_of(connector, raw) == expected


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_threat_rule_decides_a_row_of_the_table(policy: str) -> None:
    """Each critical or high rule of a policy classifies at least one row, so the table
    documents every rule."""
    winners = set()
    for connector, _, raw, _ in DECISIONS:
        if connector == policy:
            verdict = bound(connector).classify(normalizer(connector).normalize(raw))
            if verdict is not None:
                winners.add(verdict.rule.id)
    threat_rules = {r.id for r in bound(policy).rules if r.level in ("critical", "high")}
    assert winners == threat_rules


# --------------------------------------------------------------------------- real samples

# Per sample file: events classified (the documents its connector makes), critical,
# high-risk, not a threat. The Wazuh generator's "{timestamp}" and the Zeek test logs'
# masked times (XXXXXXXXXX.XXXXXX) are replaced by a real time first: the class does not
# depend on the time, and the connector would dead-letter them.
SAMPLE_CLASSES: dict[str, tuple[int, int, int, int]] = {
    "suricata/oak_eve_2013_subset.json": (1112, 0, 113, 999),
    "suricata/surevego_eve.json": (266, 0, 0, 266),
    "suricata/surevego_eve_broken.json": (262, 0, 0, 262),
    "suricata/crowdsec_suricata-logs-evelog.log": (8, 0, 3, 5),
    "suricata/crowdsec_suricata-eve-detect.log": (4, 0, 1, 3),
    "suricata/tenzir_eve_excerpt.json": (7, 0, 0, 7),
    "wazuh/wazuh_indexer_sample_alerts_subset.json": (67, 0, 5, 62),
    "wazuh/wazuh_indexer_wazuh-event.sample.json": (1, 0, 0, 1),
    "cef/crowdsec_cef-logs.log": (4, 0, 2, 2),
    "cef/crowdsec_unifi-cef-logs.log": (3, 0, 2, 1),
    "cef/tenzir_checkpoint.log": (3, 0, 0, 3),
    "cef/logstash-codec-cef_spec_inputs.jsonl": (29, 1, 24, 4),
    "leef/tenzir_leef1.log": (5, 0, 1, 4),
    "leef/tenzir_leef2.log": (3, 0, 0, 3),
    "zeek/zeek_docs_intel_examples.ndjson": (3, 0, 3, 0),
    "zeek/zeek_docs_notice_example.ndjson": (1, 0, 0, 1),
    "zeek/zeek_btest_tsv/scripts.base.frameworks.notice.suppression.notice.log": (1, 0, 0, 1),
    "zeek/zeek_btest_tsv/scripts.policy.frameworks.intel.notice.notice.log": (3, 0, 3, 0),
    "zeek/zeek_btest_tsv/scripts.policy.frameworks.intel.seen.filename-in-http-get-response"
    ".intel.log": (1, 0, 1, 0),
    "zeek/zeek_btest_tsv/scripts.policy.frameworks.intel.seen.smb.intel.log": (1, 0, 1, 0),
    "zeek/zeek_btest_tsv/scripts.policy.frameworks.intel.whitelisting.intel.log": (20, 0, 20, 0),
    "zeek/zeek_btest_tsv/scripts.policy.frameworks.software.vulnerable.notice.log": (2, 0, 0, 2),
    "zeek/zeek_btest_tsv/scripts.policy.misc.capture-loss.notice.log": (2, 0, 0, 2),
    "zeek/zeek_btest_tsv/scripts.policy.protocols.ftp.bruteforce.notice.log": (1, 0, 1, 0),
    "zeek/zeek_btest_tsv/scripts.policy.protocols.http.sql-injection-plus-dvwa2.notice.log":
        (2, 0, 2, 0),
    "zeek/zeek_btest_tsv/scripts.policy.protocols.ssh.detect-bruteforcing.notice.log":
        (1, 0, 1, 0),
    "zeek/zeek_btest_tsv/scripts.policy.protocols.ssl.expiring-certs.notice.log": (2, 0, 0, 2),
}
PLACEHOLDERS = ((b"{timestamp}", b"2024-01-01T10:00:00.000+0700"),
                (b"XXXXXXXXXX.XXXXXX", b"1704078000.000000"))


def test_every_sample_file_has_expected_classes() -> None:
    """A sample file added to the normalisation tests is added here too."""
    assert set(SAMPLE_CLASSES) == set(SAMPLES)


def classes_of_sample(shared: Path, name: str) -> Counter[str | None]:
    connector = SAMPLES[name][0]
    norm, rules = normalizer(connector), bound(connector)
    classes: Counter[str | None] = Counter()
    for _, raw in messages(shared / "samples" / name, norm.format):
        for placeholder, value in PLACEHOLDERS:
            raw = raw.replace(placeholder, value)
        try:
            document = norm.normalize(raw)
        except InputError:
            continue  # a dead letter: no event to classify
        verdict = rules.classify(document)
        classes[verdict.threat_class if verdict else None] += 1
    return classes


@pytest.mark.parametrize("name", sorted(SAMPLE_CLASSES))
def test_sample_file_classes(name: str, shared_dir: Path) -> None:
    """The real sample's events fall into the expected classes: a policy change that moves
    one fails here until the expectation is changed on purpose."""
    classes = classes_of_sample(shared_dir, name)
    events, critical, high, none = SAMPLE_CLASSES[name]
    assert sum(classes.values()) == events
    assert (classes["critical"], classes["high-risk"], classes[None]) == (critical, high, none)
