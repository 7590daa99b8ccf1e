"""Cost of correlation windows kept in Elasticsearch (socd.state.windows), per batch.

A correlation rule (``event_count``, ``gte: 20`` within 10 minutes, group-by
``source.ip``) and batches of correlated events spread over G groups go through
:meth:`WindowStore.settle` on a local noida-db (or ``--elasticsearch URL``), each timed
(wall clock: the Elasticsearch round trips are the cost) in four cases:

- **cold**: every group read first (``mget``, cache misses: a restart or a rebalance) and
  written (``create``);
- **warm**: the groups in the cache: one conditional ``_bulk`` (``index`` with
  ``if_seq_no``) per batch;
- **replay**: the same batch read again by a process with an empty cache: the ``mget``, and
  recorded verdicts, no write;
- **in memory**: the same events through the in-memory ``Correlator.count`` (no I/O).

Then the bytes of a window document (its JSON ``_source``) per correlation type with a
full window (N entries), one partition applied and one firing recorded.

Run::

    .venv/bin/python -m bench.windows [--events N] [--groups G ...] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from socd.classify import RuleSet
from socd.classify.correlate import StoredGroup
from socd.classify.ruleset import Deferred
from socd.devservers import LocalServers
from socd.sinks.elasticsearch.retry import Backoff
from socd.state.applied import AppliedSet
from socd.state.windows import Event, WindowStore, encode

BASE = "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0002"
B2 = "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f0003"
CORR = "0b6f0d4e-3f43-4bb8-9c3e-2a0d7a1f00c1"
KINDS: dict[str, dict[str, Any]] = {
    "event_count": {"type": "event_count", "rules": [BASE], "group-by": ["source.ip"],
                    "timespan": "10m", "condition": {"gte": 20}},
    "value_count": {"type": "value_count", "rules": [BASE], "group-by": ["source.ip"],
                    "timespan": "10m", "condition": {"gte": 20, "field": "destination.port"}},
    "temporal": {"type": "temporal", "rules": [BASE, B2], "group-by": ["source.ip"],
                 "timespan": "10m"},
    "temporal_ordered": {"type": "temporal_ordered", "rules": [BASE, B2],
                         "group-by": ["source.ip"], "timespan": "10m"},
}


def rules(folder: Path, kind: str) -> RuleSet:
    for rule_id, level, value in ((BASE, "high", 6), (B2, "low", 1)):
        (folder / f"{rule_id}.yml").write_text(orjson.dumps({
            "title": rule_id, "id": rule_id, "level": level, "logsource": {"product": "x"},
            "detection": {"selection": {"event.severity": value},
                          "condition": "selection"}}).decode())
    (folder / "corr.yml").write_text(orjson.dumps({
        "title": "c", "id": CORR, "level": "critical", "correlation": KINDS[kind]}).decode())
    loaded, problems = RuleSet.load([folder], strict=False)
    assert not problems, problems
    return loaded


def batch(groups: int, events: int, start: int) -> list[dict[str, Any]]:
    rng = random.Random(start)
    return [{"@timestamp": f"2026-05-04T03:{(start + n) // 60000 % 60:02d}:00.{n % 1000:03d}Z",
             "event": {"severity": 6}, "source": {"ip": f"10.9.{g // 250}.{g % 250}"},
             "destination": {"port": rng.randrange(1, 1024)}}
            for n in range(events) for g in [rng.randrange(groups)]]


async def settle(loaded: RuleSet, store: WindowStore, docs: list[dict[str, Any]],
                 first: int) -> float:
    bound = loaded.bind({"product": "x"})
    triaged = [bound.triage(doc) for doc in docs]
    events = [Event(doc, t.inputs, "bench/0", first + n)
              for n, (doc, t) in enumerate(zip(docs, triaged, strict=True))
              if isinstance(t, Deferred)]
    assert loaded.correlator is not None
    started = time.perf_counter()
    await store.settle(loaded.correlator, events, {"bench/0": first + len(docs)})
    return time.perf_counter() - started


async def measure(url: str, events: int, groups: int, rounds: int) -> dict[str, float]:
    """Median ms per batch of each case."""
    es = AsyncElasticsearch(url)
    out: dict[str, list[float]] = {"cold": [], "warm": [], "replay": [], "memory": []}
    try:
        for r in range(rounds):
            prefix = f"bench{r}-{groups}-{time.monotonic_ns()}"
            with tempfile.TemporaryDirectory() as folder:
                loaded = rules(Path(folder), "event_count")
                store = WindowStore(es, prefix, Backoff(1.0))
                docs = batch(groups, events, 0)
                out["cold"].append(await settle(loaded, store, docs, 0))
                out["warm"].append(await settle(loaded, store, batch(groups, events, events),
                                                events))
                fresh = rules(Path(folder), "event_count")  # a new process: empty cache
                out["replay"].append(await settle(fresh, store, docs, 0))
                memory = rules(Path(folder), "event_count")
                bound = memory.bind({"product": "x"})
                started = time.perf_counter()
                for doc in docs:
                    bound.classify(doc)
                out["memory"].append(time.perf_counter() - started)
            await es.indices.delete(index=f"{prefix}-state", ignore_unavailable=True)
    finally:
        await es.close()
    return {case: statistics.median(values) * 1000 for case, values in out.items()}


def state_bytes() -> dict[str, int]:
    """Bytes of a full window document per type (threshold 20, or 2 rules)."""
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in KINDS:
            loaded = rules(Path(folder), kind)
            assert loaded.correlator is not None
            correlation = loaded.correlator.correlations[0]
            now = 1_777_860_000.123
            data: Any
            if kind == "event_count":
                data = [now + n for n in range(19)]
            elif kind == "value_count":
                data = {1000 + n: now + n for n in range(19)}
            elif kind == "temporal":
                data = {0: now}
            else:
                data = [now, None]
            group = StoredGroup(data)
            group.newest = group.latest = now + 19
            group.applied = AppliedSet().raise_floor("sensors.cyradar/3", 1_234_567)
            group.fired = {"sensors.cyradar/3": {1_234_000: now - 5}}
            sizes[kind] = len(orjson.dumps(encode(correlation, ("10.9.0.17",), group,
                                                  now=now)))
    return sizes


async def main_async(args: argparse.Namespace) -> None:
    if args.elasticsearch:
        url, servers = args.elasticsearch, None
    else:
        servers = LocalServers(Path(tempfile.mkdtemp(prefix="bench-windows-")))
        url = servers.start().elasticsearch
    try:
        print(f"batch of {args.events} correlated events, median of {args.rounds} rounds "
              "(ms per batch; µs per event)")
        print(f"{'groups':>7} {'cold':>14} {'warm':>14} {'replay':>14} {'in memory':>14}")
        for groups in args.groups:
            ms = await measure(url, args.events, groups, args.rounds)
            print(f"{groups:>7} " + " ".join(
                f"{ms[c]:>7.1f} ({ms[c] * 1000 / args.events:>4.0f})"
                for c in ("cold", "warm", "replay", "memory")))
    finally:
        if servers is not None:
            servers.stop()
    print("\nbytes of a full window document (_source), per type:")
    for kind, size in state_bytes().items():
        print(f"  {kind:<17} {size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 20, 200, 2000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--elasticsearch", help="URL of an existing Elasticsearch")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
