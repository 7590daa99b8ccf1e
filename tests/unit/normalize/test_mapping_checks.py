"""Mapping files are checked against ECS when they load, as the built-in ones are: a file
that loads writes only ECS fields (or its own namespace) with values Elasticsearch takes,
and every problem names the file, the line, the key and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.cli import main
from socd.errors import ConnectorError
from socd.normalize import Normalizer, build_normalizer, builtin_connectors
from socd.normalize.mapping import load_mapping_file

HEAD = "name: acme\nformat: json\nfields:\n"


def load(tmp_path: Path, text: str) -> Normalizer:
    path = tmp_path / "acme.yaml"
    path.write_text(text)
    return build_normalizer(str(path), sensor="s1", timezone="UTC", keep_original=False)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConnectorError) as caught:
        load(tmp_path, text)
    for problem in caught.value.problems:
        assert problem.file == str(tmp_path / "acme.yaml")
        assert problem.line is not None and problem.key
    return str(caught.value)


# -- the examples of the issue -----------------------------------------------------------------

def test_a_string_type_on_an_ip_field_is_refused_with_the_fix(tmp_path: Path) -> None:
    """`source.ip: {from: src_addr, type: string}` would send every invalid address to
    Elasticsearch, which refuses the document: the file is refused, naming line, key and fix."""
    message = refused(tmp_path, HEAD + "  source.ip: {from: src_addr, type: string}\n")
    assert "acme.yaml:4: fields.source.ip.type: source.ip is an ECS ip field" in message
    assert "use type: ip" in message


def test_a_target_outside_ecs_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """`source.addr` is no ECS field: the message names it, suggests the near one, and says
    where vendor fields go."""
    message = refused(tmp_path, HEAD + "  source.ip: {from: a}\n  source.addr: {from: b}\n")
    assert "acme.yaml:5: fields.source.addr: source.addr is not an ECS field" in message
    assert "did you mean source.address" in message
    assert "acme.addr" in message


@pytest.mark.parametrize(("constant", "needle"), [
    (".inf", "not a number Elasticsearch stores; write a finite number"),
    ("-.inf", "not a number Elasticsearch stores; write a finite number"),
    (".nan", "not a number Elasticsearch stores; write a finite number"),
])
def test_infinite_and_nan_constants_are_refused(tmp_path: Path, constant: str,
                                                needle: str) -> None:
    """A constant of .inf or .nan used to compile and then fail on every event."""
    message = refused(tmp_path, HEAD + f"  event.risk_score: {{from: r, default: {constant}}}\n"
                      f"set:\n  acme.score: {constant}\n")
    value = constant.replace(".", "")
    assert f"acme.yaml:4: fields.event.risk_score.default: {value} is {needle}" in message
    assert f"acme.yaml:6: set.acme.score: {value} is {needle}" in message


def test_the_right_file_keeps_the_threat_and_drops_the_bad_value(tmp_path: Path) -> None:
    """With the right type (or none: the ECS field's own), an invalid address is left out
    and named, the document is still made, as the built-in connectors do."""
    for spec in ("{from: src_addr, type: ip}", "{from: src_addr}"):
        norm = load(tmp_path, HEAD + f"  source.ip: {spec}\n  rule.name: {{from: n}}\n")
        doc = norm.normalize(b'{"src_addr": "24.273.97.14", "n": "x"}')
        assert doc == {"rule": {"name": "x"}, "observer": {"name": "s1"}, "socd": {
            "warnings": ["source.ip left out: src_addr: '24.273.97.14' is not an IP address"]}}


# -- what a file must get right: one table -----------------------------------------------------

WRONG: list[tuple[str, list[str]]] = [
    # targets
    ("  event.kind: {from: k}\n", ["fields.event.kind", "takes only alert", "give a map:"]),
    ("  socd.class: {from: c}\n", ["fields.socd.class", "socd's own verdict"]),
    ("  dns.answers: {from: a}\n", ["ECS object field", "map the fields inside it"]),
    ("  labels: {from: a}\n", ["fields.labels", "ECS object field"]),
    ("  acme: {from: a}\n", ["the namespace itself"]),
    ("  source..ip: {from: a}\n", ["not a field name"]),
    # types
    ("  source.port: {from: p, type: string}\n", ["ECS long field", "use type: port"]),
    ("  file.size: {from: p, type: string}\n", ["ECS long field", "use type: integer"]),
    ("  rule.id: {from: p, type: integer}\n", ["ECS keyword field", "use type: string"]),
    ("  \"@timestamp\": {from: t, type: string}\n", ["ECS date field", "type: timestamp"]),
    ("  event.severity: {from: s, min: 1, max: .nan}\n", ["fields.event.severity.max",
                                                          "not a finite number"]),
    ("  event.severity: {from: s, min: 9, max: 1}\n", ["min 9.0 is above max 1.0"]),
    ("  rule.name: {from: n, min: 1}\n", ["fields.rule.name.min", "bounds numbers"]),
    ("  rule.name: {from: n, thresholds: [[0, a]], type: string}\n",
     ["thresholds compare numbers"]),
    ("  event.severity: {from: n, lowercase: true}\n", ["lowercase changes text"]),
    ("  rule.name: {from: n, type: strings, map: {a: b}}\n", ["map compares one value"]),
    ("  event.severity: {from: n, type: integer, replace: {1: 2}}\n", ["replace compares"]),
    ("  network.type: {from: n, type: string, family: {ipv4: a, ipv6: b}}\n",
     ["family reads an IP address"]),
    # constants
    ("  event.severity: {from: s, map: {high: very}}\n",
     ["fields.event.severity.map.high", "'very' is not a number"]),
    ("  event.severity: {from: s, default: 99999999999999999999999}\n",
     ["too large a number"]),
    ("  gen_ai.usage.input_tokens: {from: s, default: 3000000000}\n",
     ["ECS integer field", "outside what it stores"]),
    ("  event.type: {from: t, map: {x: [info, nothing]}}\n", ["not 'nothing'"]),
    ("  event.created: {from: t, default: 2024-01-01}\n",
     ["YAML read 2024-01-01 as a date", "write it in quotes"]),
    ("  event.created: {from: t, default: \"2024-01-01 10:00\"}\n",
     ["not an ISO-8601 time with its offset"]),
    ("  source.ip: {from: t, default: \"010.0.0.1\"}\n", ["not an IP address"]),
    ("  source.ip: {from: t, default: \"2001:DB8::1\"}\n", ["write '2001:db8::1'"]),
    ("  rule.name: {from: t, map: {a: {b: c}}}\n", ["an object cannot go in it"]),
    ("  rule.name: {from: t, map: {yes: a}}\n", ["write the key in quotes"]),
    ("  event.severity: {from: t, type: integer, map: {abc: 1}}\n",
     ["the key 'abc' can never match"]),
    ("  event.severity: {from: t, type: integer, map: {\"01\": 1, \"1\": 2}}\n",
     ["same integer as another key"]),
    ("  acme.level: {from: l, map: {a: 1, b: x}}\n", ["values of different kinds"]),
    ("  acme.level: {from: l, type: integer, unmapped: x, map: {a: 1}}\n",
     ["values of different kinds"]),
    # reading
    ("  related.ip: {of: source.ip, all: true}\n  source.ip: {from: s}\n",
     ["fields.related.ip.of", "not written above"]),
    ("  network.type: {of: source.port, family: {ipv4: ipv4, ipv6: ipv6}}\n"
     "  source.port: {from: p}\n", ["not written above"]),
    ("  source.port: {from: p}\n  network.type: {of: source.port, family: {ipv4: a, ipv6: b}}\n",
     ["family reads IP addresses", "source.port is an ECS long field"]),
    ("  rule.name:\n    - {from: a}\n    - {from: b}\n",
     ["fields.rule.name.0", "case 1 of 2 has no `when:`"]),
    ("  rule.name: {from: \"a..b\"}\n", ["is not a path"]),
    ("  rule.name: {from: a, when: {\"\": x}}\n", ["is not a path"]),
]


@pytest.mark.parametrize(("fields", "needles"), WRONG)
def test_wrong_mapping_files_are_refused_naming_line_key_and_fix(
        tmp_path: Path, fields: str, needles: list[str]) -> None:
    """Each kind of mistake is a problem at its own line and key, with what to do."""
    message = refused(tmp_path, HEAD + fields)
    for needle in needles:
        assert needle in message


def test_a_namespace_that_is_an_ecs_field_set_is_refused(tmp_path: Path) -> None:
    """Fields outside ECS cannot go under `dns` (name: dns): the file must name its vendor."""
    message = refused(tmp_path, HEAD.replace("acme", "dns") + "  dns.vendor_flag: {from: f}\n")
    assert "give the file `namespace:` the vendor's name" in message
    load(tmp_path, "name: dns\nnamespace: acme\nfields:\n  acme.vendor_flag: {from: f}\n")


def test_every_problem_of_a_file_in_one_report(tmp_path: Path) -> None:
    """Three mistakes, three problems, each on its own line."""
    with pytest.raises(ConnectorError) as caught:
        load(tmp_path, HEAD + "  source.addr: {from: a}\n  source.ip: {from: b, type: string}\n"
                              "set:\n  event.severity: .nan\n")
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (4, "fields.source.addr"), (5, "fields.source.ip.type"), (7, "set.event.severity")]


def test_passthrough_fields_check_the_value_the_message_brings(tmp_path: Path) -> None:
    """In a passthrough mapping a field that does not read its own value would let the
    message's own one through unchecked: refused, with the `from:` to write."""
    message = refused(tmp_path, "name: acme\nformat: ecs\npassthrough: true\nfields:\n"
                                "  source.ip: {from: src, type: ip}\n")
    assert "write from: [src, source.ip]" in message
    norm = load(tmp_path, "name: acme\nformat: ecs\npassthrough: true\nfields:\n"
                          "  source.ip: {from: [src, source.ip], type: ip}\n")
    doc = norm.normalize(b'{"source": {"ip": "not an ip"}}')
    assert "ip" not in doc["source"] and "source.ip left out" in doc["socd"]["warnings"][0]
    norm = load(tmp_path, "name: acme\nformat: ecs\npassthrough: true\nfields:\n"
                          "  related.ip: {from: related.ip, all: true}\n")
    doc = norm.normalize(b'{"related": {"ip": ["bad", "::FFFF:A00:1", "10.0.0.2"]}}')
    assert doc["related"]["ip"][1:] == ["10.0.0.2"] and len(doc["socd"]["warnings"]) == 1
    doc = norm.normalize(b'{"related": {"ip": ["bad"]}}')
    assert doc["related"] == {}  # nothing of it fits: the message's own value is removed


# -- run-time guarantees -----------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "kept"), [
    ("network.bytes: {from: v}", 2**63 - 1, True),          # ECS long
    ("network.bytes: {from: v}", 2**63, False),
    ("network.bytes: {from: v}", "99999999999999999999", False),
    ("network.bytes: {from: v}", 1.8446744073709552e19, False),
    ("acme.count: {from: v, type: integer}", 2**64 - 1, False),   # dynamic: long
    ("gen_ai.usage.input_tokens: {from: v}", 2**31, False),  # ECS integer
    ("gen_ai.usage.input_tokens: {from: v}", 2**31 - 1, True),
    ("event.risk_score: {from: v}", 1e300, False),           # ECS float
    ("event.risk_score: {from: v}", 3.0e38, True),
    ("gen_ai.request.temperature: {from: v}", 1e300, True),  # ECS double
    ("host.cpu.usage: {from: v}", 1e17, False),              # scaled_float, factor 1000
    ("source.port: {from: v}", 70000, False),
])
def test_numbers_outside_what_elasticsearch_stores_are_left_out(
        tmp_path: Path, field: str, value: Any, kept: bool) -> None:
    """An integer beyond a long, a float beyond a float: left out and named, not refused
    by Elasticsearch (and not a number orjson cannot write)."""
    doc = load(tmp_path, HEAD + f"  {field}\n").normalize(orjson.dumps({"v": value}))
    orjson.dumps(doc)
    assert ("socd" not in doc) is kept, doc


def test_types_follow_the_ecs_field_when_not_given(tmp_path: Path) -> None:
    """Without `type`, a value is read as its ECS field's type: a port from text, a date,
    an address; a field of the namespace as text."""
    norm = load(tmp_path, HEAD + "  source.port: {from: p}\n  event.created: {from: c}\n"
                                 "  source.ip: {from: i}\n  acme.raw: {from: r}\n")
    doc = norm.normalize(orjson.dumps({"p": "443", "c": 1700000000, "i": "::FFFF:10.0.0.1",
                                       "r": 5}))
    assert doc["source"]["port"] == 443
    assert doc["event"]["created"] == "2023-11-14T22:13:20.000Z"
    assert doc["source"]["ip"] in ("10.0.0.1", "::ffff:a00:1")  # canonical either way
    assert doc["acme"] == {"raw": "5"}


def test_every_shipped_connector_passes_the_checks() -> None:
    """The built-in mapping files meet every rule a user's file must meet."""
    for name, path in builtin_connectors().items():
        spec = load_mapping_file(path)
        assert spec.name == name
        for _, case in spec.specs():
            assert case.type is not None  # resolved


# -- check-config ------------------------------------------------------------------------------

CONFIG = """\
kafka: {bootstrap_servers: "127.0.0.1:9092", group_id: socd}
inputs:
  - {topic: sensors.acme, connector: acme.yaml, layer: 1, sensor: acme-1}
rules: {paths: [rules/]}
elasticsearch: {hosts: ["http://127.0.0.1:9200"], index_prefix: socd}
dead_letter: {topic: socd.dead-letter}
"""


def test_check_config_reports_every_mapping_problem(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`socd check-config` shows the mapping file's problems with file, line and key, and
    exits 2; the right file passes."""
    rules = Path(__file__).resolve().parents[3] / "rules"
    shutil.copytree(rules, tmp_path / "rules")
    (tmp_path / "socd.yaml").write_text(CONFIG)
    (tmp_path / "acme.yaml").write_text(HEAD + "  source.ip: {from: src_addr, type: string}\n"
                                               "  source.addr: {from: b}\n")
    assert main(["check-config", "-c", str(tmp_path / "socd.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'acme.yaml'}:4: fields.source.ip.type" in err
    assert f"{tmp_path / 'acme.yaml'}:5: fields.source.addr" in err
    (tmp_path / "acme.yaml").write_text(HEAD + "  source.ip: {from: src_addr}\n")
    assert main(["check-config", "-c", str(tmp_path / "socd.yaml")]) == 0
