"""Every file of the real sensor samples through its connector: one document or one dead
letter per message, never an exception, and the quirks each file is known for handled."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.unit.normalize.conftest import (
    IGNORED_SAMPLE_FILES,
    SAMPLES,
    normalizer,
    run_sample,
)


def test_every_sample_file_is_listed(shared_dir: Path) -> None:
    """A file added to the samples is not silently left out of these tests."""
    root = shared_dir / "samples"
    found = {str(path.relative_to(root)) for path in root.rglob("*")
             if path.is_file() and "licenses" not in path.parts
             and "copyleft_gpl2" not in path.parts
             and not path.name.endswith(IGNORED_SAMPLE_FILES)}
    assert found == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_one_outcome_per_message(name: str, shared_dir: Path) -> None:
    """Each message gives a document or a dead letter, in the numbers the file holds."""
    _, documents, dead = SAMPLES[name]
    outcome = run_sample(shared_dir, name)
    assert outcome.messages == len(outcome.documents) + len(outcome.dead)
    assert (len(outcome.documents), len(outcome.dead)) == (documents, dead)
    for _, error in outcome.dead:
        assert error.reason in {"not_json", "not_utf8", "invalid_event"}
    for doc in outcome.documents:
        assert doc["observer"]["name"]
        assert isinstance(doc["event"]["original"], str)


def test_suricata_timestamps_of_every_era(shared_dir: Path) -> None:
    """No offset (the input's zone), +0100 without a colon and -0000 all become UTC."""
    oak = run_sample(shared_dir, "suricata/oak_eve_2013_subset.json").documents
    # 2013-02-20T21:31:44.674716 in Asia/Ho_Chi_Minh (UTC+7)
    assert oak[0]["@timestamp"] == "2013-02-20T14:31:44.674Z"
    utc = run_sample(shared_dir, "suricata/oak_eve_2013_subset.json", timezone="UTC")
    assert utc.documents[0]["@timestamp"] == "2013-02-20T21:31:44.674Z"
    surevego = run_sample(shared_dir, "suricata/surevego_eve.json").documents
    assert surevego[0]["@timestamp"] == "2017-01-30T15:12:26.985Z"
    crowdsec = run_sample(shared_dir, "suricata/crowdsec_suricata-logs-evelog.log").documents
    stamps = {orjson.loads(doc["event"]["original"])["timestamp"]: doc["@timestamp"]
              for doc in crowdsec}
    minus_zero = [raw for raw in stamps if raw.endswith("-0000")]
    assert minus_zero
    for raw in minus_zero:
        assert stamps[raw].startswith(raw[:19])  # -0000 is UTC


def test_suricata_alerts_and_other_records(shared_dir: Path) -> None:
    """Alerts are alerts with the signature in rule.* and severity 1 → 8, 2 → 5, 3 → 3;
    dns, http, fileinfo and flow records stay events; string numbers become numbers."""
    docs = run_sample(shared_dir, "suricata/oak_eve_2013_subset.json").documents
    kinds = {doc["suricata"]["event_type"]: doc["event"]["kind"] for doc in docs}
    assert kinds == {"alert": "alert", "dns": "event", "http": "event", "ssh": "event",
                     "fileinfo": "event"}
    alerts = [doc for doc in docs if doc["event"]["kind"] == "alert"]
    assert len(alerts) == 392
    scale = {(doc["suricata"]["alert"]["severity"], doc["event"]["severity"]) for doc in alerts}
    assert scale == {(1, 8), (2, 5), (3, 3)}
    for doc in alerts:
        assert doc["rule"]["id"].isdigit() and doc["rule"]["name"]
        assert doc["event"]["category"] == ["intrusion_detection", "network"]
    statuses = [doc["http"]["response"]["status_code"] for doc in docs
                if "status_code" in doc.get("http", {}).get("response", {})]
    assert len(statuses) == 140  # all strings ("403") in the file
    assert all(isinstance(status, int) for status in statuses)


def test_suricata_broken_file_dead_letters(shared_dir: Path) -> None:
    """The corrupted capture: 6 broken lines are not JSON, the garbage-suffixed timestamp
    is an invalid event; blank lines are not messages."""
    outcome = run_sample(shared_dir, "suricata/surevego_eve_broken.json")
    reasons = sorted(error.reason for _, error in outcome.dead)
    assert reasons == ["invalid_event"] + ["not_json"] * 6
    invalid = next(error for _, error in outcome.dead if error.reason == "invalid_event")
    assert "timestamp" in invalid.detail and "asloefbnjhowebfg" in invalid.detail


def test_suricata_metadata_and_cve(shared_dir: Path) -> None:
    """ET metadata: signature_severity kept, CVE ids in vulnerability.id."""
    docs = run_sample(shared_dir, "suricata/crowdsec_suricata-eve-detect.log").documents
    first = docs[0]
    assert first["suricata"]["alert"]["signature_severity"] == ["Major"]
    assert first["vulnerability"]["id"] == ["CVE_2021_41773"]
    assert first["event"]["severity"] == 8


def test_wazuh_real_alert(shared_dir: Path) -> None:
    """The exported alert: read from _source, level 6 → 4, MITRE ids, the redacted
    invalid IP left out and named."""
    (doc,) = run_sample(shared_dir, "wazuh/wazuh_indexer_wazuh-event.sample.json").documents
    assert doc["@timestamp"] == "2024-02-08T14:35:14.334Z"
    assert doc["event"]["severity"] == 4
    assert doc["wazuh"]["rule"]["level"] == 6
    assert doc["rule"]["id"] == "31166"
    assert doc["threat"]["technique"]["id"] == ["T1068", "T1190"]
    assert doc["threat"]["framework"] == "MITRE ATT&CK"
    assert "source" not in doc
    assert any("000.111.222.10" in text for text in doc["socd"]["warnings"])


def test_wazuh_generator_alerts(shared_dir: Path) -> None:
    """The generator's "{timestamp}" placeholder is dead-lettered naming the field; with a
    real time in its place every alert maps, invalid agent IPs left out and named."""
    outcome = run_sample(shared_dir, "wazuh/wazuh_indexer_sample_alerts_subset.json")
    assert {error.detail.split(":")[0] for _, error in outcome.dead} == {
        "timestamp or @timestamp"}
    norm = normalizer("wazuh")
    path = shared_dir / "samples" / "wazuh" / "wazuh_indexer_sample_alerts_subset.json"
    docs = [norm.normalize(line.replace(b"{timestamp}", b"2024-01-01T10:00:00.000+0700"))
            for line in path.read_bytes().splitlines() if line.strip()]
    assert len(docs) == 67
    assert all(doc["@timestamp"] == "2024-01-01T03:00:00.000Z" for doc in docs)
    levels = {(doc["wazuh"]["rule"]["level"], doc["event"]["severity"]) for doc in docs}
    assert {(3, 2), (5, 3), (7, 5), (10, 7), (12, 8), (13, 9)} <= levels
    invalid = [doc for doc in docs if "host" in doc and "ip" not in doc["host"]]
    assert len(invalid) >= 10
    assert all("host.ip left out" in " ".join(doc["socd"]["warnings"]) for doc in invalid)


def test_cef_framings_and_severities(shared_dir: Path) -> None:
    """CEF: 0 with a space, no CEF: tag, a syslog header; number and word severities."""
    docs = run_sample(shared_dir, "cef/crowdsec_unifi-cef-logs.log").documents
    assert [doc["cef"]["severity"] for doc in docs] == ["1", "7", "7"]
    assert [doc["event"]["severity"] for doc in docs] == [1, 7, 7]
    assert docs[1]["source"] == {"ip": "10.0.0.100", "port": 52331}
    assert docs[2]["observer"]["hostname"] == "Express-7"
    assert docs[2]["@timestamp"].endswith("-10-26T13:01:31.000Z")  # syslog time, UTC+7
    checkpoint = run_sample(shared_dir, "cef/tenzir_checkpoint.log").documents
    assert checkpoint[0]["@timestamp"] == "2018-11-26T22:17:32.000Z"  # rt in epoch ms
    assert all("severity" not in doc["event"] for doc in checkpoint)  # "Unknown"
    assert checkpoint[0]["network"]["transport"] == "tcp"  # proto=6


def test_leef_samples(shared_dir: Path) -> None:
    """LEEF 1.0 with |-separated leading pairs and epoch-ms devTime; 2.0 with x7C."""
    docs = run_sample(shared_dir, "leef/tenzir_leef1.log").documents
    assert docs[0]["event"]["severity"] == 8
    assert docs[0]["@timestamp"] == "2014-01-01T12:00:00.000Z"
    assert docs[0]["rule"]["category"] == "Suspected credentials theft"
    # the header's event id is LEEF's only signature: the rule's id and its name
    assert docs[0]["rule"]["id"] == docs[0]["rule"]["name"] == docs[0]["event"]["code"]
    templates = run_sample(shared_dir, "leef/tenzir_leef2.log").documents
    assert templates[0]["rule"]["category"] == "$type"


def test_zeek_json_and_tsv(shared_dir: Path) -> None:
    """Dotted flat keys, epoch-float and ISO ts, severity from the note or intel type;
    the TSV test logs' masked timestamps are dead letters that name ts."""
    intel = run_sample(shared_dir, "zeek/zeek_docs_intel_examples.ndjson").documents
    assert intel[0]["@timestamp"] == "2011-11-03T00:19:26.452Z"
    assert intel[0]["source"] == {"ip": "192.168.2.76", "port": 52026}
    assert intel[0]["threat"]["indicator"] == {"name": "www.reddit.com", "type": "domain-name"}
    assert intel[0]["event"]["severity"] == 6
    (notice,) = run_sample(shared_dir, "zeek/zeek_docs_notice_example.ndjson").documents
    assert notice["rule"]["name"] == "SSL::Invalid_Server_Cert"
    assert notice["event"]["severity"] == 3
    tsv = run_sample(shared_dir,
                     "zeek/zeek_btest_tsv/scripts.policy.protocols.ssh.detect-bruteforcing"
                     ".notice.log")
    assert [error.detail for _, error in tsv.dead] == [
        "ts: 'XXXXXXXXXX.XXXXXX' is not a timestamp (ISO-8601, epoch, or "
        "MMM dd [yyyy] HH:mm:ss[.SSS] [zone])"]


def test_no_sample_field_holds_its_placeholder(shared_dir: Path) -> None:
    """Over every sample document: no ECS field holds a placeholder its connector declares
    for it ("failed" app_proto, "-", 0.0.0.0 for no NAT …)."""
    from socd.normalize import builtin_connectors
    from socd.normalize.ecs import ecs_field
    from socd.normalize.mapping import load_mapping_file
    from socd.normalize.paths import lookup

    checked = 0
    for name, (connector, _, _) in sorted(SAMPLES.items()):
        spec = load_mapping_file(builtin_connectors()[connector])
        nulls = {target: set(spec.null_values).union(*(case.nulls for case in cases))
                 for target, cases in spec.targets() if ecs_field(target) is not None}
        for doc in run_sample(shared_dir, name).documents:
            for target, placeholders in nulls.items():
                value = lookup(doc, target)
                for item in value if isinstance(value, list) else [value]:
                    checked += item is not None
                    assert item not in placeholders, (name, target, item)
    assert checked > 10_000


def test_suricata_failed_protocol_detection_in_the_samples(shared_dir: Path) -> None:
    """The samples' flows with "app_proto": "failed" have no network.protocol; the
    others keep theirs."""
    failed = 0
    for name in ("suricata/surevego_eve.json", "suricata/tenzir_eve_excerpt.json"):
        for doc in run_sample(shared_dir, name).documents:
            app_proto = orjson.loads(doc["event"]["original"]).get("app_proto")
            protocol = doc.get("network", {}).get("protocol")
            if app_proto == "failed":
                failed += 1
                assert protocol is None
            else:
                assert protocol == app_proto
    assert failed == 4


def test_check_point_without_nat_has_no_nat_fields(shared_dir: Path) -> None:
    """Check Point writes destinationTranslatedAddress=0.0.0.0 and port 0 for "no NAT": no
    destination.nat; the real source translation is kept."""
    doc = run_sample(shared_dir, "cef/tenzir_checkpoint.log").documents[0]
    assert "nat" not in doc["destination"]
    assert doc["source"]["nat"] == {"ip": "192.168.103.254", "port": 35398}
    assert doc["related"]["ip"] == ["192.168.101.100", "52.173.84.157", "192.168.103.254"]
    assert doc["network"]["type"] == "ipv4"
