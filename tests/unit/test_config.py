"""The config file: defaults, environment overrides, and every problem with file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest

from socd.config import load_config
from socd.errors import ConfigError

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
    assert "socd.yaml:22: report.timezone: unknown time zone 'Asia/Hanoi_City'" in joined


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
    (("topic: socd.dead-letter", "topic: sensors.cyradar"), "also an input topic"),
])
def test_values_are_checked(tmp_path: Path, change: tuple[str, str], needle: str) -> None:
    """Addresses, URLs, index names and topic clashes are checked before start."""
    found = problems(write(tmp_path, GOOD.replace(*change)))
    assert any(needle in p for p in found), found


def test_input_pipelines_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Pipeline names stay names; relative pipeline files are found beside the config file;
    ``check-config`` reports a pipeline that does not load, naming it."""
    from socd.cli import check_config

    text = GOOD.replace("    sensor: cyradar-ndr\n", "    sensor: cyradar-ndr\n"
                        "    pipelines: [windows, pipelines/ecs.yml, no-such-pipeline]\n")
    config = load_config(write(tmp_path, text), {})
    assert config.inputs[0].pipelines == [
        "windows", str(tmp_path / "pipelines/ecs.yml"), "no-such-pipeline"]
    assert config.pipelines == [("windows", str(tmp_path / "pipelines/ecs.yml"),
                                 "no-such-pipeline")]
    (tmp_path / "rules").mkdir()
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    messages = "\n".join(str(p) for p in caught.value.problems)
    assert "cannot read the pipeline" in messages and "unknown pipeline" in messages
