"""Processing pipelines: rules fitted to the events of an input (``inputs[].pipelines``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from socd.classify import RuleSet
from socd.classify.pipelines import builtin_names
from socd.errors import RuleError

WriteRule = Callable[..., Path]
WINDOWS = ("windows",)
SYSMON = "Microsoft-Windows-Sysmon/Operational"
CMD = {"s": {"Image|endswith": "\\cmd.exe"}, "condition": "s"}


def _event(event_id: Any, channel: str = SYSMON, image: str = "C:\\Windows\\cmd.exe"
           ) -> dict[str, Any]:
    return {"EventID": event_id, "Channel": channel, "Image": image}


def test_windows_pipeline_turns_logsources_into_conditions(
    write_rule: WriteRule, tmp_path: Path
) -> None:
    """Fitted with ``windows``, a process_creation rule meets an input of product windows and
    matches Sysmon's event 1 only; unfitted, it meets no such input (its category is not the
    input's), and ignoring logsource it matches any event."""
    write_rule(CMD, logsource={"product": "windows", "category": "process_creation"},
               title="process")
    write_rule(CMD, logsource={"product": "windows", "service": "security"}, title="security")
    write_rule(CMD, logsource={"product": "linux", "category": "process_creation"},
               title="linux")
    rules, problems = RuleSet.load([tmp_path], pipelines=[(), WINDOWS])
    assert problems == [] and rules.pipelines == ((), WINDOWS)
    fitted = rules.bind({"product": "windows"}, pipelines=WINDOWS)
    assert [r.title for r in fitted.rules] == ["process", "security"]

    def titles(event: dict[str, Any]) -> list[str]:
        return [r.title for r in fitted.match(event)]

    assert titles(_event(1)) == ["process"]
    assert titles(_event("1")) == ["process"]
    assert titles(_event(3)) == []
    assert titles(_event(1, channel="Security")) == ["security"]
    assert titles(_event(4688, channel="Security")) == ["security"]
    assert [r.title for r in rules.bind({"product": "windows"}).rules] == []
    assert len(rules.bind(None).match(_event(3))) == 3


def test_pipeline_file_maps_fields(write_rule: WriteRule, tmp_path: Path) -> None:
    """A pipeline YAML file (pySigma's format) renames the rules' fields for ECS events."""
    write_rule(CMD, name="rules/r.yml", logsource={"product": "windows"})
    pipeline = tmp_path / "ecs.yml"
    pipeline.write_text(
        "name: to ECS\npriority: 20\ntransformations:\n"
        "  - id: image\n    type: field_name_mapping\n"
        "    mapping:\n      Image: process.executable\n", encoding="utf-8")
    rules, problems = RuleSet.load([tmp_path / "rules"], pipelines=[(str(pipeline),)])
    assert problems == []
    bound = rules.bind({"product": "windows"}, pipelines=(str(pipeline),))
    assert bound.match({"process": {"executable": "C:\\Windows\\System32\\CMD.EXE"}})
    assert not bound.match({"Image": "C:\\Windows\\System32\\cmd.exe"})
    with pytest.raises(KeyError, match="not loaded with pipelines"):
        rules.bind(None)


def test_unknown_and_broken_pipelines_are_problems(write_rule: WriteRule,
                                                   tmp_path: Path) -> None:
    """A pipeline that is neither a known name nor a readable pySigma pipeline file is a
    problem naming it and what to give instead; strict loading refuses the rules."""
    write_rule(CMD, name="rules/r.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("transformations:\n  - type: no_such_transformation\n")
    rules, problems = RuleSet.load(
        [tmp_path / "rules"], strict=False,
        pipelines=[(), ("no-such-pipeline",), (str(broken),), (str(tmp_path / "gone.yml"),)])
    messages = {p.file: p.message for p in problems}
    assert "unknown pipeline 'no-such-pipeline'" in messages["no-such-pipeline"]
    assert "windows" in messages["no-such-pipeline"]  # the names that would work
    assert "not a valid pySigma pipeline" in messages[str(broken)]
    assert "cannot read the pipeline" in messages[str(tmp_path / "gone.yml")]
    assert rules.pipelines == ((),)
    with pytest.raises(RuleError):
        RuleSet.load([tmp_path / "rules"], pipelines=[("no-such-pipeline",)])


def test_several_fittings_of_one_rule_set_stay_apart(write_rule: WriteRule,
                                                    tmp_path: Path) -> None:
    """Two inputs with different pipelines each get the rules fitted their way (the first
    fitting works on copies), and the unfitted rules stay as written."""
    write_rule(CMD, name="rules/r.yml", logsource={"product": "windows",
                                                    "category": "process_creation"})
    ecs = tmp_path / "ecs.yml"
    ecs.write_text("name: ecs\npriority: 20\ntransformations:\n  - type: field_name_mapping\n"
                   "    mapping:\n      Image: process.executable\n", encoding="utf-8")
    rules, problems = RuleSet.load([tmp_path / "rules"],
                                   pipelines=[(), WINDOWS, (str(ecs),), ("windows", str(ecs))])
    assert problems == []
    windows = {"product": "windows"}
    assert rules.bind(None).match(_event(3))
    assert rules.bind(windows, pipelines=WINDOWS).match(_event(1))
    assert not rules.bind(windows, pipelines=WINDOWS).match(_event(3))
    ecs_event = {"process": {"executable": "C:\\cmd.exe"}}
    assert rules.bind(None, pipelines=(str(ecs),)).match(ecs_event)
    both = rules.bind(windows, pipelines=("windows", str(ecs)))
    assert both.match({**ecs_event, "EventID": 1, "Channel": SYSMON})
    assert not both.match(ecs_event)


def test_builtin_pipelines_are_listed() -> None:
    assert "windows" in builtin_names()


def test_winlogbeat_after_windows_reaches_winlog_fields(write_rule: WriteRule,
                                                       tmp_path: Path) -> None:
    """``[windows, winlogbeat]`` fits rules to events as Winlogbeat ships them: EventData
    under winlog.event_data, the channel and event id (a string there) under winlog; fields
    already dotted stay as written."""
    write_rule({"s": {"Image|endswith": "\\cmd.exe", "host.name": "dc01"}, "condition": "s"},
               logsource={"product": "windows", "category": "process_creation"})
    fitting = ("windows", "winlogbeat")
    rules, problems = RuleSet.load([tmp_path], pipelines=[fitting])
    assert problems == []
    bound = rules.bind({"product": "windows"}, pipelines=fitting)
    event = {"@timestamp": "2026-11-22T10:00:00Z", "host": {"name": "DC01"},
             "winlog": {"channel": SYSMON, "event_id": "1",
                        "event_data": {"Image": "C:\\Windows\\System32\\cmd.exe"}}}
    assert bound.match(event)
    assert not bound.match({**event, "winlog": {**event["winlog"], "event_id": "3"}})
    assert not bound.match({"Image": "C:\\cmd.exe", "EventID": 1, "Channel": SYSMON})


def test_plugin_pipelines_are_found_by_name(write_rule: WriteRule, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that is not socd's own is looked up among the pipelines installed pySigma
    plugins register (here a stand-in registry); one that fails to build is a problem."""
    from sigma.processing.pipeline import ProcessingPipeline

    import socd.classify.pipelines as pipelines_module

    mapping = ProcessingPipeline.from_yaml(
        "name: plugin\npriority: 20\ntransformations:\n  - type: field_name_mapping\n"
        "    mapping:\n      Image: process.executable\n")

    def broken() -> ProcessingPipeline:
        raise RuntimeError("needs a newer pySigma")

    monkeypatch.setattr(pipelines_module, "_plugin_pipelines",
                        lambda: {"ecs_test": lambda: mapping, "broken_test": broken})
    write_rule(CMD, name="rules/r.yml")
    rules, problems = RuleSet.load([tmp_path / "rules"], strict=False,
                                   pipelines=[("ecs_test",), ("broken_test",)])
    assert [p.message for p in problems] == [
        "pipeline plugin failed: needs a newer pySigma"]
    bound = rules.bind(None, pipelines=("ecs_test",))
    assert bound.match({"process": {"executable": "C:\\cmd.exe"}})


def test_change_logsource_retargets_the_rule(write_rule: WriteRule, tmp_path: Path) -> None:
    """A pipeline's change_logsource decides which inputs the fitted rule meets: a dns
    category rule made product zeek, service dns meets the Zeek dns input, not its old one."""
    write_rule({"s": {"query|endswith": ".onion"}, "condition": "s"}, name="rules/dns.yml",
               logsource={"category": "dns"}, title="dns")
    pipeline = tmp_path / "zeek.yml"
    pipeline.write_text(
        "name: retarget\npriority: 20\ntransformations:\n"
        "  - type: change_logsource\n    product: zeek\n    service: dns\n"
        "    rule_conditions:\n      - type: logsource\n        category: dns\n")
    fitting = (str(pipeline),)
    rules, problems = RuleSet.load([tmp_path / "rules"], pipelines=[(), fitting])
    assert problems == []
    zeek_dns = {"product": "zeek", "service": "dns"}
    assert [r.title for r in rules.bind(zeek_dns, pipelines=fitting).rules] == ["dns"]
    assert rules.bind({"category": "dns"}, pipelines=fitting).rules == ()
    assert [r.title for r in rules.bind({"category": "dns"}).rules] == ["dns"]  # unfitted
    assert rules.bind(zeek_dns).rules == ()


@pytest.mark.parametrize("name", ["zeek", "suricata"])
def test_sensor_pipelines_are_builtin(name: str) -> None:
    """socd ships a pipeline for each sensor whose events SigmaHQ's rules fit."""
    assert name in builtin_names()
