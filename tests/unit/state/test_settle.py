"""The step between processing and delivery: correlated events wait for their windows, in
fetch order, before their batch is delivered; everything else is classified as before."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from socd.classify import RuleSet
from socd.classify.correlate import Correlation
from socd.delivery import Limits
from socd.pipeline import Batch, Pipeline
from socd.state.settle import Settler
from tests.unit.test_delivery import TOPIC, FakeSource, Wired, records, until
from tests.unit.test_pipeline import config, event, rule_file, rule_id
from tests.unit.test_pipeline import records as pipeline_records


def correlated_pipeline(tmp_path: Path, **options: Any) -> tuple[Pipeline, Correlation]:
    """A high rule for every Cyradar event, and a correlation counting 3 of them per
    source (no group-by field in these events: one group)."""
    rule_file(tmp_path / "base.yml", rule_id(1), "high")
    rule_file(tmp_path / "corr.yml", rule_id(2), "critical", correlation={
        "type": "event_count", "rules": [rule_id(1)], "timespan": "1h",
        "condition": {"gte": 3}})
    rules, problems = RuleSet.load([tmp_path], strict=False)
    assert problems == [] and rules.correlator is not None
    return Pipeline(config(), rules, **options), rules.correlator.correlations[0]


def test_deferred_events_wait_and_settle_into_threats(tmp_path: Path) -> None:
    """With ``defer`` an event feeding a correlation is left in ``correlated`` (nothing
    counted); settled with the correlations that fired on it, it becomes a threat of the
    correlation's class, the others keep their own."""
    stage, correlation = correlated_pipeline(tmp_path, defer=True)
    batch = stage.process(pipeline_records(*(event(i, "scan", 5) for i in range(3))))
    assert batch.actions == [] and len(batch.correlated) == 3
    stage.settled(batch, [[], [], [correlation]])
    assert batch.correlated == []
    classes = [a.document()["socd"]["class"] for a in batch.actions]
    assert classes == ["high-risk", "high-risk", "critical"]
    assert batch.actions[2].document()["socd"]["rule"]["id"] == rule_id(2)


def test_without_defer_the_events_are_counted_in_memory(tmp_path: Path) -> None:
    """Offline tools: the third event is critical at once, nothing is left waiting."""
    stage, _ = correlated_pipeline(tmp_path)
    batch = stage.process(pipeline_records(*(event(i, "scan", 5) for i in range(3))))
    assert batch.correlated == []
    assert [a.document()["socd"]["class"] for a in batch.actions] == [
        "high-risk", "high-risk", "critical"]


def test_a_document_that_cannot_be_made_is_dead_lettered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """socd's defect while making a settled event's document: that event becomes a
    processing_failed dead letter, the others threats."""
    stage, _ = correlated_pipeline(tmp_path, defer=True)
    batch = stage.process(pipeline_records(*(event(i, "scan", 5) for i in range(2))))
    making = stage._threat

    def threat(runtime: Any, record: Any, *rest: Any) -> Any:
        if record.offset == 100:
            raise RuntimeError("defect")
        return making(runtime, record, *rest)

    monkeypatch.setattr(stage, "_threat", threat)
    stage.settled(batch, [[], []])
    assert [d.reason for d in batch.dead] == ["processing_failed"]
    assert "RuntimeError: defect" in batch.dead[0].detail
    assert [a.record.offset for a in batch.actions] == [101]


class Gate:
    """A settle step that notes the batches it is given and holds each until released."""

    def __init__(self) -> None:
        self.seen: list[dict[tuple[str, int], int]] = []
        self.open = asyncio.Event()

    async def __call__(self, batch: Batch) -> None:
        self.seen.append(dict(batch.offsets))
        await self.open.wait()


async def test_delivery_waits_for_the_settle_step_in_fetch_order() -> None:
    """Each processed batch goes through the settle step before it is launched: while the
    step holds, nothing is indexed nor committed; released, every batch is delivered."""
    source = FakeSource([records(0, 2), records(2, 2)])
    w = Wired(source=source, limits=Limits(bulk_max_docs=2))
    gate = Gate()
    w.delivery._settle = gate
    loop = asyncio.create_task(w.delivery.run())
    await until(lambda: len(gate.seen) == 1)
    await asyncio.sleep(0.01)
    assert w.documents.calls == [] and source.commits == []
    gate.open.set()
    await until(lambda: source.committed() == {(TOPIC, 0): 4})
    assert gate.seen == [{(TOPIC, 0): 2}, {(TOPIC, 0): 4}]
    w.stopping.set()
    await asyncio.wait_for(loop, 10)


async def test_records_fetched_while_paused_are_settled_too() -> None:
    """A stall pauses the partitions; the records a rebalance brings meanwhile go through
    the settle step before they are launched."""
    source = FakeSource([records(0, 2)])
    source.assigned_while_paused.append(records(0, 1, partition=1))
    w = Wired(source=source, limits=Limits(slots=1, bulk_max_docs=2), stall_s=0.01)
    w.documents.hold = True
    gate = Gate()
    gate.open.set()
    w.delivery._settle = gate
    loop = asyncio.create_task(w.delivery.run())
    await until(lambda: {(TOPIC, 1): 1} in gate.seen)
    w.documents.hold = False
    w.documents.release_all()
    await until(lambda: source.committed() == {(TOPIC, 0): 2, (TOPIC, 1): 1})
    w.stopping.set()
    await asyncio.wait_for(loop, 10)


async def test_the_settler_notes_what_is_committed(tmp_path: Path) -> None:
    """Commits through the watched source are noted per ``topic/partition`` (the highest
    seen); a batch without correlated events costs no call to the store."""
    stage, _ = correlated_pipeline(tmp_path, defer=True)
    settler = Settler(stage, store=None)  # type: ignore[arg-type]
    source = FakeSource()
    watched = settler.watching(source)
    await watched.commit({(TOPIC, 0): 5, (TOPIC, 1): 2})
    await watched.commit({(TOPIC, 0): 3})
    assert settler.committed == {f"{TOPIC}/0": 5, f"{TOPIC}/1": 2}
    assert source.commits == [{(TOPIC, 0): 5, (TOPIC, 1): 2}, {(TOPIC, 0): 3}]
    await settler(Batch())  # the store (None here) is not consulted
