"""``socd rules validate`` and ``socd rules test`` behaviour (tools.validate / tools.test)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from socd.classify import tools

WriteRule = Callable[..., Path]
CRITICAL_ID = "5a1e2b3c-0000-4000-8000-0000000000c1"
MEDIUM_ID = "5a1e2b3c-0000-4000-8000-0000000000e1"


@pytest.fixture
def rule_dir(write_rule: WriteRule, tmp_path: Path) -> Path:
    write_rule({"s": {"rule.category": "apt_c2"}, "condition": "s"}, name="rules/c2.yml",
               id=CRITICAL_ID, level="critical", logsource={"product": "cyradar"})
    write_rule({"s": {"rule.category|startswith": "apt"}, "condition": "s"},
               name="rules/apt.yml", id=MEDIUM_ID, level="medium")
    return tmp_path / "rules"


def _events(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_rules_test_prints_one_line_per_input_line(rule_dir: Path, tmp_path: Path) -> None:
    """Each line gets its matches and class; logsource is ignored; bad lines get an error."""
    events = _events(
        tmp_path,
        json.dumps({"rule": {"category": "apt_c2"}}),
        json.dumps({"rule": {"category": "apt_x"}}),
        json.dumps({"rule": {"category": "scan"}}),
        "",
        "{not json",
        "[1, 2]",
    )
    out = io.StringIO()
    assert tools.test([str(rule_dir)], events, strict=False, out=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"line": 1, "matches": [CRITICAL_ID, MEDIUM_ID], "class": "critical"}
    assert lines[1] == {"line": 2, "matches": [MEDIUM_ID], "class": None}
    assert lines[2] == {"line": 3, "matches": [], "class": None}
    assert [line["line"] for line in lines[3:]] == [4, 5, 6]
    assert all(set(line) == {"line", "error"} for line in lines[3:])


def test_rules_test_reports_bad_rules_and_goes_on(
    rule_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule that cannot load is reported on stderr; the others still run (exit 0)."""
    (rule_dir / "broken.yml").write_text("title: x\nlevel: high\n")
    events = _events(tmp_path, json.dumps({"rule": {"category": "apt_c2"}}))
    out = io.StringIO()
    assert tools.test([str(rule_dir)], events, strict=False, out=out) == 0
    assert "broken.yml" in capsys.readouterr().err
    assert json.loads(out.getvalue())["class"] == "critical"


def test_rules_test_strict_exits_2(
    rule_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With strict, a rule that cannot load makes the run exit 2 without evaluating."""
    (rule_dir / "broken.yml").write_text("title: x\nlevel: high\n")
    events = _events(tmp_path, json.dumps({"rule": {"category": "apt_c2"}}))
    out = io.StringIO()
    assert tools.test([str(rule_dir)], events, strict=True, out=out) == 2
    assert out.getvalue() == ""
    assert "broken.yml" in capsys.readouterr().err


def test_rules_test_missing_events_file(rule_dir: Path, tmp_path: Path) -> None:
    """An events file that cannot be read exits 2."""
    out = io.StringIO()
    assert tools.test([str(rule_dir)], str(tmp_path / "none.jsonl"), strict=False, out=out) == 2


def test_validate_ok(rule_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Valid rules: exit 0 and nothing printed."""
    assert tools.validate([str(rule_dir)]) == 0
    assert capsys.readouterr().err == ""


def test_validate_prints_file_and_line(rule_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each problem is one 'file:line: message' line on stderr; exit 2."""
    bad = rule_dir / "bad.yml"
    bad.write_text(
        "title: t\nid: 5a1e2b3c-0000-4000-8000-0000000000f1\nlevel: high\n"
        "logsource: {product: x}\nsocd: {layer: 7}\n"
        "detection: {s: {a|nosuch: 1}, condition: s}\n"
    )
    assert tools.validate([str(rule_dir)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert all(line.startswith(f"{bad}:") for line in err)
    assert any(line.startswith(f"{bad}:5: ") and "layer" in line for line in err)
    assert any(line.startswith(f"{bad}:6: ") and "nosuch" in line for line in err)


def test_validate_output_is_only_problem_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A broken regular expression is one problem line; nothing else reaches stderr."""
    bad = tmp_path / "regex.yml"
    bad.write_text(
        "title: t\nid: 5a1e2b3c-0000-4000-8000-0000000000f2\nlevel: high\n"
        "logsource: {product: x}\ndetection:\n  s: {a|re: '(unclosed'}\n  condition: s\n"
    )
    assert tools.validate([str(bad)]) == 2
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{bad}:6: ") and "unclosed" in err[0]


def test_rules_test_and_validate_fit_rules_with_pipelines(
    write_rule: WriteRule, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--pipeline windows`` fits the rules first (a Sysmon process rule then matches event
    id 1 only); an unknown pipeline is reported and exits 2, in both tools."""
    write_rule({"s": {"Image|endswith": "\\cmd.exe"}, "condition": "s"}, name="w/p.yml",
               id=CRITICAL_ID, level="critical",
               logsource={"product": "windows", "category": "process_creation"})
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    events = _events(tmp_path, *(json.dumps({"EventID": n, "Channel": sysmon,
                                             "Image": "C:\\cmd.exe"}) for n in (1, 3)))
    out = io.StringIO()
    assert tools.test([str(tmp_path / "w")], events, strict=True, out=out,
                      pipelines=["windows"]) == 0
    assert [json.loads(line)["matches"] for line in out.getvalue().splitlines()] == [
        [CRITICAL_ID], []]
    assert tools.validate([str(tmp_path / "w")], pipelines=["windows"]) == 0
    capsys.readouterr()
    assert tools.test([str(tmp_path / "w")], events, strict=False, out=io.StringIO(),
                      pipelines=["nope"]) == 2
    assert tools.validate([str(tmp_path / "w")], pipelines=["nope"]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().err
