"""The Painless twin of socd.state.applied on the real Elasticsearch-API server: the random
schedules of tests/unit/state/schedules.py sent as bulk scripted upserts give the documents
the Python model computes (count, applied offsets, and noop exactly when nothing is new)."""

from __future__ import annotations

import importlib.util
import random
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from socd.state.applied import SCRIPT_SOURCE, AppliedSet, Update, apply_update
from tests.integration.conftest import given_servers
from tests.unit.state.schedules import build_schedule

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(given_servers() is None and importlib.util.find_spec("noida_db") is None,
                       reason="no Elasticsearch-API server: SOCD_TEST_* unset and noida-db "
                              "not installed"),
]

SEED = 1302
SCHEDULES = 24


async def test_schedules_through_the_script_match_the_python_model(
        es: AsyncElasticsearch, unique: str) -> None:
    """24 seeded schedules (reordered, duplicated, re-split, zombie floors, two-partition
    updates), one document each, in one bulk: every item answers created/updated when the
    model adds events and noop when it adds none; the stored docs_count equals the model's
    and the oracle's, and the stored applied offsets equal the model's, in their JSON form."""
    index = f"socd-state-test-{unique}"
    await es.indices.create(index=index, mappings={"properties": {"socd": {"properties": {
        "suppression": {"properties": {"applied": {"type": "object", "enabled": False},
                                       "docs_count": {"type": "long"}}}}}}})
    try:
        rng = random.Random(SEED)
        operations: list[dict[str, Any]] = []
        expected_results: list[str] = []
        expected: dict[str, tuple[int, AppliedSet]] = {}
        for n in range(SCHEDULES):
            doc_id, stored, count = f"alert-{n}", AppliedSet(), 0
            schedule = build_schedule(rng, max_offsets=40)
            for step in schedule.steps:
                if step.update is None:
                    continue
                stored, added = apply_update(stored, step.update)
                expected_results.append(
                    "noop" if not added else "created" if count == 0 else "updated")
                count += added
                operations += [
                    {"update": {"_index": index, "_id": doc_id}},
                    {"script": {"source": SCRIPT_SOURCE, "params": step.update.params()},
                     "scripted_upsert": True, "upsert": {"event": {"id": doc_id}}}]
            assert count == schedule.steps[-1].count  # the model agrees with the oracle
            expected[doc_id] = (count, stored)
        response = await es.bulk(operations=operations, refresh=True)
        results = [item["update"].get("result", item["update"].get("error"))
                   for item in response["items"]]
        assert results == expected_results
        for doc_id, (count, stored) in expected.items():
            source = (await es.get(index=index, id=doc_id))["_source"]
            assert source["event"] == {"id": doc_id}
            assert source["socd"]["suppression"]["docs_count"] == count
            applied = source["socd"]["suppression"]["applied"]
            assert applied == stored.to_json()  # the script keeps the canonical form too
            assert AppliedSet.from_json(applied) == stored
    finally:
        await es.indices.delete(index=index)


async def test_batches_overtaking_each_other_merge_and_fold(
        es: AsyncElasticsearch, unique: str) -> None:
    """docs/state.md's case a watermark gets wrong: two partitions of 500 events, batches of
    250 landing out of order (touching ranges above the floor before the first batch lands),
    then the whole re-read in batches of 400. After each item the stored ranges are the
    model's (touching ranges merged, folded into the floor when it reaches them); the total is
    1,000 and the re-read is noop throughout."""
    index = f"socd-state-test-{unique}"
    await es.indices.create(index=index)
    try:
        stored, count = AppliedSet(), 0
        batches = [("t/0", s, s + 250) for s in (250, 500, 0, 750)]
        batches += [("t/1", s, s + 250) for s in (250, 0, 750, 500)]
        batches += [(p, s, min(1000, s + 400)) for p in ("t/0", "t/1") for s in (0, 400, 800)]
        for p, start, end in batches:
            events = tuple(o for o in range(start, end) if o % 2 == (p == "t/1"))
            update = Update(AppliedSet().add(p, start, end), {p: events})
            stored, added = apply_update(stored, update)
            count += added
            response = await es.update(
                index=index, id="alert", script={"source": SCRIPT_SOURCE,
                                                 "params": update.params()},
                scripted_upsert=True, upsert={}, refresh=True)
            assert response["result"] == ("noop" if not added else "created"
                                          if count == added else "updated")
            source = (await es.get(index=index, id="alert"))["_source"]
            assert source["socd"]["suppression"]["applied"] == stored.to_json()
            assert source["socd"]["suppression"]["docs_count"] == count
        assert count == 1000
        assert stored.to_json() == {"t/0": {"floor": 1000, "ranges": []},
                                    "t/1": {"floor": 1000, "ranges": []}}
    finally:
        await es.indices.delete(index=index)
