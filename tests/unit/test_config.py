"""The config file: defaults, environment overrides, and every problem with file:line:key."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from socd.config import (
    Config,
    RawConfig,
    RulesConfig,
    load_config,
    read_config,
    validate_config,
)
from socd.configsource import env_value
from socd.errors import ConfigError, Problem, in_order
from socd.yamlfile import YamlFileError, duplicate_keys, read_yaml

GOOD = """\
kafka:
  bootstrap_servers: "127.0.0.1:9092"
  group_id: socd
inputs:
  - topic: sensors.cyradar
    connector: cyradar
    layer: 2
    sensor: cyradar-ndr
rules:
  paths: ["rules/"]
elasticsearch:
  hosts: ["http://127.0.0.1:9200"]
  index_prefix: socd
metrics:
  listen: "127.0.0.1:9464"
dead_letter:
  topic: socd.dead-letter
sharing:
  topic: socd.national
  min_class: critical
  identity: {name: "So TTTT Binh Phuoc"}
report:
  timezone: Asia/Ho_Chi_Minh
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "socd.yaml"
    path.write_text(text)
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return [str(p) for p in caught.value.problems]


def test_design_example_loads_with_its_meanings(tmp_path: Path) -> None:
    """The config of DESIGN.md loads; relative rule paths resolve next to the file."""
    config = load_config(write(tmp_path, GOOD), {})
    assert config.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert config.inputs[0].layer == 2
    assert config.inputs[0].label == "sensors.cyradar"
    assert config.rules.paths == [tmp_path / "rules"]
    assert config.elasticsearch.index_prefix == "socd"
    assert config.sharing.min_class == "critical"


def test_environment_overrides_every_level(tmp_path: Path) -> None:
    """SOCD_<SECTION>__<KEY> overrides, list items by index, lists from commas or YAML."""
    config = load_config(write(tmp_path, GOOD), {
        "SOCD_KAFKA__BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
        "SOCD_ELASTICSEARCH__HOSTS": '["http://es:9200"]',
        "SOCD_INPUTS__0__LAYER": "3",
        "SOCD_METRICS__LISTEN": "0.0.0.0:9999",
        "UNRELATED": "x",
    })
    assert config.kafka.bootstrap_servers == ["k1:9092", "k2:9092"]
    assert config.elasticsearch.hosts == ["http://es:9200"]
    assert config.inputs[0].layer == 3
    assert config.metrics.listen == "0.0.0.0:9999"


def test_every_problem_reported_with_line_and_key(tmp_path: Path) -> None:
    """Several mistakes → one error listing each, with the line of the key at fault."""
    text = GOOD.replace("layer: 2", "layer: 7").replace("group_id: socd", "group_idd: socd")
    text = text.replace("Asia/Ho_Chi_Minh", "Asia/Hanoi_City")
    found = problems(write(tmp_path, text))
    assert len(found) == 3
    joined = "\n".join(found)
    assert "socd.yaml:3: kafka.group_idd: unknown key" in joined
    assert "socd.yaml:7: inputs.0.layer" in joined
    assert "socd.yaml:23: report.timezone: unknown time zone 'Asia/Hanoi_City'" in joined


def test_environment_problem_names_the_variable(tmp_path: Path) -> None:
    """A bad override is reported against the variable, not the file."""
    found = problems(write(tmp_path, GOOD), {"SOCD_INPUTS__0__LAYER": "9"})
    assert any("SOCD_INPUTS__0__LAYER" in p for p in found)


def test_missing_inputs_and_bad_yaml(tmp_path: Path) -> None:
    """No inputs is an error; broken YAML names its line."""
    assert any("inputs: required key is missing" in p
               for p in problems(write(tmp_path, "kafka: {}\n")))
    broken = problems(write(tmp_path, "kafka:\n  group_id: [unclosed\n"))
    assert len(broken) == 1 and "not valid YAML" in broken[0]


@pytest.mark.parametrize(("change", "needle"), [
    (("127.0.0.1:9092", "no-port"), "is not HOST:PORT"),
    (("http://127.0.0.1:9200", "127.0.0.1:9200"), "is not an http"),
    (("index_prefix: socd", "index_prefix: SOCD"), "index_prefix"),
    (("topic: socd.dead-letter", "topic: sensors.cyradar"), "is also inputs.0.topic"),
])
def test_values_are_checked(tmp_path: Path, change: tuple[str, str], needle: str) -> None:
    """Addresses, URLs, index names and topic clashes are checked before start."""
    found = problems(write(tmp_path, GOOD.replace(*change)))
    assert any(needle in p for p in found), found


@pytest.mark.parametrize(("written", "seconds"), [
    (30, 30.0), (2.5, 2.5), ("45", 45.0), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0)])
def test_lengths_of_time_take_seconds_or_durations(written: Any, seconds: float) -> None:
    """elasticsearch.request_timeout and .retry_backoff_max, kibana.request_timeout: a number
    of seconds or a duration as max_clock_skew takes them."""
    config = Config.model_validate({
        "inputs": [{"topic": "t", "connector": "cyradar", "layer": 2, "sensor": "s"}],
        "elasticsearch": {"request_timeout": written, "retry_backoff_max": written},
        "kibana": {"request_timeout": written}})
    assert config.elasticsearch.request_timeout == seconds
    assert config.elasticsearch.retry_backoff_max == seconds
    assert config.kibana.request_timeout == seconds


@pytest.mark.parametrize(("written", "needle"), [
    ("30x", "'30x' is not a length of time: write a number of seconds (30, 2.5) or a "
            "duration such as 30s, 2m or 1h"),
    ("0s", "must be more than 0, not '0s'"), (-1, "must be more than 0, not -1")])
def test_a_bad_length_of_time_says_how_to_write_one(tmp_path: Path, written: Any,
                                                     needle: str) -> None:
    found = problems(write(tmp_path, GOOD.replace(
        "index_prefix: socd", f"index_prefix: socd\n  request_timeout: {written}")))
    assert any("elasticsearch.request_timeout" in p and needle in p for p in found), found


def test_input_pipelines_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Pipeline names stay names; relative pipeline files are found beside the config file;
    ``check-config`` reports a pipeline that does not load, on the line that names it."""
    from socd.check import check

    text = GOOD.replace("    sensor: cyradar-ndr\n", "    sensor: cyradar-ndr\n"
                        "    pipelines: [windows, pipelines/ecs.yml, no-such-pipeline]\n")
    config = load_config(write(tmp_path, text), {})
    assert config.inputs[0].pipelines == [
        "windows", str(tmp_path / "pipelines/ecs.yml"), "no-such-pipeline"]
    assert config.pipelines == [("windows", str(tmp_path / "pipelines/ecs.yml"),
                                 "no-such-pipeline")]
    (tmp_path / "rules").mkdir()
    found = [str(p) for p in check(tmp_path / "socd.yaml", {}).errors]
    assert any("socd.yaml:9: inputs.0.pipelines.1: cannot read the pipeline" in p
               for p in found), found
    assert any("socd.yaml:9: inputs.0.pipelines.2: unknown pipeline" in p for p in found), found


# --------------------------------------------------------------------------- lists of strings


def _list_of_strings_keys() -> set[tuple[str, ...]]:
    """Every key of the config models that holds a list of strings (or of paths); list items
    as ``0``, dict values as ``NAME``. Found by walking the models, so a new key is in it."""
    found: set[tuple[str, ...]] = set()

    def bare(annotation: Any) -> Any:
        while True:
            if get_origin(annotation) is Annotated:
                annotation = get_args(annotation)[0]
            elif get_origin(annotation) in (Union, types.UnionType):
                options = [a for a in get_args(annotation) if a is not type(None)]
                if len(options) != 1:
                    return annotation
                annotation = options[0]
            else:
                return annotation

    def walk(annotation: Any, path: tuple[str, ...]) -> None:
        annotation = bare(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                walk(info.annotation, (*path, name))
        elif get_origin(annotation) is list:
            item = bare(get_args(annotation)[0])
            if item in (str, Path):
                found.add(path)
            else:
                walk(item, (*path, "0"))
        elif get_origin(annotation) is dict:
            walk(get_args(annotation)[1], (*path, "NAME"))

    walk(Config, ())
    return found


LIST_KEYS: dict[tuple[str, ...], tuple[str, str]] = {
    ("kafka", "bootstrap_servers"): ("k1:9092", "k2:9092"),
    ("inputs", "0", "pipelines"): ("windows", "winlogbeat"),
    ("rules", "paths"): ("r", "r/cyradar"),
    ("rules", "placeholders", "NAME"): ("alice", "bob"),
    ("elasticsearch", "hosts"): ("http://es1:9200", "http://es2:9200"),
    ("sharing", "identity", "sectors"): ("government-regional", "government-local"),
    ("sharing", "redact", "networks"): ("10.0.0.0/8", "192.168.0.0/16"),
    ("sharing", "redact", "domains"): ("internal.example", "corp.example"),
    ("inputs", "0", "suppress", "by"): ("source.ip", "destination.port"),
}
"""Every list-of-strings key, with two valid items."""


def _value_at(config: Config, path: tuple[str, ...]) -> Any:
    node: Any = config
    for key in path:
        key = "admins" if key == "NAME" else key
        if isinstance(node, list):
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node[key]
        else:
            node = getattr(node, key)
    return node


def _with(path: tuple[str, ...], value: Any) -> str:
    """GOOD with the key at ``path`` set to ``value`` (NAME: a placeholder named admins)."""
    data = yaml.safe_load(GOOD)
    node = data
    for key in path[:-1]:
        key = "admins" if key == "NAME" else key
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node["admins" if path[-1] == "NAME" else path[-1]] = value
    if path[-2:] == ("suppress", "by"):
        node["for"] = "10m"  # required beside it
    return yaml.safe_dump(data, sort_keys=False)


def test_the_list_table_covers_every_list_of_strings() -> None:
    """A new list-of-strings key must join LIST_KEYS (and so the tests below)."""
    assert _list_of_strings_keys() == set(LIST_KEYS)


@pytest.mark.parametrize("path", sorted(LIST_KEYS), ids=".".join)
@pytest.mark.parametrize(("where", "written", "items"), [
    ("file", "list", 2), ("file", "a,b", 2), ("file", "a", 1),
    ("env", "a,b", 2), ("env", "[a, b]", 2), ("env", "a", 1), ("env", " a , b ,", 2),
])
def test_every_list_of_strings_takes_one_rule(tmp_path: Path, path: tuple[str, ...],
                                              where: str, written: str, items: int) -> None:
    """One rule for every list of strings, in the file and in the environment: a list, or
    one string of comma-separated items (blanks dropped); ``paths: "rules/"`` is a list of
    one."""
    first, second = LIST_KEYS[path]
    expected = [first, second][:items]
    text = written.replace("a", first, 1).replace("b", second, 1)
    environ: dict[str, str] = {}
    if where == "file":
        value: Any = expected if written == "list" else text
        config_path = write(tmp_path, _with(path, value))
    else:
        config_path = write(tmp_path, _with(path, ["placeholder:1"] if path[0] == "kafka"
                                            else ["http://x:1"] if path[0] == "elasticsearch"
                                            else ["x"]))
        name = "SOCD_" + "__".join("ADMINS" if k == "NAME" else k.upper() for k in path)
        environ[name] = text
    config = load_config(config_path, environ)
    got = _value_at(config, path)
    if path == ("rules", "paths"):
        assert got == [tmp_path / item for item in expected]
    else:
        assert got == expected


def test_issue_example_rule_paths_from_the_environment(tmp_path: Path) -> None:
    """SOCD_RULES__PATHS=r/,r/cyradar is two folders; ``paths: "rules/"`` in the file is one."""
    config = load_config(write(tmp_path, GOOD), {"SOCD_RULES__PATHS": "r/,r/cyradar"})
    assert config.rules.paths == [tmp_path / "r", tmp_path / "r/cyradar"]
    config = load_config(write(tmp_path, GOOD.replace('paths: ["rules/"]', 'paths: "rules/"')),
                         {})
    assert config.rules.paths == [tmp_path / "rules"]


def test_an_empty_rule_path_list_is_refused(tmp_path: Path) -> None:
    """``paths: []`` (or an empty string) names no rules: said on its line."""
    for written in ("[]", '""'):
        found = problems(write(tmp_path, GOOD.replace('["rules/"]', written)))
        assert found == [f"{tmp_path}/socd.yaml:10: rules.paths: no rule path: name at least "
                         "one file or folder of Sigma rules"]


# --------------------------------------------------------------------------- environment values


def _text_keys() -> list[tuple[str, ...]]:
    """Every key that holds text (str or Path), found by walking the models."""
    found: list[tuple[str, ...]] = []
    for section, info in Config.model_fields.items():
        model = info.annotation
        if get_origin(model) is Annotated:
            model = get_args(model)[0]
        if get_origin(model) is list:
            model, section = get_args(model)[0], f"{section}.0"
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for name, field_info in model.model_fields.items():
            annotation = field_info.annotation
            options = get_args(annotation) if get_origin(annotation) in (
                Union, types.UnionType) else (annotation,)
            if any(option in (str, Path) for option in options):
                found.append((*section.split("."), name))
    return found


@pytest.mark.parametrize("path", _text_keys(), ids=".".join)
def test_environment_text_stays_text(tmp_path: Path, path: tuple[str, ...]) -> None:
    """A text key set from the environment takes the value as written: ``0123`` is not the
    number 83 (YAML 1.1 octal) nor refused as a number, ``no`` is not false."""
    for written in ("0123", "no"):
        name = "SOCD_" + "__".join(k.upper() for k in path)
        try:
            config = load_config(write(tmp_path, GOOD), {name: written})
        except ConfigError as caught:  # the value may not suit the key (a URL, a zone...)
            messages = [p.message for p in caught.problems]
            assert not any("expected text" in m or "Input should" in m for m in messages)
            continue
        value = _value_at(config, path)
        if isinstance(value, Path) and value.is_absolute():  # a file beside socd.yaml
            value = value.relative_to(tmp_path)
        assert str(value) == written


def test_environment_numbers_and_switches_are_yaml(tmp_path: Path) -> None:
    """Keys that are numbers or switches read the environment as YAML."""
    config = load_config(write(tmp_path, GOOD), {
        "SOCD_INPUTS__0__LAYER": "3", "SOCD_RULES__WATCH": "false",
        "SOCD_ELASTICSEARCH__REQUEST_TIMEOUT": "2.5", "SOCD_KAFKA__GROUP_ID": "0123",
        "SOCD_ELASTICSEARCH__USERNAME": "yes", "SOCD_ELASTICSEARCH__PASSWORD": "0777"})
    assert (config.inputs[0].layer, config.rules.watch) == (3, False)
    assert config.elasticsearch.request_timeout == 2.5
    assert config.kafka.group_id == "0123"
    assert config.elasticsearch.password is not None
    assert (config.elasticsearch.username,
            config.elasticsearch.password.get_secret_value()) == ("yes", "0777")


def test_environment_value_not_utf8_is_named(tmp_path: Path) -> None:
    """A variable holding bytes that are not UTF-8 (Python keeps them as surrogates) is
    refused with socd's words, never "surrogates not allowed" later at run time."""
    found = problems(write(tmp_path, GOOD), {"SOCD_INPUTS__0__SENSOR": "ndr\udcff"})
    assert found == ["<config>: SOCD_INPUTS__0__SENSOR: the value is not UTF-8 text (byte "
                     "0xff at position 3): set it in UTF-8"]


def test_environment_cannot_add_list_items(tmp_path: Path) -> None:
    """SOCD_INPUTS__1__... with one input in the file: said, with how items are numbered."""
    found = problems(write(tmp_path, GOOD), {"SOCD_INPUTS__1__LAYER": "2"})
    assert len(found) == 1 and "SOCD_INPUTS__1__LAYER" in found[0]
    assert "numbered from 0; there are 1" in found[0]


# --------------------------------------------------------------------------- YAML and values


def test_duplicated_keys_are_problems_with_both_lines(tmp_path: Path) -> None:
    """YAML allows a key once in a mapping; PyYAML would keep the last silently. Every repeat
    is reported (top level, in a section, in a list item), merge keys are not repeats."""
    text = GOOD.replace("  group_id: socd\n", "  group_id: \"\"\n  group_id: socd\n")
    text = text.replace("    layer: 2\n", "    layer: 2\n    layer: 3\n")
    text += "report:\n  timezone: UTC\n"
    found = problems(write(tmp_path, text))
    assert found == [
        f"{tmp_path}/socd.yaml:4: kafka.group_id: the key is written twice (also at line 3); "
        "YAML allows a key once in a section: keep one",
        f"{tmp_path}/socd.yaml:9: inputs.0.layer: the key is written twice (also at line 8); "
        "YAML allows a key once in a section: keep one",
        f"{tmp_path}/socd.yaml:26: report: the key is written twice (also at line 24); "
        "YAML allows a key once in a section: keep one",
    ]
    merged = GOOD.replace("metrics:\n", "base: &base {listen: '127.0.0.1:1'}\nmetrics:\n  <<: "
                          "*base\n  <<: *base\n")
    assert not any("twice" in p for p in problems(write(tmp_path, merged)))


def test_mapping_files_refuse_duplicated_keys_too(tmp_path: Path) -> None:
    """Every YAML file socd reads with lines (config, mapping files) refuses a repeat."""
    path = tmp_path / "m.yaml"
    path.write_text("name: x\nformat: json\nname: y\n")
    with pytest.raises(YamlFileError) as caught:
        read_yaml(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: name: the key is written twice (also at line 1); YAML allows a key once "
        "in a section: keep one"]


@pytest.mark.parametrize("key", [("inputs", "0", "topic"), ("dead_letter", "topic"),
                                 ("sharing", "topic")], ids=".".join)
@pytest.mark.parametrize(("topic", "reason"), [
    ("a", None), ("A.b-c_9", None), ("x" * 249, None),
    ("", "the topic name is empty"), (".", "Kafka refuses the topic name '.'"),
    ("..", "Kafka refuses the topic name '..'"),
    ("x" * 250, "has 250 characters; Kafka allows at most 249"),
    ("sensors cyradar", "Kafka refuses ' ' in a topic name"),
    ("sensors/cyradar", "Kafka refuses '/' in a topic name"),
    ("cảm-biến", "Kafka refuses 'ả', 'ế' in a topic name"),
    ("a:b,c", "Kafka refuses ',', ':' in a topic name"),
])
def test_topic_names_follow_kafka(tmp_path: Path, key: tuple[str, ...], topic: str,
                                  reason: str | None) -> None:
    """Every topic key takes what Kafka takes (Topic.validate: 1-249 of [a-zA-Z0-9._-], not
    '.' or '..') and refuses the rest on its line."""
    path = write(tmp_path, _with(key, topic))
    if reason is None:
        assert _value_at(load_config(path, {}), key) == topic
        return
    found = problems(path)
    assert len(found) == 1 and f": {'.'.join(key)}: " in found[0] and reason in found[0], found


def test_topics_kafka_cannot_hold_together(tmp_path: Path) -> None:
    """Topics equal once '.' and '_' are taken alike cannot both exist in Kafka: an error on
    the second; one topic mixing both is Kafka's warning, not an error."""
    text = GOOD.replace("topic: socd.dead-letter", "topic: sensors_cyradar")
    found = problems(write(tmp_path, text))
    assert found == [f"{tmp_path}/socd.yaml:17: dead_letter.topic: Kafka cannot hold both "
                     "'sensors.cyradar' (inputs.0.topic) and 'sensors_cyradar': it takes '.' "
                     "and '_' alike in metric names and refuses the second: rename one"]
    raw = read_config(write(tmp_path, GOOD.replace("socd.dead-letter", "socd_dead.letter")), {})
    assert validate_config(raw) is not None
    assert [str(p) for p in raw.problems if "mixes" in p.message] == [
        f"{tmp_path}/socd.yaml:17: dead_letter.topic: warning: the topic name "
        "'socd_dead.letter' mixes '.' and '_'; Kafka warns that such names can collide in its "
        "metrics: use one or the other"]


@pytest.mark.parametrize("group_id", ['""', '"  "'])
def test_an_empty_group_id_is_refused(tmp_path: Path, group_id: str) -> None:
    """An empty consumer group cannot commit offsets: said on its line, with the fix."""
    found = problems(write(tmp_path, GOOD.replace("group_id: socd", f"group_id: {group_id}")))
    assert found == [f"{tmp_path}/socd.yaml:3: kafka.group_id: the consumer group id is "
                     "empty: give a name such as socd (socd processes with the same group_id "
                     "share the input partitions)"]


def _leaf_keys() -> list[tuple[str, ...]]:
    """Every key of every section (list items as 0)."""
    found: list[tuple[str, ...]] = []
    for section, info in Config.model_fields.items():
        model = info.annotation
        if get_origin(model) is Annotated:
            model = get_args(model)[0]
        prefix: tuple[str, ...] = (section,)
        if get_origin(model) is list:
            model, prefix = get_args(model)[0], (section, "0")
        assert isinstance(model, type) and issubclass(model, BaseModel)
        found.extend((*prefix, name) for name in model.model_fields)
    return found


RAW_LIBRARY_TEXT = ("Input should", "valid list", "Value error", "validation error",
                    "Field required", "Extra inputs", "unable to parse")


@pytest.mark.parametrize("key", _leaf_keys(), ids=".".join)
def test_every_wrong_value_is_told_in_socd_words(tmp_path: Path, key: tuple[str, ...]) -> None:
    """Every key given a value of the wrong kind: a problem on its line, naming the key, in
    socd's words (what it should hold), never pydantic's text alone."""
    found = problems(write(tmp_path, _with(key, {"x": [1]})))
    dotted = ".".join(key)
    assert found, dotted
    for text in found:
        assert text.startswith(f"{tmp_path}/socd.yaml:") and f": {dotted}" in text, text
        assert not any(raw in text for raw in RAW_LIBRARY_TEXT), text


@pytest.mark.parametrize(("change", "expected"), [
    (("layer: 2", "layer: 7"), "inputs.0.layer: must be one of 1, 2, 3 or 4, not 7"),
    (("layer: 2", "layer: two"), "inputs.0.layer: must be one of 1, 2, 3 or 4, not 'two'"),
    (("group_id: socd", "group_id: 12"),
     "kafka.group_id: expected text, not 12: put it in quotes (\"...\") to make it text"),
    (("group_id: socd", "group_id: [a]"), "kafka.group_id: expected text, not ['a']"),
    (('paths: ["rules/"]', "paths: 5"),
     "rules.paths: expected a list (YAML [a, b], or one '- item' a line), not 5"),
    (("kafka:\n", "kafka: 5\nx:\n"), "kafka: expected a section of keys"),
    (("sensor: cyradar-ndr", 'sensor: "\\udcff"'),
     "inputs.0.sensor: the value is not valid Unicode text"),
    (("sensor: cyradar-ndr", 'sensor: ""'), "inputs.0.sensor: must not be empty"),
    (("  index_prefix: socd", "  index_prefix: SOCD"),
     "elasticsearch.index_prefix: 'SOCD' cannot start Elasticsearch index names"),
    (("    sensor: cyradar-ndr", "    sensor: n\n    logsource: {produc: x}"),
     "inputs.0.logsource.produc: 'produc' is not a key allowed here: use 'product', "
     "'category' or 'service'"),
])
def test_messages_name_the_key_and_the_fix(tmp_path: Path, change: tuple[str, str],
                                           expected: str) -> None:
    """Examples of the words: the key, the value found, and what to write instead."""
    found = problems(write(tmp_path, GOOD.replace(*change, 1)))
    assert any(expected in text for text in found), found


def test_problems_come_sorted_by_file_and_line(tmp_path: Path) -> None:
    """Whatever order they are found in, problems are listed by file, then line."""
    text = GOOD.replace("Asia/Ho_Chi_Minh", "Mars/Base").replace("layer: 2", "layer: 9")
    text = text.replace("group_id: socd", "group_idd: socd")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), {"SOCD_METRICS__LISTEN": "nowhere"})
    ordered = in_order(caught.value.problems)
    assert [(p.file, p.line) for p in ordered] == [
        (None, None), (str(tmp_path / "socd.yaml"), 3), (str(tmp_path / "socd.yaml"), 7),
        (str(tmp_path / "socd.yaml"), 23)]


def test_sharing_is_on_with_its_section_and_needs_the_departments_name(
        tmp_path: Path) -> None:
    """The section turns sharing on (defaults: TLP amber, RFC 1918 and other internal
    ranges redacted, transactions where the broker has them); without the department's
    name it is an error naming the key, also when only an environment override makes the
    section; ``enabled: false`` turns it off and needs nothing."""
    raw = read_config(write(tmp_path, GOOD), {})
    config = validate_config(raw)
    assert config is not None and errors(raw) == [] and config.sharing_active
    assert [(p.key, p.warning) for p in raw.problems] == [("sharing.redact.domains", True)]
    assert "list the department's own DNS zones" in raw.problems[0].message
    assert config.sharing.tlp == "amber" and config.sharing.transactional == "auto"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(
        config.sharing.redact.networks)
    nameless = GOOD.replace('  identity: {name: "So TTTT Binh Phuoc"}\n', "")
    raw = read_config(write(tmp_path, nameless), {})
    assert validate_config(raw) is not None
    assert [str(p) for p in errors(raw)] == [
        f"{tmp_path}/socd.yaml:18: sharing.identity.name: the department's name is not set: "
        "name it as the national centre knows it (the creator of every shared sighting), or "
        "set sharing.enabled: false"]
    empty = GOOD.replace('{name: "So TTTT Binh Phuoc"}', '{name: " "}')
    raw = read_config(write(tmp_path, empty), {})
    assert validate_config(raw) is not None
    assert [(p.line, p.key) for p in errors(raw)] == [(21, "sharing.identity.name")]
    assert "the department's name is empty" in errors(raw)[0].message
    raw = read_config(write(tmp_path, nameless.replace(
        "  min_class: critical\n", "  min_class: critical\n  enabled: false\n")), {})
    config = validate_config(raw)
    assert config is not None and raw.problems == [] and not config.sharing_active
    without = GOOD.replace("sharing:\n  topic: socd.national\n  min_class: critical\n"
                           '  identity: {name: "So TTTT Binh Phuoc"}\n', "")
    raw = read_config(write(tmp_path, without), {})
    config = validate_config(raw)
    assert config is not None and raw.problems == [] and not config.sharing_active
    raw = read_config(write(tmp_path, without), {"SOCD_SHARING__MIN_CLASS": "high-risk"})
    assert validate_config(raw) is not None
    assert [p.key for p in errors(raw)] == ["sharing.identity.name"]
    raw = read_config(write(tmp_path, without), {"SOCD_SHARING__MIN_CLASS": "high-risk",
                                                 "SOCD_SHARING__IDENTITY__NAME": "So TTTT",
                                                 "SOCD_SHARING__REDACT__DOMAINS": "bp.gov.vn"})
    config = validate_config(raw)
    assert config is not None and raw.problems == [] and config.sharing_active
    assert config.sharing.redact.domains == ["bp.gov.vn"]


def errors(raw: RawConfig) -> list[Problem]:
    return [problem for problem in raw.problems if not problem.warning]


def test_redacted_domains_are_dns_names(tmp_path: Path) -> None:
    """Checked when the file is read, by the rule that decides what is redacted."""
    text = GOOD.replace("  min_class: critical\n", "  min_class: critical\n  redact: {domains: "
                        "[binhphuoc.gov.vn, 'bad name', nodots]}\n")
    found = problems(write(tmp_path, text))
    assert sum("sharing.redact.domains.1" in p and "'bad name' is not a DNS name" in p
               for p in found) == 1
    assert sum("sharing.redact.domains.2" in p for p in found) == 1
    assert not any("sharing.redact.domains.0" in p for p in found)


def test_redacted_networks_are_address_ranges(tmp_path: Path) -> None:
    text = GOOD.replace("  min_class: critical\n",
                        "  min_class: critical\n  redact: {networks: [10.0.0.0/8, nowhere]}\n")
    assert any("sharing.redact.networks.1" in p and "'nowhere' is not an address range" in p
               for p in problems(write(tmp_path, text)))


KEY_NAMES = st.sampled_from(["a", "b", "c", "group_id", "topic"])


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(KEY_NAMES, min_size=1, max_size=8), nested=st.booleans())
def test_every_repeated_key_is_found_on_its_line(keys: list[str], nested: bool) -> None:
    """For any mapping (top level or one level down), each key written again is one problem
    on the line of the repeat, naming the line of the first."""
    indent = "  " if nested else ""
    text = ("section:\n" if nested else "") + "".join(f"{indent}{k}: 1\n" for k in keys)
    first: dict[str, int] = {}
    expected = []
    for number, key in enumerate(keys, start=1 + nested):
        if key in first:
            expected.append((number, ("section." if nested else "") + key, first[key]))
        first.setdefault(key, number)
    found = duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), "f.yaml")
    assert [(p.line, p.key) for p in found] == [(line, key) for line, key, _ in expected]
    assert all(f"also at line {first_line}" in p.message
               for p, (_, _, first_line) in zip(found, expected, strict=True))


ITEM = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=",\x00",
                                      exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
               min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(ITEM, min_size=1, max_size=5), spaces=st.sampled_from(["", " ", "  "]))
def test_any_comma_separated_list_of_strings_splits(items: list[str], spaces: str) -> None:
    """Any items without commas, joined by commas (with spaces around or not), come back as
    the list, from the environment as from the file."""
    text = f",{spaces}".join(items)
    assert env_value(Config, ("rules", "placeholders", "admins"), text) == text
    loaded = RulesConfig.model_validate({"placeholders": {"admins": text}})
    assert loaded.placeholders["admins"] == [item.strip() for item in items if item.strip()]


def test_relative_tls_files_are_next_to_the_config_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ca_certs: tls/ca.pem`` names the file beside socd.yaml, whatever the working
    directory (as rules, mapping files and the secrets' ``_file`` keys do)."""
    trustme = pytest.importorskip("trustme")
    (tmp_path / "tls").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "tls" / "ca.pem"))
    path = write(tmp_path, GOOD.replace("elasticsearch:\n",
                                        "elasticsearch:\n  ca_certs: tls/ca.pem\n", 1))
    monkeypatch.chdir("/")
    config = load_config(path, {})
    assert config.elasticsearch.ca_certs == tmp_path / "tls" / "ca.pem"
