"""One batch through the stages: threats become documents, bad input dead letters,
offsets advance past every record, ids are deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.classify import RuleSet
from socd.config import Config
from socd.event import Record
from socd.pipeline import Pipeline, document_id

RULES = Path(__file__).resolve().parent.parent / "files" / "rules"


def config(**input_overrides: Any) -> Config:
    return Config.model_validate({
        "inputs": [{"topic": "in", "connector": "cyradar", "layer": 2, "sensor": "ndr",
                    **input_overrides}],
        "rules": {"paths": [str(RULES)]},
        "elasticsearch": {"index_prefix": "p"},
        "kafka": {"max_message_bytes": 2048},
    })


def pipeline(**input_overrides: Any) -> Pipeline:
    cfg = config(**input_overrides)
    rules, _ = RuleSet.load(cfg.rules.paths)
    return Pipeline(cfg, rules)


def event(i: int, category: str, severity: int) -> bytes:
    return orjson.dumps({"alert_id": f"id-{i}", "detected_at": "2026-03-01T06:00:00+07:00",
                         "severity": severity, "category": category})


def records(*values: bytes | None, partition: int = 0) -> list[Record]:
    return [Record("in", partition, 100 + i, value) for i, value in enumerate(values)]


def test_threats_documents_dead_letters_and_offsets() -> None:
    """Critical and high-risk events become documents in the month's index with socd's
    verdict; a non-threat is consumed but not indexed; bad input is dead-lettered."""
    batch = pipeline().process(records(
        event(1, "apt_c2", 9), event(2, "malware", 6), event(3, "scan", 2),
        b"{oops", None, b"x" * 4096, event(4, "defacement", 1)))
    assert batch.offsets == {("in", 0): 107}
    assert batch.events == {("in", "ndr"): 7}
    verdicts = [(a.doc["socd"]["class"], a.doc["socd"]["layer"]) for a in batch.actions]
    assert verdicts == [("critical", 2), ("high-risk", 2), ("critical", 1)]
    first = batch.actions[0]
    assert first.index == "p-alerts-2026.02"  # 06:00+07:00 on 1 March is 23:00 UTC in February
    assert first.labels == ("critical", "2", "ndr")
    assert first.doc["socd"]["rule"]["ids"][0] == first.doc["socd"]["rule"]["id"]
    assert orjson.loads(first.body.split(b"\n")[1])["event"]["id"] == "id-1"
    assert [(d.reason, d.record.offset) for d in batch.dead] == [
        ("not_json", 103), ("not_json", 104), ("too_large", 105)]
    assert all(d.connector == "cyradar" for d in batch.dead)


def test_input_logsource_decides_which_rules_apply() -> None:
    """An input whose logsource is not the rules' product meets none of them."""
    batch = pipeline(logsource={"product": "suricata"}).process(records(event(1, "apt_c2", 9)))
    assert [a.doc["socd"]["rule"]["name"] for a in batch.actions] == [
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
