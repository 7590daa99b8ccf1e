"""``socd check-config`` (socd.check): every problem in one run, placed and sorted; warnings
for what works but does nothing; the start-up counts and warnings of ``socd run``."""

from __future__ import annotations

import io
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from socd.app import Daemon
from socd.check import check, rules_loaded
from socd.cli import check_config
from socd.config import Config, load_config
from socd.normalize import build_normalizer, builtin_connectors
from socd.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]

RULE = """\
title: Cyradar critical
id: 0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01
status: test
level: critical
logsource: {product: cyradar}
detection:
  sel:
    event.severity: 10
  condition: sel
"""

CONFIG = """\
kafka:
  group_id: socd
inputs:
  - topic: sensors.cyradar
    connector: cyradar
    layer: 2
    sensor: ndr
rules:
  paths: [rules]
"""


def setup(tmp_path: Path, config: str = CONFIG, rule: str | None = RULE) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    if rule is not None:
        (tmp_path / "rules" / "r.yml").write_text(rule)
    path = tmp_path / "socd.yaml"
    path.write_text(config)
    return path


def run_check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = check_config(path, out, err)
    return status, out.getvalue(), err.getvalue()


def test_a_clean_configuration_says_what_it_loaded(tmp_path: Path) -> None:
    """Exit 0, nothing on stderr, the inputs and rules counted on stdout."""
    assert run_check(setup(tmp_path)) == (
        0, "socd: configuration OK: 1 input, 1 rule loaded (0 correlations)\n", "")


def test_issue_example_every_problem_in_one_run(tmp_path: Path) -> None:
    """An unknown connector and a missing rules folder are reported with the other problems
    (not after they are fixed), each with file:line and key, sorted by line."""
    text = CONFIG.replace("connector: cyradar", "connector: cyradr").replace(
        "[rules]", "[rules, missing-rules]").replace("rules:\n", (
            "  - topic: bad topic\n    connector: suricata\n    layer: 5\n    sensor: ids\n"
            "  - topic: ok.topic\n    connector: no-such\n    layer: 9\n    sensor: ids\n"
            "metrics: {listen: nowhere}\nrules:\n"))
    status, out, err = run_check(setup(tmp_path, text))
    at = f"{tmp_path}/socd.yaml"
    known = ", ".join(builtin_connectors())
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "socd: 7 problems and 1 warning:",
        f"  {at}:5: inputs.0.connector: unknown connector 'cyradr'; use one of {known}, or "
        "the path of a mapping file",
        f"  {at}:8: inputs.1.topic: Kafka refuses ' ' in a topic name 'bad topic': use only "
        "ASCII letters, digits, '.', '_' and '-'",
        f"  {at}:9: inputs.1.connector: warning: no rule meets this input's events (logsource "
        "{product: suricata}): they are counted, but none can become a threat; add rules for "
        "this logsource, or set the input's logsource to the one its rules name",
        f"  {at}:10: inputs.1.layer: must be one of 1, 2, 3 or 4, not 5",
        f"  {at}:13: inputs.2.connector: unknown connector 'no-such'; use one of {known}, or "
        "the path of a mapping file",
        f"  {at}:14: inputs.2.layer: must be one of 1, 2, 3 or 4, not 9",
        f"  {at}:16: metrics.listen: 'nowhere' is not HOST:PORT (for example 127.0.0.1:9464); an "
        "empty value turns the endpoint off (listen: \"\" in the file, SOCD_METRICS__LISTEN= "
        "in the environment)",
        f"  {at}:18: rules.paths.1: {tmp_path}/missing-rules: no such file or folder: create "
        "it or correct the path (a relative path is relative to the config file's folder)",
    ]


def test_zero_rules_is_an_error(tmp_path: Path) -> None:
    """A rules folder with no rule: without rules nothing is a threat (exit 2, on the line
    of rules.paths). The daemon refuses to start the same way."""
    path = setup(tmp_path, rule=None)
    status, _, err = run_check(path)
    assert status == 2
    assert err == (f"socd: {tmp_path}/socd.yaml:9: rules.paths: no rule loaded from "
                   f"{tmp_path}/rules: without rules no event can become a threat; put Sigma "
                   "rule files (.yml, .yaml) there or correct rules.paths\n")
    from socd.app import load_rules
    from socd.errors import RuleError

    with pytest.raises(RuleError) as caught:
        load_rules(load_config(path, {}))
    assert "rules.paths: no rule loaded" in str(caught.value)


@pytest.mark.parametrize("connector", sorted(builtin_connectors()))
def test_an_input_no_rule_meets_is_a_warning(tmp_path: Path, connector: str) -> None:
    """Over every built-in connector, with one rule for product cyradar: an input whose
    logsource no rule meets gets a warning on its connector line (exit 0, its events can
    never be threats); one that a rule meets gets none."""
    text = CONFIG.replace("connector: cyradar", f"connector: {connector}")
    status, out, err = run_check(setup(tmp_path, text))
    logsource = build_normalizer(connector, sensor="s", timezone="UTC").logsource
    assert status == 0 and out.startswith("socd: configuration OK")
    if logsource.get("product") == "cyradar":
        assert err == ""
        return
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(logsource.items()))
    shown = f"logsource {{{shown}}}" if shown else "no logsource"
    assert err == (f"socd: {tmp_path}/socd.yaml:5: inputs.0.connector: warning: no rule meets "
                   f"this input's events ({shown}): they are counted, but none "
                   "can become a threat; add rules for this logsource, or set the input's "
                   "logsource to the one its rules name\n")


def test_an_input_logsource_of_its_own_is_named(tmp_path: Path) -> None:
    """With inputs[].logsource set, the warning is on that line; matching it silences it."""
    text = CONFIG.replace("    sensor: ndr\n", "    sensor: ndr\n    logsource: {product: x}\n")
    status, _, err = run_check(setup(tmp_path, text))
    assert status == 0 and f"{tmp_path}/socd.yaml:8: inputs.0.logsource: warning:" in err
    text = CONFIG.replace("    sensor: ndr\n", "    sensor: ndr\n    logsource: "
                          "{product: cyradar, category: ids}\n")
    assert run_check(setup(tmp_path, text))[2] == ""


def test_a_rule_asking_to_share_while_sharing_is_off_warns_at_check_and_at_start(
        tmp_path: Path) -> None:
    """``socd: share: true`` in a rule with no ``sharing`` section: a warning (exit 0), at
    check-config and in the daemon's start-up log, with file, line and key; with sharing on,
    nothing is said."""
    rule = RULE.replace("status: test\n", "status: test\nsocd:\n  layer: 4\n  share: true\n")
    path = setup(tmp_path, CONFIG, rule)
    status, _, err = run_check(path)
    assert status == 0
    assert err.splitlines() == [
        f"socd: {tmp_path}/rules/r.yml:6: socd.share: warning: this rule asks for its threats to "
        "be shared with the national centre, but layer-4 sharing is off (no 'sharing' "
        "section in the configuration, or sharing.enabled is false): nothing is shared; "
        "configure sharing (README, 'Sharing with the national centre') or remove 'share'",
    ]
    with capture_logs() as logs:
        Daemon(load_config(path, {}))._prepare()
    warned = [(entry["file"], entry["line"], entry["key"])
              for entry in logs if entry["event"] == "config_warning"]
    assert warned == [(f"{tmp_path}/rules/r.yml", 6, "socd.share")]
    path = setup(tmp_path, CONFIG + "sharing:\n  identity: {name: So TTTT}\n"
                 "  redact: {domains: [bp.gov.vn]}\n", rule)
    assert run_check(path)[::2] == (0, "")


@pytest.mark.parametrize(("by", "warned"), [
    ("[source.ip, destination.port]", []),
    ("[source.adress]", ["source.adress"]),
    ("[src_ip, source.ip]", ["src_ip"]),
])
def test_a_suppression_key_the_connector_never_writes_is_a_warning(
        tmp_path: Path, by: str, warned: list[str]) -> None:
    """``suppress.by`` naming a field the input's connector never writes (a typo, a raw
    vendor name): a warning on the input's key and on the rule's line (exit 0); the
    connector's own fields say nothing."""
    config = CONFIG.replace("    sensor: ndr\n",
                            f"    sensor: ndr\n    suppress: {{by: {by}, for: 10m}}\n")
    rule = RULE.replace("status: test\n",
                        f"status: test\nsocd:\n  suppress: {{by: {by}, for: 1h}}\n")
    status, _, err = run_check(setup(tmp_path, config, rule))
    assert status == 0
    lines = err.splitlines()
    if not warned:
        assert lines == []
        return
    assert lines[0] == "socd: 2 warnings:"
    assert lines[1].startswith(f"  {tmp_path}/rules/r.yml:5: socd.suppress: warning: "
                               f"suppress.by names {warned[0]}, which the connectors of the "
                               "inputs this rule meets (sensors.cyradar) never write")
    assert lines[2].startswith(f"  {tmp_path}/socd.yaml:8: inputs.0.suppress.by: warning: "
                               f"the cyradar connector never writes {warned[0]}:")


def test_a_wrong_suppression_stops_start_up_with_its_key(tmp_path: Path) -> None:
    config = CONFIG.replace("    sensor: ndr\n",
                            "    sensor: ndr\n    suppress: {by: [], for: 10m}\n")
    status, _, err = run_check(setup(tmp_path, config))
    assert status == 2
    assert "socd.yaml:8: inputs.0.suppress.by: name at least one field" in err
    config = CONFIG.replace("    sensor: ndr\n",
                            "    sensor: ndr\n    suppress:\n      by: source.ip\n"
                            "      for: 10mn\n")
    status, _, err = run_check(setup(tmp_path, config))
    assert status == 2
    assert "socd.yaml:10: inputs.0.suppress.for: '10mn' is not a duration" in err


def test_sharing_without_the_departments_name_is_an_error(tmp_path: Path) -> None:
    path = setup(tmp_path, CONFIG + "sharing:\n  min_class: high-risk\n")
    status, _, err = run_check(path)
    assert status == 2
    assert (f"{tmp_path}/socd.yaml:10: sharing.identity.name: the department's name is not "
            "set: name it") in err


def test_rules_loaded_agree_in_metric_logs_and_check(tmp_path: Path) -> None:
    """The metric socd_rules_loaded, the start-up log and check-config count the same:
    detection rules plus correlation rules (the shipped set has both)."""
    text = CONFIG.replace("[rules]", f"[{ROOT / 'rules'}]")
    path = setup(tmp_path, text)
    found = check(path, {})
    assert found.rules is not None and found.rules.correlations and found.rules.rules
    expected = len(found.rules.rules) + len(found.rules.correlations)
    metrics = Metrics()
    with capture_logs() as logs:
        Daemon(load_config(path, {}), metrics)._prepare()
    logged = [entry for entry in logs if entry["event"] == "rules_loaded"]
    assert [entry["rules_loaded"] for entry in logged] == [expected]
    assert metrics.registry.get_sample_value("socd_rules_loaded") == expected
    assert rules_loaded(found.rules) == expected
    assert f"{expected} rules loaded ({len(found.rules.correlations)} correlation" in run_check(
        path)[1]


def test_a_missing_mapping_file_is_on_the_connector_line(tmp_path: Path) -> None:
    """A mapping-file path that does not exist is placed on the input's connector line."""
    text = CONFIG.replace("connector: cyradar", "connector: maps/vendor.yaml")
    status, _, err = run_check(setup(tmp_path, text))
    assert status == 2
    assert err == (f"socd: {tmp_path}/socd.yaml:5: inputs.0.connector: mapping file "
                   f"{tmp_path}/maps/vendor.yaml: no such file: check the path\n")


def test_rule_problems_join_config_problems_sorted(tmp_path: Path) -> None:
    """Problems of rule files come with those of the config file, each file in line order."""
    broken = RULE.replace("level: critical", "level: severe").replace(
        "event.severity: 10", "event.severity|gte: abc")
    path = setup(tmp_path, CONFIG.replace("layer: 2", "layer: 0"), broken)
    status, _, err = run_check(path)
    lines = err.splitlines()
    assert status == 2 and lines[0] == "socd: 3 problems:"
    assert lines[1].startswith(f"  {tmp_path}/rules/r.yml:4: level: 'severe' is not a valid")
    assert lines[2] == (f"  {tmp_path}/rules/r.yml:8: detection.sel.event.severity|gte: the "
                        "'gte' modifier takes a number, not 'abc': change the value, or use "
                        "another modifier")
    assert lines[3].startswith(f"  {tmp_path}/socd.yaml:6: inputs.0.layer:")


def test_the_example_configuration_is_clean() -> None:
    """deploy/socd.example.yaml with the shipped rules (as the demo runs it): no problem and
    no warning: every input meets a shipped policy, and no shipped rule asks for a feature
    that is not built."""
    environ = {"SOCD_RULES__PATHS": str(ROOT / "rules")}
    found = check(ROOT / "deploy" / "socd.example.yaml", environ)
    assert found.errors == []
    assert found.warnings == []


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every configuration key, sections and their keys."""
    for field_name, info in model.model_fields.items():
        name = info.alias or field_name  # as written in the file ("for", not "for_")
        yield prefix + name, name
        for kind in (info.annotation, *typing.get_args(info.annotation)):
            for inner in (kind, *typing.get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _keys(inner, f"{prefix}{name}.")


def test_the_example_configuration_lists_every_key() -> None:
    """The README says deploy/socd.example.yaml lists every key: each key of every section
    appears in it, set or commented out."""
    text = (ROOT / "deploy" / "socd.example.yaml").read_text()
    missing = [path for path, key in _keys(Config)
               if not re.search(rf"(^|[\s{{,#]){re.escape(key)}:", text, re.MULTILINE)]
    assert missing == []


def test_an_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    """A missing file, a folder, bytes that are not UTF-8, YAML that is not a mapping."""
    cases = {
        tmp_path / "none.yaml": "no such file: check the path",
        tmp_path: "this is a folder: give the path of a file",
    }
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kafka:\n  group_id: caf\xe9\n")
    cases[latin] = "the file is not UTF-8 text (byte 0xe9 at offset 22): save it as UTF-8"
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    cases[listed] = "the file must be a YAML mapping of sections"
    for path, message in cases.items():
        status, out, err = run_check(path)
        assert (status, out) == (2, "") and err.startswith(f"socd: {path}") and message in err
        assert err.count("\n") == 1
