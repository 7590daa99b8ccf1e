"""Log lines have the ECS shape a log pipeline reads without parsing rules (Elastic's ECS
logging specification, elastic/ecs-logging spec/spec.json and spec/README.md)."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.errors import SocdError
from socd.telemetry.ecslog import DATASET, ECS_VERSION, ecs_shape
from socd.telemetry.logging import configure, get_logger

ECS_FIELDS = Path(__file__).parents[3] / "socd" / "normalize" / "ecs_fields.tsv"

# spec/README.md: "@timestamp", "log.level" and "message" first, in this order;
# spec.json: "ecs.version" required, "log.level" and "ecs.version" top-level dotted keys.
FIRST_KEYS = ["@timestamp", "log.level", "message", "ecs.version"]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("debug", "json", stream=out)
    yield out
    configure("info", "json")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    logging.getLogger().handlers[0].flush()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def ecs_reference() -> tuple[str, dict[str, str]]:
    """(version, {field: type}) of the ECS reference socd's documents follow."""
    text = ECS_FIELDS.read_text(encoding="utf-8").splitlines()
    version = text[0].split()[2]  # "# ECS 9.4.0 field reference, ..."
    fields = dict(line.split("\t")[:2] for line in text if not line.startswith("#"))
    return version, fields


def test_a_line_starts_with_the_keys_the_specification_orders(stream: io.StringIO) -> None:
    """@timestamp, log.level, message, ecs.version first; the logger, the service, the
    dataset and socd's event name as ECS fields; socd's own keys under `socd`."""
    get_logger("socd.source").info("partitions_assigned", topics=["sensors.cyradar"], count=3)
    (line,) = lines(stream)
    assert list(line)[:4] == FIRST_KEYS
    assert line == {
        "@timestamp": line["@timestamp"], "log.level": "info", "message": "partitions_assigned",
        "ecs.version": ECS_VERSION, "log.logger": "socd.source", "service.name": "socd",
        "event.dataset": "socd.log", "event.action": "partitions_assigned",
        "socd": {"topics": ["sensors.cyradar"], "count": 3}}
    assert line["@timestamp"].endswith("Z") and "T" in line["@timestamp"]


def test_every_ecs_key_written_is_an_ecs_field_of_a_string_type(stream: io.StringIO) -> None:
    """Each dotted key a line can carry is a field of the ECS version the line names, of a
    type a string fits (so an index with ECS mappings takes the line as it is)."""
    version, fields = ecs_reference()
    assert version == ECS_VERSION
    try:
        raise SocdError("broken")
    except SocdError:
        get_logger("socd.app").error("fatal", exc_info=True, inputs=1)
    logging.getLogger("aiokafka").warning("plain")
    written = lines(stream)
    keys = {key for line in written for key in line if key != "socd"}
    assert "error.stack_trace" in keys and "event.action" in keys
    for key in keys:
        assert fields.get(key) in {"keyword", "text", "match_only_text", "wildcard", "date"}, key


def test_an_exception_fills_the_error_fields(stream: io.StringIO) -> None:
    """error.type names the class as a traceback does (module-qualified unless built in),
    error.message its text, error.stack_trace the whole traceback."""
    try:
        raise SocdError("Kafka at k1:9092 cannot be reached")
    except SocdError as exc:
        get_logger("socd.app").error("fatal", exc_info=exc)
    (line,) = lines(stream)
    assert line["error.type"] == "socd.errors.SocdError"
    assert line["error.message"] == "Kafka at k1:9092 cannot be reached"
    assert line["error.stack_trace"].startswith("Traceback (most recent call last):")
    assert line["error.stack_trace"].endswith(
        "socd.errors.SocdError: Kafka at k1:9092 cannot be reached")
    assert "socd" not in line


def test_socd_error_keys_are_the_ecs_error_fields(stream: io.StringIO) -> None:
    """socd's `error` (a reason as text) and `error_type` keys are written as error.message
    and error.type, ahead of what an exception gives; no exception, no stack trace."""
    log = get_logger("socd.app")
    log.warning("shutdown_phase_failed", phase="flush", error="timed out",
                error_type="TimeoutError")
    try:
        raise ValueError("bad value")
    except ValueError as exc:
        log.error("processing_failed", error="short reason", exc_info=exc)
    log.info("no_exception_here", exc_info=True)  # outside an except: nothing to add
    first, second, third = lines(stream)
    assert (first["error.type"], first["error.message"]) == ("TimeoutError", "timed out")
    assert "error.stack_trace" not in first and first["socd"] == {"phase": "flush"}
    assert (second["error.type"], second["error.message"]) == ("ValueError", "short reason")
    assert "ValueError: bad value" in second["error.stack_trace"]
    assert not [key for key in third if key.startswith("error.")]


def test_vietnamese_text_arrives_intact(stream: io.StringIO) -> None:
    get_logger("socd.report").info("report_written", title="Báo cáo mối nguy hại cao")
    assert lines(stream)[0]["socd"]["title"] == "Báo cáo mối nguy hại cao"


# names that would collide with ECS fields, or with the keys the processor writes
COLLIDING = st.sampled_from([
    "message", "file", "host", "log", "ecs", "service", "error", "error_type",
    "exception", "@timestamp", "log.level", "event.action", "socd", "labels", "tags",
    "exc_info", "positional_args"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)


# structlog's own keys (the event name, level, logger, time) are not a call's to give
RESERVED = {"event", "level", "logger", "timestamp"}


@given(own=st.dictionaries((COLLIDING | st.text(min_size=1, max_size=12)).filter(
           lambda key: key not in RESERVED), JSON_VALUES, max_size=6),
       name=st.text(min_size=1, max_size=30), logger=st.sampled_from(["socd.app", "aiokafka"]))
def test_no_key_of_an_event_can_replace_an_ecs_key(
        own: dict[str, Any], name: str, logger: str) -> None:
    """Whatever keys an event carries, the ECS keys say what the processor says, and every
    key that is not an error field is kept under `socd`, unchanged."""
    event = {**own, "event": name, "level": "warning", "logger": logger,
             "timestamp": "2026-01-02T03:04:05.000006Z"}
    shaped = ecs_shape(None, "warning", dict(event))
    assert list(shaped)[:4] == FIRST_KEYS
    assert shaped["message"] == name and shaped["log.level"] == "warning"
    assert shaped["log.logger"] == logger and shaped["event.dataset"] == DATASET
    assert shaped.get("event.action") == (name if logger == "socd.app" else None)
    kept = {key: value for key, value in own.items()
            if key not in {"error", "error_type", "exc_info", "exception", "positional_args"}}
    assert shaped.get("socd", {}) == kept
    if own.get("error") is not None:
        assert shaped["error.message"] == str(own["error"])
    assert set(shaped) - {"socd"} <= {*FIRST_KEYS, "log.logger", "service.name",
                                      "event.dataset", "event.action", "error.type",
                                      "error.message", "error.stack_trace"}
    json.loads(json.dumps(shaped))  # one JSON object, whatever the values


README = Path(__file__).parents[3] / "README.md"
JQ_PROBLEMS = ('select(.["log.level"] == "error" or .["log.level"] == "warning")\n'
               '           | {t: .["@timestamp"], what: .message, error: .["error.message"], socd}')
JQ_ACTIONS = '.["event.action"] // empty'


def test_the_jq_examples_of_the_readme_work(stream: io.StringIO) -> None:
    """The README's jq programs, run by jq on real lines: the problems with their error
    text and socd's keys; the event names of socd's own lines only."""
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    text = README.read_text(encoding="utf-8")
    assert JQ_PROBLEMS in text and JQ_ACTIONS in text
    log = get_logger("socd.app")
    log.info("started", inputs=2)
    log.warning("elasticsearch_unavailable", hosts="http://es:9200", attempt=1,
                error="connection refused")
    logging.getLogger("aiokafka.conn").warning("Unable to connect to %s", "k1:9092")
    logging.getLogger().handlers[0].flush()
    source = stream.getvalue()

    def run(program: str) -> str:
        return subprocess.run([jq, "-c", program], input=source, capture_output=True,
                              text=True, check=True, timeout=30).stdout

    problems = [json.loads(line) for line in run(JQ_PROBLEMS).splitlines()]
    assert [(p["what"], p["error"]) for p in problems] == [
        ("elasticsearch_unavailable", "connection refused"),
        ("Unable to connect to k1:9092", None)]
    assert problems[0]["socd"] == {"hosts": "http://es:9200", "attempt": 1}
    assert run(JQ_ACTIONS).split() == ['"started"', '"elasticsearch_unavailable"']
