"""deploy/prometheus/: the rules and Alertmanager example pass Prometheus' own tools, every
alert is unit-tested firing and silent, and each links its section of docs/runbook.md."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from socd.telemetry.metrics import Metrics
from tests.prometheus_tools import program

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
ALERTMANAGER = PROM / "alertmanager.yml"
RULE_FILES = sorted(p for p in PROM.glob("*.yml") if p != ALERTMANAGER)
UNIT_TESTS = sorted((PROM / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"

# The alert names are a contract (DESIGN.md, issue 10): users, runbooks and routes rely on them.
ALERTS = ("ThreatSpike", "CriticalThreat", "SocdDown", "ConsumerLagGrowing",
          "DeadLettersGrowing", "ElasticsearchRejecting", "SensorSilent")


def _rules(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [rule for rule in group["rules"] if kind in rule]
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300,
                          cwd=PROM)


def _exported_names() -> set[str]:
    """Every series name socd's metrics produce (counters get _total, histograms parts)."""
    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


# ---------------------------------------------------------------- with Prometheus' tools


def test_rule_files_pass_promtool_check() -> None:
    """promtool check rules, with every lint and lint errors fatal, accepts every rule file."""
    result = _run(program("promtool"), "check", "rules", "--lint=all", "--lint-fatal",
                  *(p.name for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), result.stdout


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda p: p.stem)
def test_promtool_unit_tests_pass(unit_test: Path) -> None:
    """The alert unit tests (firing and silent cases) pass under promtool test rules.

    promtool evaluates rule groups in a random order at each step (as Prometheus may), so
    each file is run several times in one call: an expectation that holds only for one
    order of the recording and alerting groups fails here rather than now and then.
    """
    runs = [str(unit_test.relative_to(PROM))] * 6
    result = _run(program("promtool"), "test", "rules", *runs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_example_passes_amtool() -> None:
    """amtool check-config accepts the example Alertmanager configuration."""
    result = _run(program("amtool"), "check-config", ALERTMANAGER.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("alert", _rules("alert"), ids=lambda rule: rule["alert"])
def test_alertmanager_routes_each_alert_by_its_severity(alert: dict[str, Any]) -> None:
    """Each alert, with its own severity, reaches the pager (page) or the ticket queue
    (ticket), whatever its other labels."""
    expected = {"page": "on-call-pager", "ticket": "soc-tickets"}[alert["labels"]["severity"]]
    result = _run(program("amtool"), "config", "routes", "test",
                  f"--config.file={ALERTMANAGER.name}", f"alertname={alert['alert']}",
                  f"severity={alert['labels']['severity']}", "layer=2", "input=sensors.ndr")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected


# ---------------------------------------------------------------- the files themselves


def test_alerts_are_exactly_the_contract() -> None:
    """The rule files define the seven alerts of the contract, each once, and no other."""
    assert sorted(rule["alert"] for rule in _rules("alert")) == sorted(ALERTS)


@pytest.mark.parametrize("alert", _rules("alert"), ids=lambda rule: rule["alert"])
def test_alert_has_severity_and_annotations(alert: dict[str, Any]) -> None:
    """severity is page or ticket; summary, description and runbook_url are all there, and
    runbook_url points at the alert's own section of docs/runbook.md."""
    assert alert["labels"]["severity"] in ("page", "ticket")
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["runbook_url"] == (
        '{{ or $externalLabels.socd_runbook_url "docs/runbook.md" }}#' + alert["alert"])


def test_runbook_links_share_one_prefix() -> None:
    """One base for every runbook link, so that one external label re-points them all
    (deploy/README.md)."""
    prefixes = {rule["annotations"]["runbook_url"].split("#")[0] for rule in _rules("alert")}
    assert len(prefixes) == 1, prefixes


@pytest.mark.parametrize("alert", ALERTS)
def test_runbook_has_a_section_per_alert(alert: str) -> None:
    """docs/runbook.md has an anchor named exactly after the alert, a heading, and the three
    parts of a section: what it means, what to look at first, what usually fixes it."""
    text = RUNBOOK.read_text()
    assert f'<a id="{alert}"></a>' in text
    section = re.search(rf"^## {alert}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section is not None
    for part in ("**What it means.**", "**Look first.**", "**What usually fixes it.**"):
        assert part in section.group(1), part


def test_rules_use_only_metrics_that_exist() -> None:
    """Every metric an expression reads is exported by socd, recorded by a rule, or
    Prometheus' own `up`; every recorded rate an alert does not read is a dashboard's
    per-layer or per-class rate."""
    recorded = {rule["record"] for rule in _rules("record")}
    known = _exported_names() | recorded | {"up"}
    used = set()
    for rule in _rules("expr"):
        used |= set(re.findall(r"\bsocd_[a-z_]+\b|\b[a-z_]+:[a-z0-9_:]+\b|\bup\b",
                               rule["expr"]))
    assert used - known == set()
    unused = recorded - used  # recorded for dashboards only: the per-layer and per-class rates
    assert all(name.startswith(("layer:", "class:")) for name in unused), unused


def test_every_alert_is_tested_firing_and_silent() -> None:
    """The promtool tests check each alert at least once firing and once silent, and load
    the shipped rule files rather than copies."""
    cases: Counter[tuple[str, bool]] = Counter()
    for path in UNIT_TESTS:
        spec = yaml.safe_load(path.read_text())
        assert {"../socd-recording.yml", "../socd-alerts.yml"} <= set(spec["rule_files"])
        for test in spec["tests"]:
            for case in test["alert_rule_test"]:
                cases[(case["alertname"], bool(case["exp_alerts"]))] += 1
    for alert in ALERTS:
        assert cases[(alert, True)] >= 1, f"{alert} is never tested firing"
        assert cases[(alert, False)] >= 1, f"{alert} is never tested silent"
