"""The STIX 2.1 bundle of a shared threat: valid by the specification, self-contained,
marked, and the same bytes for the same threat."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2
from pydantic import ValidationError

from socd.config import SharingConfig, SharingIdentity, SharingRedaction
from socd.errors import ConfigError
from socd.sharing import NAMESPACE, SightingBuilder
from socd.sharing.stix import identity_id, object_id
from socd.simulate import FORMATS
from tests.unit.normalize.conftest import SAMPLES, run_sample
from tests.unit.sharing.threats import (
    check_bundle,
    of_type,
    sharing_config,
    sighted,
    simulated,
    threat,
)

SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The namespace STIX 2.1 §2.9 gives for the deterministic ids of cyber-observables."""


def base(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": "2026-03-02T01:02:03.456Z",
                           "event": {"id": "ev-1", "module": "cyradar"}}
    doc.update(fields)
    return threat(doc)


@pytest.fixture(scope="module")
def builder() -> SightingBuilder:
    return SightingBuilder(sharing_config())


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_connector_gives_valid_bundles(fmt: str, builder: SightingBuilder) -> None:
    """Simulated documents of every connector each give a valid, self-contained bundle
    whose sighting is of a malware, an indicator or an attack pattern."""
    docs = simulated(fmt, 150)
    assert len(docs) > 100
    kinds: set[str] = set()
    for number, doc in enumerate(docs):
        sighting = builder.build(doc, f"{fmt}-{number}")
        bundle = check_bundle(sighting)
        kinds.add(sighted(bundle)["type"])
        assert sighting.threat_class == doc["socd"]["class"]
        assert sighting.layer == str(doc["socd"]["layer"])
    assert kinds <= {"malware", "indicator", "attack-pattern"}
    assert "indicator" in kinds


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_samples_give_valid_bundles(name: str, shared_dir: Path,
                                         builder: SightingBuilder) -> None:
    """Every document of the real sensor samples, taken as a threat, gives a valid bundle."""
    for number, doc in enumerate(run_sample(shared_dir, name).documents):
        check_bundle(builder.build(threat(doc), f"{name}-{number}"))


def test_same_document_same_bytes() -> None:
    """A replay (a new process, a new ingest time) publishes the very same bytes."""
    docs = simulated("cyradar", 40)
    first = [SightingBuilder(sharing_config()).build(doc, str(n)) for n, doc in enumerate(docs)]
    again_builder = SightingBuilder(sharing_config())
    for number, doc in enumerate(docs):
        replayed = copy.deepcopy(doc)
        replayed["event"]["ingested"] = "2026-03-05T09:09:09.999Z"
        again = again_builder.build(replayed, str(number))
        assert again == first[number]


def test_different_documents_different_ids(builder: SightingBuilder) -> None:
    """Each document id gives its own sighting, SDO, observed-data and bundle ids."""
    doc = base(source={"ip": "198.51.100.7"})
    seen: set[str] = set()
    for number in range(50):
        bundle = orjson.loads(builder.build(doc, f"doc-{number}").value)
        mine = {bundle["id"]} | {obj["id"] for obj in bundle["objects"]
                                 if obj["type"] in ("sighting", "indicator", "observed-data")}
        assert len(mine) == 4 and not mine & seen
        seen |= mine


def test_ids_are_uuid5_in_socds_namespace(builder: SightingBuilder) -> None:
    """The identity's id is UUIDv5(NAMESPACE, name); the others UUIDv5(NAMESPACE,
    "<identity id>/<kind>/<document id>"), so another department never shares them."""
    ident = f"identity--{uuid.uuid5(NAMESPACE, 'So TTTT Dong Nai')}"
    assert builder.identity.id == ident == identity_id("So TTTT Dong Nai")
    sighting = builder.build(base(source={"ip": "198.51.100.7"}), "abc")
    bundle = orjson.loads(sighting.value)
    expected = {kind: f"{kind}--{uuid.uuid5(NAMESPACE, f'{ident}/{kind}/abc')}"
                for kind in ("bundle", "sighting", "indicator", "observed-data")}
    assert bundle["id"] == expected["bundle"] == object_id("bundle", ident, "abc")
    assert sighting.id == expected["sighting"]
    assert sighted(bundle)["id"] == expected["indicator"]
    assert of_type(bundle, "observed-data")[0]["id"] == expected["observed-data"]
    other = SightingBuilder(sharing_config(identity={"name": "So TTTT Ca Mau"}))
    assert other.build(base(source={"ip": "198.51.100.7"}), "abc").id != sighting.id
    assert str(NAMESPACE) == "d1dc9e56-bd32-4a03-bfc9-dc92893dee4f"


def test_observable_ids_follow_the_specification(builder: SightingBuilder) -> None:
    """SCO ids are UUIDv5 in the specification's namespace over the canonical JSON of the
    id-contributing properties (§2.9), computed here without the library."""
    doc = base(source={"ip": "198.51.100.7"}, destination={"ip": "2001:db8::5"},
               url={"full": "http://evil.example/a", "domain": "evil.example"},
               file={"hash": {"md5": "44D88612FEA8A8F36DE82E1278ABB02F",
                              "sha256": "a" * 64}})
    bundle = check_bundle(builder.build(doc, "sco"))

    def sco_id(kind: str, contributing: dict[str, Any]) -> str:
        text = json.dumps(contributing, separators=(",", ":"), sort_keys=True)
        return f"{kind}--{uuid.uuid5(SCO_NAMESPACE, text)}"

    found = {obj["type"]: obj["id"] for obj in bundle["objects"]}
    assert found["ipv4-addr"] == sco_id("ipv4-addr", {"value": "198.51.100.7"})
    assert found["ipv6-addr"] == sco_id("ipv6-addr", {"value": "2001:db8::5"})
    assert found["domain-name"] == sco_id("domain-name", {"value": "evil.example"})
    assert found["url"] == sco_id("url", {"value": "http://evil.example/a"})
    # a file by its hashes: MD5 first, when there is one (§6.7)
    assert found["file"] == sco_id("file", {"hashes": {
        "MD5": "44d88612fea8a8f36de82e1278abb02f"}})
    observed = of_type(bundle, "observed-data")[0]
    assert observed["object_refs"] == [found[k] for k in
                                       ("ipv4-addr", "ipv6-addr", "domain-name", "url", "file")]
    assert observed["number_observed"] == 1
    assert observed["first_observed"] == observed["last_observed"] == "2026-03-02T01:02:03.456Z"


@pytest.mark.parametrize("tlp", ["white", "green", "amber", "red"])
def test_tlp_marks_every_object(tlp: str) -> None:
    """``sharing.tlp`` picks the marking-definition STIX 2.1 defines; it marks every
    object and is in the bundle."""
    builder = SightingBuilder(sharing_config(tlp=tlp))
    for number, doc in enumerate(simulated("cef", 30)):
        check_bundle(builder.build(doc, str(number)), tlp=tlp)


def test_times_are_the_threats(builder: SightingBuilder) -> None:
    """created, modified, first/last seen and valid_from are the threat's @timestamp; the
    identity has one fixed time."""
    bundle = check_bundle(builder.build(base(source={"ip": "198.51.100.7"}), "t"))
    for obj in bundle["objects"]:
        if obj["type"] in ("sighting", "indicator", "observed-data"):
            assert obj["created"] == obj["modified"] == "2026-03-02T01:02:03.456Z"
    sighting = of_type(bundle, "sighting")[0]
    assert sighting["first_seen"] == sighting["last_seen"] == "2026-03-02T01:02:03.456Z"
    assert sighted(bundle)["valid_from"] == "2026-03-02T01:02:03.456Z"
    identity = of_type(bundle, "identity")[0]
    assert identity["created"] == identity["modified"] == "2020-01-01T00:00:00.000Z"


def test_sighting_and_identity_content(builder: SightingBuilder) -> None:
    """The sighting: of the SDO, seen at and made by the department, its class as label and
    the rule's name as description; the identity as configured."""
    builder = SightingBuilder(sharing_config(identity={
        "name": "So TTTT Dong Nai", "contact_information": "soc@dongnai.example"}))
    sighting = builder.build(base(source={"ip": "198.51.100.7"}), "s")
    bundle = check_bundle(sighting)
    identity = of_type(bundle, "identity")[0]
    assert identity["name"] == "So TTTT Dong Nai"
    assert identity["identity_class"] == "organization"
    assert identity["sectors"] == ["government-regional"]
    assert identity["contact_information"] == "soc@dongnai.example"
    body = of_type(bundle, "sighting")[0]
    assert body["where_sighted_refs"] == [identity["id"]]
    for obj in bundle["objects"]:
        if obj["type"] not in ("marking-definition",) and not obj["id"].startswith(
                ("ipv4", "ipv6", "domain", "url", "file")):
            assert obj["created_by_ref"] == identity["id"]
    assert body["description"] == "Shared test rule"
    assert body["observed_data_refs"] == [of_type(bundle, "observed-data")[0]["id"]]
    assert dict(sighting.headers)["socd.document_id"] == b"s"


# ------------------------------------------------------------------ which SDO is sighted

MALWARE_CASES = [
    ("ECS threat.software", {"threat": {"software": {"name": "PlugX", "type": "Malware"}},
                             "source": {"ip": "198.51.100.7"}}, "PlugX", None),
    ("software without a type", {"threat": {"software": {"name": "ShadowPad"}}},
     "ShadowPad", None),
    ("Cyradar ransomware", {"rule": {"category": "ransomware",
                                     "name": "LockBit 3.0 payload download"},
                            "source": {"ip": "198.51.100.7"}},
     "LockBit 3.0 payload download", ["ransomware"]),
    ("Cyradar botnet", {"rule": {"category": "botnet", "name": "Mirai C2 check-in"}},
     "Mirai C2 check-in", ["bot"]),
    ("Cyradar APT C2", {"rule": {"category": "apt_c2", "name": "PlugX C2 check-in"}},
     "PlugX C2 check-in", None),
    ("Fortinet virus", {"event": {"module": "cef"},
                        "rule": {"category": "utm:virus",
                                 "name": "File is infected: W32/Agent.TROJAN"}},
     "W32/Agent.TROJAN", None),
    ("Deep Security anti-malware", {"event": {"module": "cef"},
                                    "rule": {"category": "Anti-Malware",
                                             "name": "Ransom.Win32.LOCKBIT.A"}},
     "Ransom.Win32.LOCKBIT.A", None),
]


@pytest.mark.parametrize(("case", "fields", "name", "types"), MALWARE_CASES,
                         ids=[c[0] for c in MALWARE_CASES])
def test_malware_named_is_sighted(case: str, fields: dict[str, Any], name: str,
                                  types: list[str] | None, builder: SightingBuilder) -> None:
    doc = base()
    for key, value in fields.items():
        doc[key] = {**doc.get(key, {}), **value}
    bundle = check_bundle(builder.build(doc, case))
    malware = sighted(bundle)
    assert malware["type"] == "malware"
    assert malware["name"] == name and malware["is_family"] is False
    assert malware.get("malware_types") == types


def test_malware_refers_to_its_samples(builder: SightingBuilder) -> None:
    """A malware seen with file hashes has them as sample_refs."""
    sha256 = "2c2af60d70583376545484cfae5c812fe2999fc1abb51d18b559e8ca3b50aaf2"
    doc = base(event={"module": "cef"}, rule={"category": "Anti-Malware", "name": "Eicar"},
               cef={"file_hash": sha256.upper()})
    bundle = check_bundle(builder.build(doc, "m"))
    files = of_type(bundle, "file")
    assert files[0]["hashes"] == {"SHA-256": sha256}
    assert sighted(bundle)["sample_refs"] == [files[0]["id"]]


NOT_MALWARE = [
    ("a tool", {"threat": {"software": {"name": "AnyDesk", "type": "Tool"}}}),
    ("Cyradar scan", {"rule": {"category": "scan", "name": "Nmap SYN port scan"}}),
    ("Suricata malware signature", {"event": {"module": "suricata"},
                                    "rule": {"category": "A Network Trojan was detected",
                                             "name": "ET MALWARE AgentTesla Exfil"}}),
    ("a malware category of another module", {"event": {"module": "leef"},
                                              "rule": {"category": "malware", "name": "X"}}),
]


@pytest.mark.parametrize(("case", "fields"), NOT_MALWARE, ids=[c[0] for c in NOT_MALWARE])
def test_otherwise_an_indicator(case: str, fields: dict[str, Any],
                                builder: SightingBuilder) -> None:
    doc = base(source={"ip": "198.51.100.7"})
    for key, value in fields.items():
        doc[key] = {**doc.get(key, {}), **value}
    indicator = sighted(check_bundle(builder.build(doc, case)))
    assert indicator["type"] == "indicator"
    assert indicator["pattern"] == "[ipv4-addr:value = '198.51.100.7']"
    assert indicator["pattern_type"] == "stix"


def test_indicator_pattern_and_name(builder: SightingBuilder) -> None:
    """The pattern matches the observables the sensor named as the indicator, or every
    shared observable when it named none; its name is the sensor's signature."""
    doc = base(source={"ip": "198.51.100.7"}, destination={"ip": "203.0.113.9"},
               rule={"name": "ET SCAN Potential SSH Scan"})
    indicator = sighted(check_bundle(builder.build(doc, "all")))
    assert indicator["pattern"] == ("[ipv4-addr:value = '198.51.100.7'] OR "
                                    "[ipv4-addr:value = '203.0.113.9']")
    assert indicator["name"] == "ET SCAN Potential SSH Scan"
    doc["threat"] = {"indicator": {"type": "url", "name": "http://c2.example/it's\\here"}}
    indicator = sighted(check_bundle(builder.build(doc, "named")))
    assert indicator["pattern"] == r"[url:value = 'http://c2.example/it\'s\\here']"
    doc["threat"] = {"indicator": {"file": {"hash": {"md5": "0" * 32, "sha1": "1" * 40}}}}
    indicator = sighted(check_bundle(builder.build(doc, "file")))
    assert indicator["pattern"] == f"[file:hashes.'SHA-1' = '{'1' * 40}']"
    del doc["rule"]
    assert sighted(check_bundle(builder.build(doc, "socd")))["name"] == "Shared test rule"


def test_nothing_left_gives_an_attack_pattern(builder: SightingBuilder) -> None:
    """When redaction leaves no observable, the sighting is of an attack pattern named
    after the rule, with the ATT&CK techniques as external references; no observed-data."""
    doc = base(source={"ip": "10.1.2.3"}, destination={"ip": "192.168.1.1"},
               host={"name": "srv-dc01"},
               threat={"technique": {"id": ["T1110.001", "T1110.001", "bogus", "T1078"]}})
    bundle = check_bundle(builder.build(doc, "ap"))
    pattern = sighted(bundle)
    assert pattern["type"] == "attack-pattern" and pattern["name"] == "Shared test rule"
    assert pattern["external_references"] == [
        {"source_name": "mitre-attack", "url": "https://attack.mitre.org/techniques/T1110/001/",
         "external_id": "T1110.001"},
        {"source_name": "mitre-attack", "url": "https://attack.mitre.org/techniques/T1078/",
         "external_id": "T1078"}]
    assert not of_type(bundle, "observed-data")
    assert "observed_data_refs" not in of_type(bundle, "sighting")[0]


def test_a_bad_document_is_refused(builder: SightingBuilder) -> None:
    """A document without the time, class or layer of a threat raises ValueError."""
    for broken, message in [({"@timestamp": None}, "no @timestamp"),
                            ({"@timestamp": "2026-03-02T01:02:03"}, "no UTC offset"),
                            ({"@timestamp": "yesterday"}, "Invalid isoformat"),
                            ({"socd": {"class": None, "layer": 1}}, "not a threat class"),
                            ({"socd": {"class": "critical", "layer": 5}}, "not a layer")]:
        doc = base()
        doc.update(broken)
        with pytest.raises(ValueError, match=message):
            builder.build(doc, "bad")


def test_bad_settings_are_named() -> None:
    """No department name, or a redacted domain that is no DNS name: refused when the
    settings are read (the domain by the same rule the redaction uses), and by the builder
    too, with the key, for settings made without validation."""
    with pytest.raises(ConfigError, match=r"sharing\.identity\.name"):
        SightingBuilder(SharingConfig())
    with pytest.raises(ValidationError, match=r"'not a name' is not a DNS name"):
        sharing_config(redact={"domains": ["ok.example", "not a name"]})
    unchecked = SharingConfig.model_construct(
        identity=SharingIdentity(name="So TTTT"),
        redact=SharingRedaction.model_construct(networks=[], domains=["not a name"]))
    with pytest.raises(ConfigError, match=r"sharing\.redact\.domains: 'not a name' is not"):
        SightingBuilder(unchecked)


def test_bundle_parses_as_spec_objects(builder: SightingBuilder) -> None:
    """The library reads the bundle back into its own classes (no custom objects)."""
    doc = base(source={"ip": "198.51.100.7"}, url={"full": "http://evil.example/x"})
    parsed = stix2.parse(builder.build(doc, "p").value, allow_custom=False)
    kinds = [type(obj).__name__ for obj in parsed.objects]
    assert kinds == ["MarkingDefinition", "Identity", "IPv4Address", "URL", "ObservedData",
                     "Indicator", "Sighting"]


def test_the_documented_example(repo_root: Path) -> None:
    """docs/sharing.md's example is what socd builds (trimmed: every property it shows is
    the built one)."""
    text = (repo_root / "docs" / "sharing.md").read_text(encoding="utf-8")
    shown = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    doc = threat({
        "@timestamp": "2026-03-02T01:02:03.456Z",
        "event": {"id": "48beab13-4da9-4f1d-b099-fdf5ab99254a", "module": "cyradar",
                  "original": "{...}"},
        "message": "Fake webmail login page",
        "rule": {"name": "Fake webmail login page", "category": "phishing"},
        "source": {"ip": "10.21.8.176", "domain": "ws-ketoan-05"},
        "destination": {"ip": "198.51.100.31", "domain": "webmail-login.example",
                        "port": 443},
        "url": {"full": "https://webmail-login.example/auth?user=khtc.tran"},
        "host": {"name": "ws-ketoan-05"}, "user": {"name": "khtc.tran"},
        "threat": {"indicator": {"type": "domain-name", "name": "webmail-login.example"},
                   "technique": {"id": ["T1566.002"]}}},
        rule="Credential phishing page visited", layer=2)
    sighting = SightingBuilder(sharing_config()).build(doc, "6f1c2d0e9a8b7c6d5e4f3a2b1c0d9e8f")
    built = check_bundle(sighting)
    assert shown["id"] == built["id"]
    assert [obj["id"] for obj in shown["objects"]] == [obj["id"] for obj in built["objects"]]
    for mine, theirs in zip(shown["objects"], built["objects"], strict=True):
        assert {key: theirs[key] for key in mine} == mine
    assert f"`{sighting.id}`" in text


def test_a_vietnamese_name() -> None:
    """The department's name as written (UTF-8 in the bytes, not escaped); its id over the
    name as written."""
    name = "Sở Thông tin và Truyền thông Đồng Nai"
    builder = SightingBuilder(sharing_config(identity={"name": name}))
    sighting = builder.build(base(source={"ip": "198.51.100.7"}), "vi")
    bundle = check_bundle(sighting)
    assert name.encode("utf-8") in sighting.value
    assert of_type(bundle, "identity")[0]["id"] == f"identity--{uuid.uuid5(NAMESPACE, name)}"
