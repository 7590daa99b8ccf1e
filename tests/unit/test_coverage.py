"""``socd rules coverage``: the rules each input meets, and a sample's classes per input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from socd.app import load_rules
from socd.config import load_config
from socd.coverage import as_json, coverage, parse_samples, write_text
from socd.errors import ConfigError

RULES = Path(__file__).resolve().parent.parent / "files" / "rules"

CONFIG = f"""\
kafka: {{bootstrap_servers: "127.0.0.1:9092", group_id: socd}}
inputs:
  - {{topic: sensors.cyradar, connector: cyradar, layer: 2, sensor: ndr, name: ndr}}
  - {{topic: sensors.firewall, connector: cef, layer: 1, sensor: fw,
     logsource: {{product: nothing-here}}}}
rules: {{paths: ["{RULES}"]}}
elasticsearch: {{hosts: ["http://127.0.0.1:9200"]}}
dead_letter: {{topic: socd.dead-letter}}
"""


def cyradar(alert_id: str, category: str, severity: int) -> str:
    return json.dumps({"alert_id": alert_id, "detected_at": "2020-06-15T08:12:44+07:00",
                       "sensor": {"id": "s1"}, "severity": severity, "category": category,
                       "threat_name": f"{category} test", "src": {"ip": "10.0.0.1"},
                       "dst": {"ip": "192.0.2.1"}, "action": "alerted"})


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "socd.yaml"
    path.write_text(CONFIG)
    return path


def test_sample_counts_by_class_with_the_rules_behind_them(
        config_path: Path, tmp_path: Path) -> None:
    """Each sample message counts once: critical, high-risk, not a threat or dead letter,
    with the classifying rule — the rules bound to the input as the daemon binds them."""
    sample = tmp_path / "ndr.jsonl"
    sample.write_text("\n".join([
        cyradar("a1", "apt_c2", 9),       # apt-ransomware-critical
        cyradar("a2", "ransomware", 8),   # apt-ransomware-critical
        cyradar("a3", "defacement", 2),   # defacement-layer1: critical
        cyradar("a4", "malware", 6),      # severity-high
        cyradar("a5", "scan", 2),         # no rule
        "{not json",
    ]) + "\n")
    config = load_config(config_path)
    result = coverage(config, load_rules(config),
                      parse_samples([f"sensors.cyradar={sample}"], config))
    ndr, firewall = result
    assert [rule.title for rule in ndr.rules] == [
        "Test - APT or ransomware at severity 8 or more",
        "Test - defacement, attributed to the on-site layer",
        "Test - anything at severity 6 or more"]
    assert firewall.rules == ()
    (counts,) = ndr.samples
    assert (counts.messages, counts.critical, counts.high_risk, counts.not_threat) == (6, 3, 1, 1)
    assert dict(counts.dead_letters) == {"not_json": 1}
    assert dict(counts.rules["critical"]) == {
        "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0001": 2, "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0003": 1}
    assert dict(counts.rules["high-risk"]) == {"0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0002": 1}

    text = io.StringIO()
    write_text(result, text, list_rules=False)
    report = text.getvalue()
    assert "6 messages → critical 3, high-risk 1, not a threat 1, dead letters 1 (not_json 1)" \
        in report
    assert "input sensors.firewall" in report
    assert "no rule can meet these events: none of them can become a threat" in report
    machine = as_json(result)
    assert machine[0]["samples"][0]["top_rules"]["critical"][0] == {
        "id": "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0001", "events": 2}
    assert machine[1]["rules"]["total"] == 0


def test_an_input_name_stands_for_its_topic(config_path: Path) -> None:
    config = load_config(config_path)
    assert parse_samples(["ndr=a.jsonl", "sensors.cyradar=b.jsonl"], config) == {
        "sensors.cyradar": ["a.jsonl", "b.jsonl"]}


@pytest.mark.parametrize(("argument", "message"), [
    ("sensors.unknown=a.jsonl", "'sensors.unknown' is not an input's topic or name"),
    ("a.jsonl", "'a.jsonl' is not TOPIC=FILE"),
    ("=a.jsonl", "'=a.jsonl' is not TOPIC=FILE"),
])
def test_a_sample_argument_that_names_no_input_is_refused(
        config_path: Path, argument: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_samples([argument], load_config(config_path))
    assert message in str(caught.value)


def test_rule_list_shows_each_rule_once_with_its_level(config_path: Path) -> None:
    config = load_config(config_path)
    text = io.StringIO()
    write_text(coverage(config, load_rules(config), {}), text, list_rules=True)
    lines = [line.split() for line in text.getvalue().splitlines() if line.startswith("    ")]
    assert [line[0] for line in lines] == ["critical", "critical", "high"]


def test_the_command_reads_a_sample_from_standard_input(config_path: Path) -> None:
    """``socd rules coverage -c CONFIG --sample TOPIC=-``: the report on stdout, the input
    with no rule warned about on stderr, exit 0; an unknown topic is one line and exit 2."""
    import subprocess
    import sys

    sample = cyradar("b1", "apt_c2", 9) + "\n" + cyradar("b2", "scan", 1) + "\n"
    done = subprocess.run(
        [sys.executable, "-m", "socd", "rules", "coverage", "-c", str(config_path),
         "--sample", "ndr=-", "--format", "json"],
        input=sample, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(s["messages"], s["critical"], s["not_threat"]) for s in report[0]["samples"]] == [
        (2, 1, 1)]
    assert "no rule meets this input's events" in done.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "socd", "rules", "coverage", "-c", str(config_path),
         "--sample", "sensors.other=x"], capture_output=True, text=True, timeout=120,
        check=False)
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "socd: --sample: sensors.other=x: 'sensors.other' is not an input's topic or name "
        "(the inputs' topics: sensors.cyradar, sensors.firewall)"]
