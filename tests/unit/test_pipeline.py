"""One batch through the stages: threats become documents, bad input dead letters,
offsets advance past every record, ids are deterministic."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from socd.classify import RuleSet
from socd.clock import ClockSkew
from socd.config import Config, load_config
from socd.errors import ConfigError
from socd.event import Record
from socd.normalize.convert import format_utc
from socd.pipeline import Clock, Pipeline, bound_timestamp, collector_paused, document_id

RULES = Path(__file__).resolve().parent.parent / "files" / "rules"


def config(**input_overrides: Any) -> Config:
    # the events below are dated March 2026: a past skew of 100 years keeps them valid on
    # any day the tests run (the clock tests set their own)
    return Config.model_validate({
        "inputs": [{"topic": "in", "connector": "cyradar", "layer": 2, "sensor": "ndr",
                    "max_clock_skew": {"past": "36500d"}, **input_overrides}],
        "rules": {"paths": [str(RULES)]},
        "elasticsearch": {"index_prefix": "p"},
        "kafka": {"max_message_bytes": 2048},
    })


def pipeline(**input_overrides: Any) -> Pipeline:
    cfg = config(**input_overrides)
    rules, _ = RuleSet.load(cfg.rules.paths)
    return Pipeline(cfg, rules)


def event(i: int, category: str, severity: int,
          detected_at: str = "2026-03-01T06:00:00+07:00") -> bytes:
    return orjson.dumps({"alert_id": f"id-{i}", "detected_at": detected_at,
                         "severity": severity, "category": category})


def records(*values: bytes | None, partition: int = 0,
            timestamp_ms: int | None = None) -> list[Record]:
    return [Record("in", partition, 100 + i, value, timestamp_ms=timestamp_ms)
            for i, value in enumerate(values)]


def test_threats_documents_dead_letters_and_offsets() -> None:
    """Critical and high-risk events become documents in the month's index with socd's
    verdict; a non-threat is consumed but not indexed; bad input is dead-lettered."""
    batch = pipeline().process(records(
        event(1, "apt_c2", 9), event(2, "malware", 6), event(3, "scan", 2),
        b"{oops", None, b"x" * 4096, event(4, "defacement", 1)))
    assert batch.offsets == {("in", 0): 107}
    assert batch.events == {("in", "ndr"): 7}
    verdicts = [(a.document()["socd"]["class"], a.document()["socd"]["layer"])
                for a in batch.actions]
    assert verdicts == [("critical", 2), ("high-risk", 2), ("critical", 1)]
    first = batch.actions[0]
    assert first.index == "p-alerts-2026.02"  # 06:00+07:00 on 1 March is 23:00 UTC in February
    assert first.labels == ("critical", "2", "ndr")
    assert first.document()["socd"]["rule"]["ids"][0] == first.document()["socd"]["rule"]["id"]
    assert orjson.loads(first.body.split(b"\n")[1])["event"]["id"] == "id-1"
    assert [(d.reason, d.record.offset) for d in batch.dead] == [
        ("not_json", 103), ("not_json", 104), ("too_large", 105)]
    assert all(d.connector == "cyradar" for d in batch.dead)


def test_batch_in_flight_holds_bytes_not_documents() -> None:
    """Once encoded, a threat keeps only its bytes: the document read back from them is the
    whole document, header and id included."""
    batch = pipeline().process(records(event(1, "apt_c2", 9), event(2, "malware", 6)))
    assert len(batch.actions) == 2
    for action in batch.actions:
        assert not hasattr(action, "doc")
        header, document, end = action.body.split(b"\n")
        assert end == b""
        assert orjson.loads(header) == {"create": {"_index": action.index, "_id": action.doc_id}}
        assert action.document() == orjson.loads(document)
        assert action.document()["socd"]["class"] == action.labels[0]


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_state_is_restored(enabled: bool) -> None:
    """process() holds the cyclic collector and leaves it as it found it, on success and
    when the block raises."""
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        pipeline().process(records(event(1, "apt_c2", 9), b"{oops"))
        assert gc.isenabled() is enabled
        seen: list[bool] = []

        def fail_inside() -> None:
            with collector_paused():
                seen.append(gc.isenabled())
                raise RuntimeError("inside")

        with pytest.raises(RuntimeError):
            fail_inside()
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_input_logsource_decides_which_rules_apply() -> None:
    """An input whose logsource is not the rules' product meets none of them."""
    batch = pipeline(logsource={"product": "suricata"}).process(records(event(1, "apt_c2", 9)))
    assert [a.document()["socd"]["rule"]["name"] for a in batch.actions] == [
        "Test - a rule for another product never meets cyradar events"]


def test_document_ids_are_deterministic() -> None:
    """The same sensor event gives the same id at any Kafka position; without an event id
    the Kafka position decides."""
    doc: dict[str, Any] = {"event": {"id": "x"}, "observer": {"name": "a"}}
    here, there = Record("t", 0, 5, b""), Record("t", 1, 9, b"")
    assert document_id("cyradar", doc, here) == document_id("cyradar", doc, there)
    assert document_id("cyradar", doc, here) != document_id("suricata", doc, here)
    assert document_id("c", {}, here) == document_id("c", {}, Record("t", 0, 5, b""))
    assert document_id("c", {}, here) != document_id("c", {}, there)


def test_reloaded_rules_apply_to_the_next_batch(tmp_path: Path) -> None:
    """use_rules swaps the rules for every input at once."""
    stage = pipeline()
    assert stage.process(records(event(1, "scan", 2))).actions == []
    (tmp_path / "all.yml").write_text(
        "title: everything\nid: 8d0b0b8e-7a33-4c55-9a8e-1f3c3c3c3c3c\nstatus: test\n"
        "logsource: {product: cyradar}\ndetection:\n  s:\n    event.severity|gte: 1\n"
        "  condition: s\nlevel: high\n")
    stage.use_rules(RuleSet.load([tmp_path])[0])
    assert len(stage.process(records(event(1, "scan", 2))).actions) == 1


@pytest.mark.parametrize("value", [b"\xff\xfe", b"[]", b"{}", b'{"alert_id": 1}'])
def test_no_exception_escapes(value: bytes) -> None:
    """Whatever the bytes, process() returns a dead letter rather than raising."""
    batch = pipeline().process(records(value))
    assert len(batch.dead) == 1
    assert batch.actions == []


# -- sensor clocks -----------------------------------------------------------------------------
# Times are chosen days away from every bound, so that no test depends on how fast it runs.

def threat_at(detected_at: str, *, kafka: datetime | None = None,
              **skew: str) -> dict[str, Any]:
    """The threat document of one critical event sent at ``detected_at``."""
    stage = pipeline(max_clock_skew=skew)
    millis = int(kafka.timestamp() * 1000) if kafka is not None else None
    batch = stage.process(records(event(1, "apt_c2", 9, detected_at), timestamp_ms=millis))
    (action,) = batch.actions
    doc = action.document()
    stamp = doc["@timestamp"]
    assert action.index == f"p-alerts-{stamp[:4]}.{stamp[5:7]}"
    return doc


def test_sensor_time_in_2099_becomes_the_kafka_time() -> None:
    """The issue's example: detected_at 2099-01-01 is kept in socd.sensor_timestamp, the
    threat is filed under the time Kafka received it, and socd.warnings says so."""
    kafka = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)  # whole ms
    doc = threat_at("2099-01-01", kafka=kafka)
    assert doc["@timestamp"] == format_utc(kafka)
    assert doc["socd"]["sensor_timestamp"] == "2098-12-31T17:00:00.000Z"  # input zone UTC+7
    (warning,) = doc["socd"]["warnings"]
    assert "2098-12-31T17:00:00.000Z is more than 1h ahead" in warning
    assert "inputs[].max_clock_skew.future" in warning and "when Kafka received" in warning


def test_sensor_time_in_1970_becomes_the_ingest_time() -> None:
    """1970 is more than 30 days behind; without a Kafka time, @timestamp is the time socd
    read the message (event.ingested)."""
    doc = threat_at("1970-01-01T00:00:00Z", past="30d")
    assert doc["@timestamp"] == doc["event"]["ingested"]
    assert doc["socd"]["sensor_timestamp"] == "1970-01-01T00:00:00.000Z"
    assert "more than 30d behind" in doc["socd"]["warnings"][0]
    assert "when socd read the message" in doc["socd"]["warnings"][0]


def test_a_kafka_time_out_of_bounds_is_not_used() -> None:
    """A producer with the same wrong clock: its Kafka time is out of the window too."""
    doc = threat_at("2099-01-01", kafka=datetime(2099, 1, 1, tzinfo=UTC))
    assert doc["@timestamp"] == doc["event"]["ingested"]


@pytest.mark.parametrize(("offset", "skew", "kept"), [
    (timedelta(days=-1), {}, True),
    (timedelta(days=-29), {}, True),
    (timedelta(days=-31), {}, False),
    (timedelta(minutes=-1), {}, True),
    (timedelta(days=1), {}, False),
    (timedelta(days=1), {"future": "2d"}, True),
    (timedelta(days=-60), {"past": "9w"}, True),
    (timedelta(days=-60), {"past": "8w"}, False),
    (timedelta(days=-2), {"past": "1d"}, False),
])
def test_window_of_max_clock_skew(offset: timedelta, skew: dict[str, str], kept: bool) -> None:
    """A sensor time inside [now - past, now + future] is kept untouched (defaults: 30 days
    and 1 hour); outside it, it is replaced."""
    sensor = datetime.now(UTC) + offset
    doc = threat_at(sensor.isoformat(), past=skew.get("past", "30d"),
                    **{k: v for k, v in skew.items() if k != "past"})
    if kept:
        assert doc["@timestamp"] == format_utc(sensor)
        assert "socd" not in doc or "warnings" not in doc["socd"]
        assert "sensor_timestamp" not in doc["socd"]
    else:
        assert doc["@timestamp"] == doc["event"]["ingested"]
        assert doc["socd"]["sensor_timestamp"] == format_utc(sensor)


def test_bound_timestamp_on_missing_and_odd_values() -> None:
    """No @timestamp: the Kafka time, silently (documented); a value that is no time: named
    in socd.warnings; a time in another form: rewritten in UTC when in the window."""
    now = datetime.now(UTC)
    clock, skew = Clock(now), ClockSkew()
    kafka = now.replace(microsecond=0) - timedelta(hours=2)  # whole milliseconds
    record = Record("in", 0, 1, b"", timestamp_ms=int(kafka.timestamp() * 1000))
    doc: dict[str, Any] = {}
    assert bound_timestamp(doc, record, clock, skew) == format_utc(kafka)
    assert doc == {"@timestamp": format_utc(kafka)}
    doc = {"@timestamp": "soon"}
    assert bound_timestamp(doc, record, clock, skew) == format_utc(kafka)
    assert "@timestamp 'soon' is not a time" in doc["socd"]["warnings"][0]
    local = (now - timedelta(days=1)).astimezone(timezone(timedelta(hours=7))).isoformat()
    doc = {"@timestamp": local}
    assert bound_timestamp(doc, record, clock, skew) == format_utc(now - timedelta(days=1))
    assert "socd" not in doc


@pytest.mark.parametrize(("written", "seconds"), [
    ("90s", 90), ("15m", 900), ("1h", 3600), ("30d", 2_592_000), ("2w", 1_209_600),
    ("1.5h", 5400), (" 45 ", 45), (120, 120), (0, 0)])
def test_durations(written: Any, seconds: int) -> None:
    """max_clock_skew takes a number of seconds or a number with s, m, h, d or w."""
    skew = config(max_clock_skew={"future": written}).inputs[0].max_clock_skew
    assert skew.future == timedelta(seconds=seconds)
    assert skew.past == timedelta(days=30)


@pytest.mark.parametrize(("written", "needle"), [
    ("soon", "not a duration"), ("-1h", "not a duration"), (-5, "negative"),
    ("36501d", "more than 36500d"), (True, "not a duration")])
def test_bad_durations_name_the_key(tmp_path: Path, written: Any, needle: str) -> None:
    """A duration socd cannot read stops start-up naming the file, line and key."""
    path = tmp_path / "socd.yaml"
    value = orjson.dumps(written).decode()
    path.write_text("inputs:\n  - topic: t\n    connector: cyradar\n    layer: 2\n"
                    f"    sensor: s\n    max_clock_skew:\n      past: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert needle in str(problem)
    assert problem.key == "inputs.0.max_clock_skew.past" and problem.line == 7


def rule_file(path: Path, rule_id: str, level: str, *, product: str = "cyradar",
              layer: int | None = None, correlation: dict[str, Any] | None = None) -> None:
    """One Sigma rule (or correlation rule) with an optional ``socd: layer:``."""
    rule: dict[str, Any] = {"title": f"rule {rule_id[-2:]}", "id": rule_id, "level": level}
    if correlation is None:
        rule["logsource"] = {"product": product}
        rule["detection"] = {"selection": {"event.severity|gte": 1}, "condition": "selection"}
    else:
        rule["correlation"] = correlation
    if layer is not None:
        rule["socd"] = {"layer": layer}
    path.write_text(yaml.safe_dump(rule, sort_keys=False))


def rule_id(n: int) -> str:
    return f"6b0c1d2e-0000-4000-8000-{n:012d}"


def layers_of(tmp_path: Path) -> frozenset[int]:
    cfg = config()
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert problems == []
    stage = Pipeline(cfg, rules)
    [runtime] = stage.inputs
    return stage.threat_layers(runtime)


def test_threat_layers_are_the_inputs_and_its_rules_overrides(tmp_path: Path) -> None:
    """The input's layer (2) and the socd.layer of each high or critical rule meeting its
    events (3); not a medium rule's layer (4), nor that of a rule for another product (1)."""
    rule_file(tmp_path / "high.yml", rule_id(1), "high")
    rule_file(tmp_path / "crit3.yml", rule_id(2), "critical", layer=3)
    rule_file(tmp_path / "medium4.yml", rule_id(3), "medium", layer=4)
    rule_file(tmp_path / "suricata1.yml", rule_id(4), "critical", product="suricata", layer=1)
    assert layers_of(tmp_path) == {2, 3}


def test_threat_layers_follow_correlations_of_the_inputs_rules(tmp_path: Path) -> None:
    """A correlation counting one of the input's rules (3), and one counting that
    correlation (4), can decide its threats' layer; one counting only another product's
    rule (1) cannot."""
    rule_file(tmp_path / "base.yml", rule_id(1), "medium")
    rule_file(tmp_path / "suricata.yml", rule_id(2), "high", product="suricata")
    count = {"type": "event_count", "group-by": ["source.ip"], "timespan": "10m",
             "condition": {"gte": 3}}
    rule_file(tmp_path / "c3.yml", rule_id(3), "critical", layer=3,
              correlation={**count, "rules": [rule_id(1)]})
    rule_file(tmp_path / "c4.yml", rule_id(4), "high", layer=4,
              correlation={**count, "rules": [rule_id(3)]})
    rule_file(tmp_path / "c1.yml", rule_id(5), "critical", layer=1,
              correlation={**count, "rules": [rule_id(2)]})
    assert layers_of(tmp_path) == {2, 3, 4}


def test_threat_layers_of_the_shipped_test_rules() -> None:
    """tests/files/rules: the defacement rule moves threats to layer 1 (the example of
    issue 10: a layer only a rule gives)."""
    stage = pipeline()
    [runtime] = stage.inputs
    assert stage.threat_layers(runtime) == {1, 2}


def suppressing_event(i: int, source: str | None) -> bytes:
    found = {"alert_id": f"s-{i}", "detected_at": "2026-03-01T06:00:00+07:00",
             "severity": 9, "category": "apt_c2"}
    if source is not None:
        found["src"] = {"ip": source}
    return orjson.dumps(found)


def test_an_inputs_suppression_gives_threats_their_alert() -> None:
    """Under the input's suppress: threats of one source in one window share an alert id
    (in the index of the window's start), another source has its own, and a threat
    without the key field is a document of its own; the batch records the first offset of
    each partition it read."""
    batch = pipeline(suppress={"by": ["source.ip"], "for": "1h"}).process(records(
        suppressing_event(1, "10.0.0.1"), suppressing_event(2, "10.0.0.1"),
        suppressing_event(3, "10.0.0.2"), suppressing_event(4, None)))
    assert [a.suppress is not None for a in batch.actions] == [True, True, True, False]
    ids = [a.suppress.alert_id for a in batch.actions if a.suppress is not None]
    assert ids[0] == ids[1] != ids[2]
    assert {a.suppress.index for a in batch.actions if a.suppress} == {"p-alerts-2026.02"}
    assert batch.first == {("in", 0): 100} and batch.offsets == {("in", 0): 104}
    assert pipeline().process(records(suppressing_event(1, "10.0.0.1"))).actions[0] \
        .suppress is None


def test_a_rules_suppress_false_wins_over_the_inputs(tmp_path: Path) -> None:
    rule = tmp_path / "r.yml"
    rule.write_text("""title: every apt_c2
id: 5f0a6c1e-2d6f-4d6f-9a53-0000000000aa
logsource: {product: cyradar}
detection:
  s: {rule.category: apt_c2}
  condition: s
level: critical
socd:
  suppress: false
""")
    cfg = config(suppress={"by": ["source.ip"], "for": "1h"})
    rules, _ = RuleSet.load([rule])
    batch = Pipeline(cfg, rules).process(records(suppressing_event(1, "10.0.0.1")))
    assert batch.actions[0].suppress is None
