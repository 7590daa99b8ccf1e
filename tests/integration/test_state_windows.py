"""The correlation windows' store on the real Elasticsearch-API server: documents written
and read back, a replay that writes nothing, a stale write answered 409 and counted again on
top, concurrent creators, the expiry sweep."""

from __future__ import annotations

import asyncio
import importlib.util
import random
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from socd.classify import BoundRules, RuleSet
from socd.classify.ruleset import Deferred
from socd.config import ElasticsearchConfig
from socd.devservers import Endpoints
from socd.sinks.elasticsearch import ElasticsearchSink
from socd.sinks.elasticsearch.retry import Backoff
from socd.state.windows import SWEEP_GRACE_S, Event, WindowStore, encode, window_id
from socd.telemetry.metrics import Metrics
from tests.integration.conftest import given_servers
from tests.unit.classify.test_correlate import CORR, event
from tests.unit.state.test_windows import KINDS, load

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(given_servers() is None and importlib.util.find_spec("noida_db") is None,
                       reason="no Elasticsearch-API server: SOCD_TEST_* unset and noida-db "
                              "not installed"),
]


class Process:
    """One socd process's view: its own rule set (correlator, cache) and store."""

    def __init__(self, path: Path, es: AsyncElasticsearch, prefix: str, kind: str,
                 **changes: Any) -> None:
        path.mkdir(exist_ok=True)
        self.rules, self.bound = load(path, {**KINDS[kind], **changes})
        self.store = WindowStore(es, prefix, Backoff(0.05, rng=random.Random(1)))

    async def settle(self, partition: str, batch: list[tuple[int, dict[str, Any]]]
                     ) -> list[str | None]:
        return await settle(self.rules, self.bound, self.store, partition, batch)


async def settle(rules: RuleSet, bound: BoundRules, store: WindowStore, partition: str,
                 batch: list[tuple[int, dict[str, Any]]]) -> list[str | None]:
    """A batch of (offset, event) of one partition through triage, the store and decide."""
    assert rules.correlator is not None
    triaged = [(offset, doc, bound.triage(doc)) for offset, doc in batch]
    deferred = [(o, d, t) for o, d, t in triaged if isinstance(t, Deferred)]
    fired = await store.settle(rules.correlator, [
        Event(d, t.inputs, partition, o) for o, d, t in deferred],
        {partition: batch[-1][0] + 1})
    by_offset = {o: bound.decide(t, f) for (o, _, t), f in zip(deferred, fired, strict=True)}
    out = []
    for offset, _, item in triaged:
        verdict = by_offset[offset] if isinstance(item, Deferred) else item
        out.append(verdict.threat_class if verdict else None)
    return out


def stored(process: Process) -> dict[str, dict[str, Any]]:
    """The cached groups of the process as documents (without the write time)."""
    correlator = process.rules.correlator
    assert correlator is not None
    out = {}
    for correlation in correlator.correlations:
        for key, group in correlator.window_of(correlation).groups.items():
            doc = encode(correlation, key, group, now=0.0)  # type: ignore[arg-type]
            out[window_id(correlation, key)] = {k: v for k, v in doc.items()
                                                if k not in ("expires", "updated")}
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_windows_written_are_read_back_and_a_replay_writes_nothing(
        es: AsyncElasticsearch, unique: str, tmp_path: Path, kind: str) -> None:
    """A process counts three batches; a second process (a restart: empty cache) reads the
    windows back equal, gets the recorded verdicts for the last two batches read again
    without writing, and continues the windows as the first would have."""
    prefix = f"t{unique}"
    rng = random.Random(7)
    t, events = 0.0, []
    for _ in range(30):
        t += rng.choice([1, 20, 60])
        events.append(event(t, ip=rng.choice(["10.0.0.1", "10.0.0.2"]), kind=rng.choice("aab"),
                            port=rng.choice([22, 23, 25])))
    numbered = list(enumerate(events))
    _, memory = load(tmp_path / "memory" if (tmp_path / "memory").mkdir() is None else tmp_path,
                     KINDS[kind])
    expected = [v.threat_class if (v := memory.classify(e)) else None for e in events]
    first = Process(tmp_path / "a", es, prefix, kind)
    verdicts = [v for i in (0, 8, 16) for v in await first.settle("s/0", numbered[i:i + 8])]
    assert verdicts == expected[:24]
    second = Process(tmp_path / "b", es, prefix, kind)
    replayed = await second.settle("s/0", numbered[8:24])
    assert replayed == expected[8:24]
    assert second.store.cost.writes == 0 and second.store.cost.reads > 0
    assert stored(second) == stored(first)
    assert await second.settle("s/0", numbered[24:]) == expected[24:]


async def test_a_stale_write_is_answered_409_and_counted_again_on_top(
        es: AsyncElasticsearch, unique: str, tmp_path: Path) -> None:
    """Two processes count one source from two partitions, gte 3. A writes the window, B
    reads and writes it, A's next write carries a stale if_seq_no: the server answers 409,
    A reads the window again and counts its event on top — the third event fires, and the
    window holds the three offsets, each once."""
    prefix = f"t{unique}"
    a = Process(tmp_path / "a", es, prefix, "event_count")
    b = Process(tmp_path / "b", es, prefix, "event_count")
    assert await a.settle("s/0", [(0, event(0))]) == ["high-risk"]
    assert await b.settle("s/1", [(0, event(1))]) == ["high-risk"]
    assert await a.settle("s/0", [(1, event(2))]) == ["critical"]
    assert a.store.cost.conflicts == 1
    assert len(stored(a)) == 1  # kept in the cache after firing
    doc = (await es.get(index=f"{prefix}-state", id=next(iter(stored(a)))))["_source"]
    assert doc["applied"] == {"s/0": {"floor": 2, "ranges": []},
                              "s/1": {"floor": 1, "ranges": []}}
    assert doc["fired"] == {"s/0": [[1, doc["latest"]]]} and doc["data"] == []
    # B's cache is stale now: its replay of offset 0 gets the recorded verdict, its new
    # event conflicts, and after the re-read counts in the window A started afresh
    assert await b.settle("s/1", [(0, event(1)), (1, event(3))]) == ["high-risk", "high-risk"]
    assert b.store.cost.conflicts == 1
    doc = (await es.get(index=f"{prefix}-state", id=next(iter(stored(a)))))["_source"]
    assert len(doc["data"]) == 1 and doc["applied"]["s/1"] == {"floor": 2, "ranges": []}


async def test_concurrent_creators_count_each_event_once(
        es: AsyncElasticsearch, unique: str, tmp_path: Path) -> None:
    """Eight processes, each one event of one new group from its own partition, settled at
    once (gte 4): however the writes interleave, the group counts eight events and fires
    exactly twice."""
    prefix = f"t{unique}"
    processes = [Process(tmp_path / f"p{n}", es, prefix, "event_count", condition={"gte": 4})
                 for n in range(8)]
    results = await asyncio.gather(*(p.settle(f"s/{n}", [(0, event(n))])
                                     for n, p in enumerate(processes)))
    assert sorted(r[0] or "" for r in results).count("critical") == 2
    await es.indices.refresh(index=f"{prefix}-state")
    doc = (await es.search(index=f"{prefix}-state", size=5))["hits"]["hits"]
    assert len(doc) == 1
    assert {p: v["floor"] for p, v in doc[0]["_source"]["applied"].items()} == {
        f"s/{n}": 1 for n in range(8)}


async def test_expired_windows_are_swept_and_start_afresh(
        es: AsyncElasticsearch, unique: str, tmp_path: Path) -> None:
    """A window written a day ago is deleted by the sweep (an hour past its expiry); one
    written now is kept."""
    prefix = f"t{unique}"
    old = Process(tmp_path / "old", es, prefix, "event_count")
    now = old.store._clock()
    old.store._clock = lambda: now - 86_400.0
    await old.settle("s/0", [(0, event(-86_400, ip="10.0.0.9"))])
    fresh = Process(tmp_path / "new", es, prefix, "event_count")
    await fresh.settle("s/0", [(1, event(0))])
    await es.indices.refresh(index=f"{prefix}-state")
    assert await fresh.store.sweep() == 1
    await es.indices.refresh(index=f"{prefix}-state")
    left = (await es.search(index=f"{prefix}-state"))["hits"]["hits"]
    assert [hit["_source"]["group"] for hit in left] == [["10.0.0.1"]]
    assert SWEEP_GRACE_S == 3600
    template = (await es.indices.get_index_template(name=f"{prefix}-state"))["index_templates"]
    assert template[0]["index_template"]["template"]["mappings"]["dynamic"] is False
    assert CORR


async def test_a_missing_index_is_swept_as_empty(es: AsyncElasticsearch, unique: str) -> None:
    """Before any window exists the sweep deletes nothing and raises nothing."""
    store = WindowStore(es, f"t{unique}", Backoff(0.05))
    assert await store.sweep() == 0


async def test_socd_setup_installs_the_state_template(servers: Endpoints, unique: str) -> None:
    """``socd setup`` (the sink's set-up) installs ``<prefix>-state`` beside the alerts
    template: the windows' index gets its mapping whoever creates it first."""
    sink = ElasticsearchSink(ElasticsearchConfig(hosts=[servers.elasticsearch],
                                                 index_prefix=f"t{unique}"), Metrics())
    await sink.start()
    try:
        done = await sink.setup()
        assert any(f"t{unique}-state" in line for line in done)
        found = await sink.client.indices.get_index_template(name=f"t{unique}-state")
        template = found["index_templates"][0]["index_template"]
        assert template["index_patterns"] == [f"t{unique}-state"]
    finally:
        await sink.stop()
