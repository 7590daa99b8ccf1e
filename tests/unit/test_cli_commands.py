"""Every sub-command, run as a user runs it (a subprocess), given what a user gets wrong:
one clear line and the documented exit status (0 ok, 1 runtime failure, 2 usage, config or
rules), never a Python traceback."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]

RULE = """\
title: Cyradar critical
id: 0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c02
status: test
level: critical
logsource: {product: cyradar}
detection:
  sel:
    event.severity: 10
  condition: sel
"""

CYRADAR = (b'{"alert_id": "a-1", "detected_at": "2024-05-01T10:00:00+07:00", "severity": 10, '
           b'"category": "apt_c2", "threat_name": "C2 beacon", "src": {"ip": "10.0.0.5"}, '
           b'"dst": {"ip": "203.0.113.9"}, "action": "blocked"}')


def config_text(rules: str = "rules", kafka: str = "127.0.0.1:1",
                elasticsearch: str = "http://127.0.0.1:1", listen: str = "") -> str:
    return f"""\
kafka: {{bootstrap_servers: "{kafka}"}}
inputs:
  - {{topic: sensors.cyradar, connector: cyradar, layer: 2, sensor: ndr}}
rules: {{paths: [{rules}], watch: false}}
elasticsearch: {{hosts: ["{elasticsearch}"], retry_backoff_max: 0.5}}
metrics: {{listen: "{listen}"}}
"""


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good and bad inputs for the commands."""
    base = tmp_path_factory.mktemp("cli")
    (base / "rules").mkdir()
    (base / "rules" / "r.yml").write_text(RULE)
    (base / "empty").mkdir()
    (base / "folder").mkdir()
    (base / "latin").mkdir()
    (base / "latin" / "r.yml").write_bytes(RULE.encode().replace(b"Cyradar", b"Cyr\xe1dar"))
    (base / "latin.txt").write_bytes(b"caf\xe9\n")
    (base / "events.jsonl").write_bytes(CYRADAR + b"\n")
    (base / "good.yaml").write_text(config_text())
    (base / "console.yaml").write_text(config_text().replace("layer: 2", "layer: 7") +
                                       "logging: {format: console}\n")
    (base / "kibana.yaml").write_text(config_text() + "kibana: {url: https://kibana.example}\n")
    (base / "norules.yaml").write_text(config_text(rules="empty"))
    (base / "bad.yaml").write_text(config_text().replace("layer: 2", "layer: 7"))
    (base / "list.yaml").write_text("- a\n")
    (base / "blank.yaml").write_text("")
    return base


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    status: int
    needle: str
    """Text the user is told (on stderr)."""
    one_line: bool = True
    """Whether stderr is exactly one line (not when a library or the daemon logs too)."""


CASES: dict[str, Case] = {
    # the command itself
    "no command": Case((), 2, "the following arguments are required", one_line=False),
    "unknown command": Case(("nope",), 2, "invalid choice: 'nope'", one_line=False),
    # check-config
    "check-config missing file": Case(("check-config", "-c", "{p}/none.yaml"), 2,
                                      "{p}/none.yaml: no such file: check the path"),
    "check-config folder": Case(("check-config", "-c", "{p}/folder"), 2,
                                "{p}/folder: this is a folder: give the path of a file"),
    "check-config not UTF-8": Case(("check-config", "-c", "{p}/latin.txt"), 2,
                                   "the file is not UTF-8 text (byte 0xe9 at offset 3)"),
    "check-config not a mapping": Case(("check-config", "-c", "{p}/list.yaml"), 2,
                                       "the file must be a YAML mapping of sections"),
    "check-config blank": Case(("check-config", "-c", "{p}/blank.yaml"), 2,
                               "inputs: required key is missing: add it"),
    "check-config no rules": Case(("check-config", "-c", "{p}/norules.yaml"), 2,
                                  "rules.paths: no rule loaded from {p}/empty"),
    "check-config bad value": Case(("check-config", "-c", "{p}/bad.yaml"), 2,
                                   "inputs.0.layer: must be one of 1, 2, 3 or 4, not 7"),
    # run
    # run: configuration problems are JSON log lines (logging.format json, the default, or a
    # file that cannot be read), checked line by line below; text when the file says console
    "run missing file": Case(("run", "-c", "{p}/none.yaml"), 2, "no such file", one_line=False),
    "run bad value": Case(("run", "-c", "{p}/bad.yaml"), 2, '"key": "inputs.0.layer", '
                          '"message": "must be one', one_line=False),
    "run no rules": Case(("run", "-c", "{p}/norules.yaml"), 2, '"key": "rules.paths", '
                         '"message": "no rule loaded', one_line=False),
    "run not a mapping": Case(("run", "-c", "{p}/list.yaml"), 2, "a YAML mapping of sections",
                              one_line=False),
    "run bad value, console": Case(("run", "-c", "{p}/console.yaml"), 2,
                                   "socd: {p}/console.yaml:3: inputs.0.layer: must be one"),
    "run servers unreachable": Case(("run", "-c", "{p}/good.yaml"), 1,
                                    '"event.action": "fatal"',
                                    one_line=False),
    # setup
    "setup missing file": Case(("setup", "-c", "{p}/none.yaml"), 2, "no such file"),
    "setup unreachable": Case(("setup", "-c", "{p}/good.yaml"), 1,
                              "socd: setup failed at http://127.0.0.1:1: ", one_line=False),
    # a bad Kibana URL stops before Elasticsearch is touched (it is unreachable here: exit 1)
    "setup bad --kibana": Case(("setup", "-c", "{p}/good.yaml", "--kibana", "not-a-url"), 2,
                               "socd: --kibana 'not-a-url' is not an http:// or https:// URL"),
    "setup bad --kibana, good key": Case(
        ("setup", "-c", "{p}/kibana.yaml", "--kibana", "kibana:5601"), 2,
        "socd: --kibana 'kibana:5601' is not an http:// or https:// URL"),
    "setup --kibana without a URL": Case(("setup", "-c", "{p}/good.yaml", "--kibana"), 2,
                                         "socd: <config>: kibana.url: no Kibana URL: give "
                                         "socd setup --kibana URL, or set kibana.url"),
    # report
    "report missing file": Case(("report", "-c", "{p}/none.yaml", "--from", "2020-01-01",
                                 "--to", "2020-06-30"), 2, "{p}/none.yaml: no such file"),
    "report bad date": Case(("report", "-c", "{p}/good.yaml", "--from", "2020-13-01", "--to",
                             "2020-06-30"), 2, "'2020-13-01' is not a date: give YYYY-MM-DD",
                            one_line=False),
    "report --to before --from": Case(("report", "-c", "{p}/good.yaml", "--from",
                                       "2020-07-01", "--to", "2020-06-30"), 2,
                                      "socd: --to 2020-06-30 is before --from 2020-07-01: "
                                      "give a --to on or after --from"),
    "report unreachable": Case(("report", "-c", "{p}/good.yaml", "--from", "2020-01-01",
                                "--to", "2020-06-30"), 1,
                               "socd: Elasticsearch at http://127.0.0.1:1 cannot be reached"),
    # rules validate
    "validate missing path": Case(("rules", "validate", "{p}/none"), 2,
                                  "{p}/none: no such file or directory"),
    "validate empty folder": Case(("rules", "validate", "{p}/empty"), 2,
                                  "{p}/empty: no rules found"),
    "validate not UTF-8": Case(("rules", "validate", "{p}/latin"), 2,
                               "{p}/latin/r.yml: not UTF-8"),
    "validate unknown pipeline": Case(("rules", "validate", "{p}/rules", "--pipeline", "nope"),
                                      2, "unknown pipeline 'nope'"),
    # rules test
    "test events missing": Case(("rules", "test", "--rules", "{p}/rules", "--events",
                                 "{p}/none.jsonl"), 2, "--events {p}/none.jsonl: cannot read"),
    "test events folder": Case(("rules", "test", "--rules", "{p}/rules", "--events",
                                "{p}/folder"), 2, "--events {p}/folder: this is a folder"),
    "test no rules": Case(("rules", "test", "--rules", "{p}/empty", "--events",
                           "{p}/events.jsonl"), 2, "{p}/empty: no rules found"),
    "test rules missing": Case(("rules", "test", "--rules", "{p}/none", "--events",
                                "{p}/events.jsonl"), 2, "{p}/none: no such file"),
    # normalize
    "coverage missing config": Case(("rules", "coverage", "-c", "{p}/none.yaml"), 2,
                                    "no such file"),
    "coverage sample missing": Case(("rules", "coverage", "-c", "{p}/good.yaml", "--sample",
                                     "sensors.cyradar={p}/none.jsonl"), 2,
                                    "--sample {p}/none.jsonl: no such file", one_line=False),
    "coverage sample folder": Case(("rules", "coverage", "-c", "{p}/good.yaml", "--sample",
                                    "sensors.cyradar={p}/folder"), 2, "this is a folder",
                                   one_line=False),
    "normalize events missing": Case(("normalize", "--connector", "cyradar", "--events",
                                      "nofile.jsonl"), 2,
                                     "socd: --events nofile.jsonl: no such file or folder"),
    "normalize events folder": Case(("normalize", "--connector", "cyradar", "--events",
                                     "{p}/folder"), 2,
                                    "socd: --events {p}/folder: this is a folder"),
    "normalize unknown connector": Case(("normalize", "--connector", "nope", "--events",
                                         "{p}/events.jsonl"), 2,
                                        "socd: --connector: unknown connector 'nope'"),
    "normalize connector folder": Case(("normalize", "--connector", "{p}/folder", "--events",
                                        "{p}/events.jsonl"), 2,
                                       "{p}/folder: this is a folder: give the path of a file"),
    "normalize connector missing": Case(("normalize", "--connector", "{p}/none.yaml",
                                         "--events", "{p}/events.jsonl"), 2,
                                        "{p}/none.yaml: no such file"),
    "normalize bad zone": Case(("normalize", "--connector", "cyradar", "--events",
                                "{p}/events.jsonl", "--timezone", "Mars/Base"), 2,
                               "unknown time zone 'Mars/Base'", one_line=False),
    "normalize empty sensor": Case(("normalize", "--connector", "cyradar", "--events",
                                    "{p}/events.jsonl", "--sensor", ""), 2,
                                   "argument --sensor: must not be empty", one_line=False),
    # dead-letters
    "dead-letters list missing file": Case(("dead-letters", "list", "-c", "{p}/none.yaml"), 2,
                                           "{p}/none.yaml: no such file: check the path"),
    "dead-letters list bad --limit": Case(("dead-letters", "list", "-c", "{p}/good.yaml",
                                           "--limit", "-1"), 2, "is negative", one_line=False),
    "dead-letters list unreachable": Case(("dead-letters", "list", "-c", "{p}/good.yaml"), 1,
                                          "socd: cannot start the reader of the dead-letter "
                                          "topic 'socd.dead-letter': kafka.bootstrap_servers"),
    "dead-letters replay bad --since": Case(("dead-letters", "replay", "-c", "{p}/good.yaml",
                                             "--since", "yesterday"), 2,
                                            "socd: --since 'yesterday': give an ISO-8601 time"),
    "dead-letters replay unreachable": Case(("dead-letters", "replay", "-c", "{p}/good.yaml",
                                             "--reason", "not_json"), 1,
                                            "socd: cannot start the reader of the dead-letter"),
    # alerts
    "alerts list missing file": Case(("alerts", "list", "-c", "{p}/none.yaml"), 2,
                                     "{p}/none.yaml: no such file: check the path"),
    "alerts list bad --layer": Case(("alerts", "list", "-c", "{p}/good.yaml", "--layer", "5"),
                                    2, "argument --layer: '5': give 1, 2, 3 or 4",
                                    one_line=False),
    "alerts list bad --since": Case(("alerts", "list", "-c", "{p}/good.yaml", "--since",
                                     "yesterday"), 2, "socd: --since 'yesterday': give an"),
    "alerts list unreachable": Case(("alerts", "list", "-c", "{p}/good.yaml"), 1,
                                    "socd: Elasticsearch at http://127.0.0.1:1: search failed: "),
    "alerts ack nothing selected": Case(("alerts", "ack", "-c", "{p}/good.yaml"), 2,
                                        "socd: give document ids, or filters"),
    "alerts ack ids and filters": Case(("alerts", "ack", "-c", "{p}/good.yaml", "d1",
                                        "--class", "critical"), 2,
                                       "socd: give document ids or filters"),
    "alerts ack unreachable": Case(("alerts", "ack", "-c", "{p}/good.yaml", "d1"), 1,
                                   "check elasticsearch.hosts and that the cluster is running"),
    "alerts close without --reason": Case(("alerts", "close", "-c", "{p}/good.yaml", "d1"), 2,
                                          "the following arguments are required: --reason",
                                          one_line=False),
    "alerts close bad --reason": Case(("alerts", "close", "-c", "{p}/good.yaml", "d1",
                                       "--reason", "fixed"), 2,
                                      "argument --reason: invalid choice: 'fixed'",
                                      one_line=False),
    "alerts close unreachable": Case(("alerts", "close", "-c", "{p}/good.yaml", "--class",
                                      "critical", "--reason", "benign", "--dry-run"), 1,
                                     "socd: Elasticsearch at http://127.0.0.1:1: search"),
    # simulate
    "simulate output folder": Case(("simulate", "--count", "1", "--output", "{p}/folder"), 2,
                                   "socd: {p}/folder: this is a folder"),
    "simulate output nowhere": Case(("simulate", "--count", "1", "--output",
                                     "{p}/none/out.jsonl"), 2,
                                    "socd: {p}/none/out.jsonl: no such file or folder"),
    "simulate bad count": Case(("simulate", "--count", "-5"), 2, "--count", one_line=False),
    "simulate unreachable": Case(("simulate", "--count", "1", "--bootstrap-servers",
                                  "127.0.0.1:1"), 1, "Kafka at 127.0.0.1:1", one_line=False),
}


def socd(argv: list[str], stdin: bytes = b"", timeout: float = 120) -> \
        subprocess.CompletedProcess[bytes]:
    """``python -m socd ARGV`` from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SOCD_")}
    return subprocess.run([sys.executable, "-m", "socd", *argv], input=stdin,
                          capture_output=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def results(place: Path) -> dict[str, subprocess.CompletedProcess[bytes]]:
    """Every case run once, a few at a time (each is a separate process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        running = {name: pool.submit(socd, [arg.replace("{p}", str(place))
                                            for arg in case.argv])
                   for name, case in CASES.items()}
        return {name: future.result() for name, future in running.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_user_errors_are_one_clear_line(place: Path, name: str,
                                        results: dict[str, subprocess.CompletedProcess[bytes]],
                                        ) -> None:
    """Each mistake: its exit status, what the user is told, and no traceback."""
    case = CASES[name]
    result = results[name]
    err = result.stderr.decode(errors="replace")
    out = result.stdout.decode(errors="replace")
    assert "Traceback" not in err + out, err
    assert result.returncode == case.status, err
    assert case.needle.replace("{p}", str(place)) in err, err
    if case.one_line:
        assert err.count("\n") == 1 and err.endswith("\n"), err


@pytest.mark.parametrize("name", [name for name, case in CASES.items()
                                  if case.argv[:1] == ("run",) and case.status == 2
                                  and "console" not in name])
def test_run_logs_configuration_problems_as_json(
        name: str, results: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    """Every stderr line is one JSON object (``journalctl -o cat | jq .`` reads them): one
    ``config_problem`` per problem with where it is, then one ``fatal``."""
    lines = results[name].stderr.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    *problems, fatal = records
    assert problems and all(p["event.action"] == "config_problem" for p in problems)
    assert {p["log.level"] for p in problems} <= {"error", "warning"}
    assert any(p["log.level"] == "error" for p in problems)
    assert all({"file", "line", "key", "message"} <= p["socd"].keys() for p in problems)
    assert fatal["event.action"] == "fatal" and fatal["log.level"] == "error"
    assert fatal["error.type"] == "ConfigError"
    assert "problem" in fatal["error.message"] and "check-config" in fatal["error.message"]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every sub-command (and sub-sub-command) of ``parser``, as its words."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, (*prefix, name)) or {" ".join((*prefix, name))}
    return found


def test_every_sub_command_has_a_case() -> None:
    """A new sub-command joins the table above."""
    from socd.cli import _parser

    commands = _commands(_parser())
    assert {"run", "setup", "check-config", "rules validate", "rules test", "normalize",
            "simulate"} <= commands
    for command in commands:
        words = tuple(command.split())
        assert any(case.argv[:len(words)] == words for case in CASES.values()), command


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_run_with_the_metrics_port_taken(place: Path, busy_port: int) -> None:
    """A metrics address already in use stops start-up with the key and the fix (exit 1)."""
    config = place / "busy.yaml"
    config.write_text(config_text(rules=str(place / "rules"), listen=f"127.0.0.1:{busy_port}"))
    result = socd(["run", "-c", str(config)])
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err
    assert f"metrics.listen 127.0.0.1:{busy_port}: cannot listen there" in err


def test_normalize_reads_standard_input(place: Path) -> None:
    """``--events -`` reads the messages from standard input."""
    result = socd(["normalize", "--connector", "cyradar", "--events", "-"],
                  stdin=CYRADAR + b"\n" + CYRADAR + b"\n")
    assert result.returncode == 0, result.stderr
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [doc["event"]["id"] for doc in docs] == ["a-1", "a-1"]


def test_rules_test_reads_standard_input(place: Path) -> None:
    """``rules test --events -`` reads the events from standard input."""
    result = socd(["rules", "test", "--rules", str(place / "rules"), "--events", "-"],
                  stdin=b'{"event": {"severity": 10}}\n{"event": {"severity": 1}}\n')
    assert result.returncode == 0, result.stderr
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == [
        {"line": 1, "matches": ["0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c02"], "class": "critical"},
        {"line": 2, "matches": [], "class": None}]


def test_normalize_text_that_is_not_utf8_is_a_result_line(place: Path) -> None:
    """A message that is not UTF-8 is the connector's business: a result line, exit 0, in
    socd's words (not "surrogates not allowed")."""
    result = socd(["normalize", "--connector", "cyradar", "--events", str(place / "latin.txt")])
    assert result.returncode == 0 and "Traceback" not in result.stderr.decode()
    line = orjson.loads(result.stdout)
    assert line["line"] == 1 and line["reason"] == "not_utf8"
