"""Checks across keys run on whatever keys did validate, so one run shows every problem."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from socd.cli import check_config
from socd.config import read_config, validate_config

ISSUE_CONFIG = """\
inputs:
  - topic: a.b
    connector: cyradar
    layer: 2
    sensor: ndr
  - topic: a_b
    connector: cyradar
    layer: 2
    sensor: ndr
rules:
  paths: [rules]
elasticsearch:
  index_prefix: Bad!
metrics:
  listen: nowhere
dead_letter:
  topic: a.b
"""


def test_issue_example_all_four_problems_in_one_run(tmp_path: Path) -> None:
    """The bad index prefix and listen address no longer hide the topic collision and the
    dead-letter topic that is also an input's."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yml").write_text(
        "title: t\nid: 0b0c51b5-5b8c-4a3e-9d1f-3d7d6f9a0c01\nlevel: critical\n"
        "logsource: {product: cyradar}\ndetection:\n  sel:\n    event.severity: 10\n"
        "  condition: sel\n")
    path = tmp_path / "socd.yaml"
    path.write_text(ISSUE_CONFIG)
    out, err = io.StringIO(), io.StringIO()
    assert check_config(path, out, err) != 0
    assert err.getvalue().splitlines() == [
        "socd: 4 problems:",
        f"  {path}:6: inputs.1.topic: Kafka cannot hold both 'a.b' (inputs.0.topic) and 'a_b': "
        "it takes '.' and '_' alike in metric names and refuses the second: rename one",
        f"  {path}:13: elasticsearch.index_prefix: 'Bad!' cannot start Elasticsearch index "
        "names: use a lowercase letter or digit, then lowercase letters, digits, '_', '.' or "
        "'-' (at most 200 characters), for example socd",
        f"  {path}:15: metrics.listen: 'nowhere' is not HOST:PORT (for example 127.0.0.1:9464); an "
        "empty value turns the endpoint off (listen: \"\" in the file, SOCD_METRICS__LISTEN= "
        "in the environment)",
        f"  {path}:17: dead_letter.topic: topic 'a.b' is also inputs.0.topic: every input needs "
        "its own topic, and the dead-letter topic must be none of them",
    ]


GOOD_INPUTS = """\
inputs:
  - topic: t.one
    connector: cyradar
    layer: 2
    sensor: ndr
  - topic: {second}
    connector: cyradar
    layer: {layer}
    sensor: ndr
"""


@pytest.mark.parametrize(("extra", "second", "layer", "wanted"), [
    # a field error in an input does not hide a duplicate topic
    ("", "t.one", 9, ["inputs.1.layer: ", "inputs.1.topic: topic 't.one' is also"]),
    # a field error elsewhere does not hide a collision
    ("kafka:\n  max_batch: 0\n", "t_one", 2,
     ["kafka.max_batch: ", "inputs.1.topic: Kafka cannot hold both"]),
    # the default dead-letter topic is still compared with the inputs
    ("metrics:\n  listen: x\n", "socd.dead-letter", 2,
     ["metrics.listen: ", "dead_letter.topic: topic 'socd.dead-letter' is also inputs.1"]),
    # sharing's topic, when the section is set
    ("sharing:\n  topic: t.one\n  min_class: nope\n  identity: {name: So}\n", "t.two", 2,
     ["sharing.min_class: ", "sharing.topic: topic 't.one' is also inputs.0.topic"]),
    # and sharing's section check (the department's name) although another key failed
    ("sharing:\n  min_class: nope\n", "t.two", 2,
     ["sharing.min_class: ", "sharing.identity.name: the department's name is not set"]),
    # an invalid topic is reported once, and takes no part in the comparisons
    ("dead_letter:\n  topic: 'a b'\n", "t.two", 9,
     ["inputs.1.layer: ", "dead_letter.topic: Kafka refuses ' '"]),
    # a section check (credentials) runs although another key of the section failed
    ("elasticsearch:\n  username: u\n  index_prefix: Bad\n", "t.two", 2,
     ["elasticsearch.index_prefix: ", "elasticsearch: username and password go together"]),
    ("kibana:\n  api_key: k\n  username: u\n  password: p\n  request_timeout: 0\n", "t.two", 2,
     ["kibana.request_timeout: ", "kibana: set api_key or username/password, not both"]),
    # and when the section's keys are fine it is reported once, not twice
    ("elasticsearch:\n  username: u\nmetrics:\n  listen: x\n", "t.two", 2,
     ["metrics.listen: ", "elasticsearch: username and password go together"]),
])
def test_field_and_cross_field_problems_together(
        tmp_path: Path, extra: str, second: str, layer: int, wanted: list[str]) -> None:
    path = tmp_path / "socd.yaml"
    path.write_text(GOOD_INPUTS.format(second=second, layer=layer) + extra)
    raw = read_config(path, {})
    assert validate_config(raw) is None
    found = [str(p) for p in raw.problems if not p.warning]
    assert len(found) == len(wanted), found
    for want in wanted:
        assert sum(want in line for line in found) == 1, (want, found)
