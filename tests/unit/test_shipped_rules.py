"""The shipped Cyradar policy in rules/cyradar/: valid Sigma, socd's conventions, and the policy
they encode (the other sensors' policies: tests/unit/test_sensor_policies.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

RULES = Path(__file__).parents[2] / "rules"
CYRADAR_RULES = RULES / "cyradar"
RULE_FILES = sorted(p for p in CYRADAR_RULES.rglob("*") if p.suffix in (".yml", ".yaml"))
CORRELATION_FILES = [p for p in RULE_FILES if "correlation:" in p.read_text(encoding="utf-8")]
DETECTION_FILES = [p for p in RULE_FILES if p not in CORRELATION_FILES]
LEVELS = {"critical", "high", "medium", "low", "informational"}
MODIFIERS = {"contains", "startswith", "endswith", "gt", "gte", "lt", "lte"}
CONDITION_WORDS = {"and", "or", "not", "of", "1", "all", "them", "(", ")"}
ECS_FIELDS = {
    "event.severity", "event.action", "event.kind", "event.module", "rule.category",
    "rule.name", "source.ip", "source.port", "source.domain", "destination.ip",
    "destination.port", "destination.domain", "network.transport", "threat.indicator.type",
    "threat.indicator.name", "threat.indicator.confidence", "threat.technique.id",
    "observer.name", "organization.name",
}
CYRADAR = {"product": "cyradar"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key repeated in one mapping (PyYAML keeps the last)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    repeated = {k for k in keys if keys.count(k) > 1}
    if repeated:
        raise yaml.constructor.ConstructorError(
            None, None, f"repeated key(s) {sorted(repeated)}", node.start_mark)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def raw_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in RULE_FILES:
        yield path, yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


def rule_id(path: Path) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])


# --------------------------------------------------------------------------- the files


def test_there_are_shipped_rules_of_both_classes() -> None:
    """rules/ holds a few tens of rules at most, with critical and high ones among them."""
    levels = [rule["level"] for _, rule in raw_rules()]
    assert 10 <= len(levels) <= 50
    assert "critical" in levels
    assert "high" in levels


@pytest.mark.parametrize("path", DETECTION_FILES, ids=lambda p: p.stem)
def test_rule_is_valid_sigma_for_pysigma(path: Path) -> None:
    """pySigma parses each file into exactly one rule, without errors."""
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
    assert collection.errors == []
    assert len(collection.rules) == 1
    (rule,) = collection.rules
    assert isinstance(rule, SigmaRule)
    assert rule.errors == []
    assert rule.detection.parsed_condition


def test_whole_folder_loads_as_one_pysigma_collection() -> None:
    """pySigma loads the folder recursively: one rule per file, none with errors."""
    collection = SigmaCollection.load_ruleset([CYRADAR_RULES], collect_errors=True)
    assert len(collection.rules) == len(RULE_FILES)
    assert all(rule.errors == [] for rule in collection.rules)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_has_no_repeated_yaml_key(path: Path) -> None:
    """No mapping repeats a key: YAML would silently keep only the last condition."""
    yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


@pytest.mark.parametrize("path", DETECTION_FILES, ids=lambda p: p.stem)
def test_rule_has_socd_metadata(path: Path) -> None:
    """Title, UUIDv4 id, status, description, author socd, date, cyradar logsource, an
    allowed level and ATT&CK tags in Sigma's lowercase form."""
    rule = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    assert isinstance(rule["title"], str)
    assert rule["title"].startswith("Cyradar - ")
    assert len(rule["title"]) <= 110
    assert uuid.UUID(rule["id"]).version == 4
    assert rule["status"] in {"stable", "test", "experimental"}
    assert isinstance(rule["description"], str)
    assert len(rule["description"]) > 40
    assert rule["author"] == "socd"
    assert isinstance(rule["date"], date)
    assert rule["logsource"] == {"product": "cyradar"}
    assert rule["level"] in LEVELS
    if "unknown_category" not in path.stem:  # no ATT&CK tactic fits a category not known
        assert rule["tags"]
    tags = rule.get("tags", [])
    assert all(re.fullmatch(r"attack\.([a-z-]+|t\d{4}(\.\d{3})?)", t) for t in tags)


@pytest.mark.parametrize("path", CORRELATION_FILES, ids=lambda p: p.stem)
def test_correlation_rule_names_shipped_rules(path: Path) -> None:
    """A shipped correlation rule has socd's metadata, counts only rules that are shipped,
    and raises to a threat class."""
    rule = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    assert rule["title"].startswith("Cyradar - ")
    assert uuid.UUID(rule["id"]).version == 4
    assert rule["author"] == "socd"
    assert rule["level"] in {"critical", "high"}
    shipped = {rule_id(p) for p in DETECTION_FILES}
    assert set(rule["correlation"]["rules"]) <= shipped
    assert rule["correlation"]["group-by"]


def test_repeated_high_risk_correlation_counts_every_high_risk_rule() -> None:
    """The correlation that makes the 20th high-risk threat from one source critical names
    every rule of high-risk/: a new high-risk rule is counted too."""
    path = RULES / "cyradar/critical/repeated_high_risk_from_one_source.yml"
    named = set(yaml.safe_load(path.read_text(encoding="utf-8"))["correlation"]["rules"])
    assert named == {rule_id(p) for p in (RULES / "cyradar/high-risk").glob("*.yml")}


def test_rule_ids_are_unique() -> None:
    """No two shipped rules share an id."""
    ids = [rule_id(p) for p in RULE_FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_socd_key_holds_only_layer_and_share(path: Path) -> None:
    """The custom socd: key, where present, has only layer (1..4) and share (bool)."""
    settings = yaml.safe_load(path.read_text(encoding="utf-8")).get("socd", {})
    assert isinstance(settings, dict)
    assert set(settings) <= {"layer", "share"}
    if "layer" in settings:
        assert settings["layer"] in {1, 2, 3, 4}
    if "share" in settings:
        assert isinstance(settings["share"], bool)


@pytest.mark.parametrize("path", DETECTION_FILES, ids=lambda p: p.stem)
def test_rule_uses_only_the_supported_sigma_subset(path: Path) -> None:
    """Detections name ECS fields of the Cyradar connector, use only the supported modifiers,
    and conditions use only and/or/not, '1 of', 'all of' and parentheses."""
    detection = yaml.safe_load(path.read_text(encoding="utf-8"))["detection"]
    condition = detection.pop("condition")
    assert isinstance(condition, str)
    for word in re.findall(r"\(|\)|[^\s()]+", condition):
        if word.endswith("*"):
            assert any(name.startswith(word[:-1]) for name in detection), word
        else:
            assert word in CONDITION_WORDS or word in detection, word
    for selection in detection.values():
        maps = selection if isinstance(selection, list) else [selection]
        for mapping in maps:
            assert isinstance(mapping, dict)
            for key in mapping:
                field, *modifiers = key.split("|")
                assert field in ECS_FIELDS, field
                assert set(modifiers) <= MODIFIERS, modifiers


def test_readme_documents_the_policy_and_the_checks() -> None:
    """rules/README.md names both classes, the socd: key and the commands that check rules."""
    text = (RULES / "README.md").read_text(encoding="utf-8")
    for needle in ("critical", "high-risk", "socd:", "layer", "share",
                   "socd rules validate rules/", "socd rules test --rules rules/cyradar/ --events"):
        assert needle in text, needle


# --------------------------------------------------------------------------- the policy


def ecs(category: str, severity: int, *, action: str = "alerted", confidence: str = "Medium",
        src_domain: str = "ws-ketoan-02", dst_domain: str = "update-cdn.example") -> dict[str, Any]:
    """An event as the Cyradar connector writes it, with the fields the policy reads varied."""
    return {
        "event": {"severity": severity, "action": action, "kind": "alert", "module": "cyradar"},
        "rule": {"category": category, "name": f"test {category}"},
        "source": {"ip": "10.20.1.15", "port": 52344, "domain": src_domain},
        "destination": {"ip": "203.0.113.7", "port": 443, "domain": dst_domain},
        "network": {"transport": "tcp"},
        "threat": {
            "indicator": {"type": "domain-name", "name": dst_domain, "confidence": confidence},
            "technique": {"id": ["T1071.001"]},
        },
        "observer": {"name": "core-dc"},
        "organization": {"name": "So TTTT Binh Phuoc"},
    }


def without(event: dict[str, Any], *names: str) -> dict[str, Any]:
    """The event without the dotted fields ``names`` (an optional field the sensor left out)."""
    for name in names:
        *parents, last = name.split(".")
        node = event
        for parent in parents:
            node = node[parent]
        del node[last]
    return event


PORTAL = "dichvucong.binhphuoc.gov.vn"
POLICY: list[tuple[str, dict[str, Any], str | None]] = [
    # APT C2, ransomware, exfiltration: critical from severity 7, blocked or not; below, high-risk
    ("apt_c2 8 blocked: the host is compromised", ecs("apt_c2", 8, action="blocked"), "critical"),
    ("apt_c2 7 alerted", ecs("apt_c2", 7), "critical"),
    ("apt_c2 6: high-risk", ecs("apt_c2", 6), "high-risk"),
    ("apt_c2 1: still high-risk", ecs("apt_c2", 1, confidence="Low"), "high-risk"),
    ("ransomware 9 blocked", ecs("ransomware", 9, action="blocked"), "critical"),
    ("ransomware 4", ecs("ransomware", 4), "high-risk"),
    ("data_exfiltration 7 blocked", ecs("data_exfiltration", 7, action="blocked"), "critical"),
    ("data_exfiltration 6", ecs("data_exfiltration", 6), "high-risk"),
    # defacement: a .gov.vn portal not blocked is critical at any severity; blocked high-risk
    ("gov portal defaced", ecs("defacement", 3, dst_domain=PORTAL), "critical"),
    ("gov portal defaced, seen outbound", ecs("defacement", 5, src_domain=PORTAL), "critical"),
    ("gov portal defacement blocked", ecs("defacement", 9, action="blocked", dst_domain=PORTAL),
     "high-risk"),
    ("gov portal, upper-case domain", ecs("defacement", 4, dst_domain="BINHPHUOC.GOV.VN"),
     "critical"),
    ("look-alike domain is not a gov portal", ecs("defacement", 5, dst_domain="gov.vn.example"),
     None),
    ("other site defaced at 6", ecs("defacement", 6, dst_domain="thpt-bp.example"), "high-risk"),
    ("other site defaced at 5", ecs("defacement", 5, dst_domain="thpt-bp.example"), None),
    ("gov portal, no action: not blocked", without(ecs("defacement", 9, dst_domain=PORTAL),
                                                   "event.action"), "critical"),
    # malware, botnet, exploit, phishing: high-risk from 6;
    # malware, botnet, exploit at 9+ not blocked: critical
    ("malware 6 blocked", ecs("malware", 6, action="blocked"), "high-risk"),
    ("malware 5", ecs("malware", 5, confidence="High"), None),
    ("malware 9 not blocked", ecs("malware", 9), "critical"),
    ("malware 10 blocked", ecs("malware", 10, action="blocked"), "high-risk"),
    ("botnet 9 not blocked", ecs("botnet", 9), "critical"),
    ("botnet 7", ecs("botnet", 7), "high-risk"),
    ("exploit 10 not blocked", ecs("exploit", 10), "critical"),
    ("exploit 8 not blocked", ecs("exploit", 8), "high-risk"),
    ("exploit 5", ecs("exploit", 5), None),
    ("phishing 6", ecs("phishing", 6, action="blocked"), "high-risk"),
    ("phishing 10 not blocked", ecs("phishing", 10), "high-risk"),
    # brute force and DDoS: high-risk from 8, or from 6 with a High-confidence indicator
    ("bruteforce 8", ecs("bruteforce", 8, action="blocked"), "high-risk"),
    ("bruteforce 7", ecs("bruteforce", 7), None),
    ("bruteforce 6 known-bad", ecs("bruteforce", 6, confidence="High"), "high-risk"),
    ("bruteforce 5 known-bad", ecs("bruteforce", 5, confidence="High"), None),
    ("ddos 9", ecs("ddos", 9), "high-risk"),
    ("ddos 7 known-bad", ecs("ddos", 7, confidence="High"), "high-risk"),
    ("ddos 7", ecs("ddos", 7, confidence="Low"), None),
    # scans and policy violations: not threats below 9
    ("scan 8", ecs("scan", 8, confidence="High"), None),
    ("scan 9", ecs("scan", 9), "high-risk"),
    ("policy 3", ecs("policy", 3), None),
    ("policy 10", ecs("policy", 10), "high-risk"),
    # a category the policy does not know: high-risk from 8, so a severe one is not missed
    ("unknown category 10", ecs("spam", 10), "high-risk"),
    ("unknown category 7", ecs("spam", 7), None),
]


@pytest.fixture(scope="module")
def shipped() -> Any:
    """The shipped detection rules loaded by socd's engine (strict: any problem fails here).

    Correlation rules are left out: they keep state across events, and this table states
    the class of each event on its own (tests/unit/classify/test_correlate.py covers them).
    """
    from socd.classify import RuleSet

    rules, problems = RuleSet.load(DETECTION_FILES)
    assert problems == []
    assert len(rules.rules) == len(DETECTION_FILES)
    return rules


def test_whole_folder_loads_with_its_correlations() -> None:
    """socd's engine loads rules/ whole: every detection and correlation rule, no problem."""
    from socd.classify import RuleSet

    rules, problems = RuleSet.load([CYRADAR_RULES])
    assert problems == []
    assert len(rules.rules) == len(DETECTION_FILES)
    assert len(rules.correlations) == len(CORRELATION_FILES)


@pytest.mark.parametrize(("event", "expected"), [(e, c) for _, e, c in POLICY],
                         ids=[name for name, _, _ in POLICY])
def test_policy_classifies_event(shipped: Any, event: dict[str, Any], expected: str | None) -> None:
    """Each hand-written ECS event gets the class the policy in rules/README.md gives it."""
    verdict = shipped.classify(event, CYRADAR)
    assert (verdict.threat_class if verdict else None) == expected


def test_critical_rule_wins_over_high_rule(shipped: Any) -> None:
    """Malware 9 not blocked matches the high malware rule and the critical one: the
    critical rule classifies it and the high one is listed after it."""
    verdict = shipped.classify(ecs("malware", 9), CYRADAR)
    critical = rule_id(RULES / "cyradar/critical/active_compromise_not_blocked.yml")
    high = rule_id(RULES / "cyradar/high-risk/malware_severity_6_plus.yml")
    assert verdict.rule.id == critical
    assert verdict.rule_ids == (critical, high)


def test_low_severity_apt_c2_is_high_risk_and_shared(shipped: Any) -> None:
    """APT C2 below 7 is high-risk, and shared with the national centre all the same
    (``share: true``: APT indicators are what it correlates across provinces)."""
    verdict = shipped.classify(ecs("apt_c2", 5), CYRADAR)
    assert verdict.threat_class == "high-risk"
    assert verdict.rule.share is True
    assert verdict.rule.layer is None


def test_notable_scan_matches_a_medium_rule_but_is_no_threat(shipped: Any) -> None:
    """A scan at 7 matches the medium rule (visible in rules test) but is not classified."""
    matched = shipped.bind(CYRADAR).match(ecs("scan", 7))
    assert [rule.level for rule in matched] == ["medium"]
    assert shipped.classify(ecs("scan", 7), CYRADAR) is None


def test_rules_meet_only_cyradar_events(shipped: Any) -> None:
    """An APT C2 event from an input with another logsource meets none of these rules."""
    assert shipped.classify(ecs("apt_c2", 9), {"product": "suricata"}) is None
    assert shipped.classify(ecs("apt_c2", 9), CYRADAR) is not None


def test_every_shipped_threat_rule_is_exercised_by_the_policy_table(shipped: Any) -> None:
    """Each critical or high rule classifies at least one event of the table, so the table
    documents every rule."""
    winners = set()
    for _, event, _ in POLICY:
        verdict = shipped.classify(event, CYRADAR)
        if verdict is not None:
            winners.add(verdict.rule.id)
    threat_rules = {r.id for r in shipped.rules if r.level in ("critical", "high")}
    assert winners == threat_rules


# --------------------------------------------------------------------------- the whole table

CATEGORIES = ("malware", "apt_c2", "ransomware", "phishing", "exploit", "bruteforce", "ddos",
              "defacement", "data_exfiltration", "botnet", "scan", "policy")
"""The categories of the Cyradar schema (DESIGN.md), each with a rule of its own."""

POLICY_TABLE = """
case                          action    1 2 3 4 5 6 7 8 9 10
malware                       blocked   . . . . . H H H H H
malware                       alerted   . . . . . H H H C C
malware                       absent    . . . . . H H H C C
botnet                        blocked   . . . . . H H H H H
botnet                        alerted   . . . . . H H H C C
botnet                        absent    . . . . . H H H C C
exploit                       blocked   . . . . . H H H H H
exploit                       alerted   . . . . . H H H C C
exploit                       absent    . . . . . H H H C C
phishing                      blocked   . . . . . H H H H H
phishing                      alerted   . . . . . H H H H H
phishing                      absent    . . . . . H H H H H
apt_c2                        blocked   H H H H H H C C C C
apt_c2                        alerted   H H H H H H C C C C
apt_c2                        absent    H H H H H H C C C C
ransomware                    blocked   H H H H H H C C C C
ransomware                    alerted   H H H H H H C C C C
ransomware                    absent    H H H H H H C C C C
data_exfiltration             blocked   H H H H H H C C C C
data_exfiltration             alerted   H H H H H H C C C C
data_exfiltration             absent    H H H H H H C C C C
defacement                    blocked   . . . . . H H H H H
defacement                    alerted   . . . . . H H H H H
defacement                    absent    . . . . . H H H H H
defacement/gov.vn             blocked   H H H H H H H H H H
defacement/gov.vn             alerted   C C C C C C C C C C
defacement/gov.vn             absent    C C C C C C C C C C
bruteforce                    blocked   . . . . . . . H H H
bruteforce                    alerted   . . . . . . . H H H
bruteforce                    absent    . . . . . . . H H H
bruteforce/known-bad          blocked   . . . . . H H H H H
bruteforce/known-bad          alerted   . . . . . H H H H H
bruteforce/known-bad          absent    . . . . . H H H H H
ddos                          blocked   . . . . . . . H H H
ddos                          alerted   . . . . . . . H H H
ddos                          absent    . . . . . . . H H H
ddos/known-bad                blocked   . . . . . H H H H H
ddos/known-bad                alerted   . . . . . H H H H H
ddos/known-bad                absent    . . . . . H H H H H
scan                          blocked   . . . . . . . . H H
scan                          alerted   . . . . . . . . H H
scan                          absent    . . . . . . . . H H
policy                        blocked   . . . . . . . . H H
policy                        alerted   . . . . . . . . H H
policy                        absent    . . . . . . . . H H
cryptomining (unknown)        blocked   . . . . . . . H H H
cryptomining (unknown)        alerted   . . . . . . . H H H
cryptomining (unknown)        absent    . . . . . . . H H H
"""
"""The class of every Cyradar event by category, severity (1-10) and action, as rules/README.md
states the policy: C critical, H high-risk, . not a threat. ``/gov.vn``: the destination is a
government portal (otherwise another site); ``/known-bad``: the indicator's confidence is 90
(High; otherwise 50, Medium); ``absent``: the message has no ``action``."""

SYMBOLS = {"C": "critical", "H": "high-risk", ".": None}


def table_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in POLICY_TABLE.strip().splitlines()[1:]:
        case, action, *cells = line.replace(" (unknown)", "").split()
        rows.append((case, action, " ".join(cells)))
    return rows


def cyradar_message(case: str, action: str, severity: int) -> bytes:
    """A Cyradar message of the table's case, as the sensor sends it."""
    category, _, variant = case.partition("/")
    message: dict[str, Any] = {
        "alert_id": f"{case}-{action}-{severity}",
        "detected_at": datetime.now(UTC).isoformat(),
        "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
        "severity": severity, "category": category, "threat_name": f"test {case}",
        "src": {"ip": "10.20.1.15", "port": 52344, "hostname": "ws-ketoan-02"},
        "dst": {"ip": "203.0.113.7", "port": 443,
                "domain": "binhphuoc.gov.vn" if variant == "gov.vn" else "thpt-bp.example"},
        "protocol": "tcp",
        "ioc": {"type": "domain", "value": "thpt-bp.example",
                "confidence": 90 if variant == "known-bad" else 50},
        "mitre": ["T1071.001"],
    }
    if action != "absent":
        message["action"] = action
    return orjson.dumps(message)


def test_table_covers_every_category_severity_and_action() -> None:
    """The table has a row for each category of the schema and an unknown one, under each
    action (blocked, alerted, absent), with a class for each severity 1-10."""
    rows = table_rows()
    cases = {case.partition("/")[0] for case, _, _ in rows}
    assert cases == {*CATEGORIES, "cryptomining"}
    for case in {case for case, _, _ in rows}:
        assert sorted(a for c, a, _ in rows if c == case) == ["absent", "alerted", "blocked"]
    assert all(len(cells.split()) == 10 for _, _, cells in rows)


@pytest.fixture(scope="module")
def cyradar() -> Any:
    """The Cyradar connector, as an input with ``connector: cyradar`` runs it."""
    from socd.normalize import build_normalizer

    return build_normalizer("cyradar", sensor="core-dc", timezone="Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(("case", "action", "expected"), table_rows(),
                         ids=[f"{c}-{a}" for c, a, _ in table_rows()])
def test_policy_table(shipped: Any, cyradar: Any, case: str, action: str, expected: str) -> None:
    """Each Cyradar message, normalised by the connector (the fields the rules read are the
    ones it writes), gets the class of its cell in the policy table."""
    cells = []
    for severity in range(1, 11):
        event = cyradar.normalize(cyradar_message(case, action, severity))
        verdict = shipped.classify(event, CYRADAR)
        threat_class = verdict.threat_class if verdict else None
        cells.append(next(s for s, c in SYMBOLS.items() if c == threat_class))
    assert " ".join(cells) == expected


ISSUE_EXAMPLE = {"rule": {"category": "defacement"}, "event": {"severity": 9},
                 "destination": {"domain": "binhphuoc.gov.vn"}}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ISSUE_EXAMPLE, "critical"),  # no action: not blocked
        ({"rule": {"category": "cryptomining"}, "event": {"severity": 10}}, "high-risk"),
        ({"rule": {"category": "cryptomining"}, "event": {"severity": 7}}, None),
        ({"event": {"severity": 9}}, "high-risk"),  # no category: not a known one
        ({"event": {"severity": 3}}, None),
        # no severity: the grave categories are high-risk by their category alone
        ({"rule": {"category": "apt_c2"}}, "high-risk"),
        ({"rule": {"category": "ransomware"}}, "high-risk"),
        ({"rule": {"category": "data_exfiltration"}}, "high-risk"),
        ({"rule": {"category": "defacement"}, "destination": {"domain": "binhphuoc.gov.vn"}},
         "critical"),
        ({"rule": {"category": "defacement"}, "event": {"action": "blocked"},
          "source": {"domain": "binhphuoc.gov.vn"}}, "high-risk"),
        ({"rule": {"category": "malware"}}, None),
        # an action other than "blocked" is not blocked
        ({"rule": {"category": "malware"}, "event": {"severity": 9, "action": "detected"}},
         "critical"),
        ({"rule": {"category": "malware"}, "event": {"severity": 9, "action": "BLOCKED"}},
         "high-risk"),
    ],
)
def test_policy_with_fields_left_out(shipped: Any, event: dict[str, Any],
                                     expected: str | None) -> None:
    """Events as `socd rules test` may get them, without the optional (or even the required)
    fields: a missing field never lowers the class below what the rest of the event gives."""
    verdict = shipped.classify(event, CYRADAR)
    assert (verdict.threat_class if verdict else None) == expected


@pytest.mark.parametrize(("severity", "expected"), [(s, s < 8) for s in range(1, 11)])
def test_unknown_category_is_never_silent(shipped: Any, severity: int, expected: bool) -> None:
    """An unknown category is high-risk from 8; below, it matches the medium rule, so
    `socd rules test` shows it (class null) instead of nothing."""
    event = {"rule": {"category": "cryptomining"}, "event": {"severity": severity}}
    levels = [rule.level for rule in shipped.bind(CYRADAR).match(event)]
    assert levels == (["medium"] if expected else ["high"])


@pytest.mark.parametrize("domain", ["binhphuoc.gov.vn.", "dichvucong.binhphuoc.gov.vn.",
                                    "BINHPHUOC.GOV.VN."])
def test_a_portal_named_with_the_root_dot_is_still_a_government_portal(
        shipped: Any, cyradar: Any, domain: str) -> None:
    """A sensor that writes the absolute DNS name (``binhphuoc.gov.vn.``): its defacement,
    not blocked, is critical like the name without the dot (the connector drops the root's
    dot; rules match ``.gov.vn`` without regard to case)."""
    message = orjson.loads(cyradar_message("defacement/gov.vn", "absent", 9))
    message["dst"]["domain"] = domain
    event = cyradar.normalize(orjson.dumps(message))
    verdict = shipped.classify(event, CYRADAR)
    assert verdict is not None and verdict.threat_class == "critical"
