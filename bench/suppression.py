"""Suppression benchmark: socd with and without ``suppress:``, its writes, state and recovery.

One data set, produced once to one topic of three partitions: a flood of Cyradar-style
events from the simulator (fixed seed), each turned into the same detection — a WannaCry SMB
propagation, category ransomware, severity 7 to 10, which only the shipped rule
``ransomware_severity_7_plus`` (critical) meets — sent from one of ``--keys`` source
addresses, at times spread over the last hour (so that socd's clock takes them as they are
and they fall in one or two one-hour windows). Every event is a threat. Per round, on the
same servers (socd.devservers: Tansu and noida-db, as bench.e2e runs them), one after the
other:

1. **ceiling** — bench.e2e's bare bulk: socd's own threat documents, byte for byte, sent as
   ``_bulk`` requests of socd's size, one and then ``elasticsearch.max_in_flight`` at a time;
2. **off** — ``socd run`` (bench.e2e's phase: steady events/s from ``/metrics``) on a fresh
   group and index prefix, the input without ``suppress:``: one document per threat;
3. **on** — the same with ``suppress: {by: [source.ip], for: 1h}`` on the input: one alert
   per key and window, one scripted upsert per alert and batch. Then every alert is read:
   the bytes of ``socd.suppression.applied`` and ``.order`` (as JSON) and of the whole alert
   beside a plain threat document of phase 2, and the applied ranges left above the floors;
4. **recovery** — suppression on, fresh group and prefix: socd is SIGKILLed once it has
   counted half of the events, and a new process with the same group is started at once.
   From the kill: (a) the new process ready (``socd_ready`` 1), (b) every offset committed,
   (c) the alerts' ``docs_count`` summing to the number of events (an aggregation, polled
   every ES_POLL_S).

Writes per event are ``socd_indexed_documents_total`` (bulk items Elasticsearch
acknowledged) ÷ events, and bulk requests are ``socd_bulk_duration_seconds_count`` (batches
delivered). Exactness is checked in phases 3 and 4: each alert's ``docs_count`` equals its
threats counted offline (the alert ids come from socd's own pipeline), so the alerts are
keys × windows and the counts sum to the events; any difference stops the bench with status
1. It prints a table, then one JSON line with every figure (also written to
bench/results/suppression-<UTC>.json). Run::

    .venv/bin/python -m bench.suppression [--events N] [--keys K] [--rounds R]
                                          [--kafka HOST:PORT --elasticsearch URL]

See bench/README.md for the figures measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan

from bench.e2e import (
    RESULTS,
    ROOT,
    BulkRun,
    Dataset,
    SocdResult,
    bare_bulk,
    bare_requests,
    build_dataset,
    create_topics,
    delete_indices,
    install_template,
    log_event_delay,
    produce,
    run_bench,
    run_socd,
    servers_quiet,
    socd_command,
    socd_config_text,
    spawned,
)
from bench.outage import committed_total, metrics
from socd.config import Config, load_config
from socd.devservers import Endpoints, free_port
from socd.simulate import VIETNAM

SUPPRESS = "    suppress: {by: [source.ip], for: 1h}\n"
WINDOW = timedelta(hours=1)
FIRST_BEFORE_NOW = timedelta(minutes=58)
SPAN = timedelta(minutes=55)
"""The events' times: from 58 minutes before the data set is built, spread evenly over 55."""
KILL_POLL_S = 0.02
"""How often the first process's /metrics is read while waiting for half of the events."""
ES_POLL_S = 0.2
"""How often recovery checks the commits and the sum of docs_count (each check is a request
to the servers; more often would slow the process measured)."""
READY_POLL_S = 0.05
RECOVERY_TIMEOUT_S = 300.0
PLAIN_SAMPLE = 200
"""Plain threat documents read to size one."""


# --------------------------------------------------------------------------- data set


def flood(keys: int, events: int, first: datetime) -> Callable[[int, dict[str, Any]],
                                                                dict[str, Any]]:
    """The ``shape`` of bench.e2e.build_dataset that turns generated event ``i`` into one of
    the flood: source ``10.13.x.y`` (key ``i mod keys``), one detection, a time in the span."""
    step = SPAN / max(events, 1)

    def shape(i: int, event: dict[str, Any]) -> dict[str, Any]:
        key = i % keys
        event["category"] = "ransomware"
        event["threat_name"] = "WannaCry SMB propagation"
        event["mitre"] = ["T1486", "T1210"]
        event["severity"] = 7 + i % 4
        event["src"]["ip"] = f"10.13.{key // 250}.{key % 250 + 1}"
        event["detected_at"] = (first + step * i).astimezone(VIETNAM).isoformat(
            timespec="seconds")
        return event

    return shape


@dataclass
class Expected:
    alerts: Counter[str]
    """alert id → threats, from socd's pipeline run offline with suppression on"""
    keys: int
    windows: int
    rules: int


def expected_alerts(data: Dataset) -> Expected:
    alerts: Counter[str] = Counter()
    keys, windows, rules = set(), set(), set()
    for action in data.actions:
        info = action.suppress
        if info is None:
            raise RuntimeError("a threat of the data set is not under suppression")
        alerts[info.alert_id] += 1
        keys.add(info.terms)
        windows.add(info.time_ms - info.time_ms % (WINDOW // timedelta(milliseconds=1)))
        rules.add(action.document()["socd"]["rule"]["id"])
    return Expected(alerts, len(keys), len(windows), len(rules))


# --------------------------------------------------------------------------- reading back


async def read_alerts(es: AsyncElasticsearch, prefix: str) -> list[dict[str, Any]]:
    """Every document of the prefix's alerts indices: ``_id`` and ``_source``."""
    await es.indices.refresh(index=f"{prefix}-alerts*")
    return [hit async for hit in async_scan(es, index=f"{prefix}-alerts*", size=2000,
                                            query={"query": {"match_all": {}}})]


def exactness(hits: list[dict[str, Any]], expected: Expected, events: int) -> list[str]:
    """What differs from the flood counted offline (empty when every alert is exact)."""
    found = {str(hit["_id"]): hit["_source"]["socd"]["suppression"]["docs_count"]
             for hit in hits}
    problems = []
    total = sum(found.values())
    if total != events:
        problems.append(f"docs_count sums to {total}, not the {events} events")
    if len(found) != len(expected.alerts):
        problems.append(f"{len(found)} alerts, not {len(expected.alerts)} "
                        f"({expected.keys} keys × {expected.windows} windows × "
                        f"{expected.rules} rules)")
    wrong = [(alert, found.get(alert), count) for alert, count in expected.alerts.items()
             if found.get(alert) != count]
    if wrong:
        alert, got, want = wrong[0]
        problems.append(f"{len(wrong)} alerts with a wrong docs_count, e.g. {alert}: {got} "
                        f"instead of {want}")
    return problems


@dataclass
class StateSize:
    alerts: int
    applied_bytes: float
    """median over the alerts, ``socd.suppression.applied`` as JSON"""
    applied_bytes_max: int
    order_bytes: float
    alert_bytes: float
    """median of the whole alert document (``_source`` as JSON)"""
    plain_bytes: float
    """median of a plain threat document of the same flood (suppression off)"""
    partitions: float
    """median partitions named in ``applied``"""
    ranges_left: int
    """applied ranges above the floors, over every alert: a range stays when the alert's
    last update landed before an earlier batch of its partition, and no later update of
    that alert (its window over) brings a floor past it"""
    alerts_with_ranges: int


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def state_size(alerts: list[dict[str, Any]], plain: list[dict[str, Any]]) -> StateSize:
    suppressions = [hit["_source"]["socd"]["suppression"] for hit in alerts]
    return StateSize(
        alerts=len(alerts),
        applied_bytes=statistics.median(_size(s["applied"]) for s in suppressions),
        applied_bytes_max=max(_size(s["applied"]) for s in suppressions),
        order_bytes=statistics.median(_size(s["order"]) for s in suppressions),
        alert_bytes=statistics.median(_size(hit["_source"]) for hit in alerts),
        plain_bytes=statistics.median(_size(hit["_source"]) for hit in plain),
        partitions=statistics.median(len(s["applied"]) for s in suppressions),
        ranges_left=sum(len(part["ranges"]) for s in suppressions
                        for part in s["applied"].values()),
        alerts_with_ranges=sum(any(part["ranges"] for part in s["applied"].values())
                               for s in suppressions))


# --------------------------------------------------------------------------- phases


@dataclass
class Recovery:
    counted_at_kill: int
    """events the killed process had counted when it was killed"""
    committed_at_kill: int
    listening_s: float | None
    """kill → the new process serving /metrics (its log's ``metrics_listening``): started,
    rules loaded, not yet in the group"""
    ready_s: float
    """kill → the new process ready (``socd_ready`` 1: its partitions assigned)"""
    committed_s: float
    """kill → every offset committed"""
    exact_s: float
    """kill → the alerts' docs_count summing to the events"""
    exit_status: int
    """of the new process after SIGTERM"""


async def recovery(endpoints: Endpoints, workdir: Path, config_text: Callable[[int], str],
                   group: str, topic: str, prefix: str, events: int) -> Recovery:
    """Phase 4 (see the module's docstring); ``config_text(metrics_port)``: the config of
    both processes, one group and prefix."""
    ports = [free_port(), free_port()]
    paths = [workdir / f"recovery-{n}.yaml" for n in (1, 2)]
    for path, port in zip(paths, ports, strict=True):
        path.write_text(config_text(port))
    es = AsyncElasticsearch(endpoints.elasticsearch, request_timeout=30)
    checker = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka, group_id=group,
                               enable_auto_commit=False)
    await checker.start()
    try:
        with spawned([*socd_command(), "run", "-c", str(paths[0])],
                     workdir / "recovery-1.log") as first:
            counted = 0.0
            deadline = time.monotonic() + RECOVERY_TIMEOUT_S
            while counted < events / 2:
                if first.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"recovery: the first socd exited or counted "
                                       f"{counted:.0f} of {events} events; see "
                                       f"{workdir / 'recovery-1.log'}")
                with contextlib.suppress(OSError):
                    counted = (await metrics(ports[0]))["socd_events_total"]
                await asyncio.sleep(KILL_POLL_S)
            first.send_signal(signal.SIGKILL)
            killed, killed_wall = time.monotonic(), time.time()
            first.wait()
        argv = [*socd_command(), "run", "-c", str(paths[1])]
        with spawned(argv, workdir / "recovery-2.log") as second:
            committed_at_kill = await committed_total(checker, topic)
            ready = committed = exact = None
            next_check = 0.0
            while ready is None or committed is None or exact is None:
                now = time.monotonic()
                if second.poll() is not None or now - killed > RECOVERY_TIMEOUT_S:
                    raise RuntimeError(
                        f"recovery: after {now - killed:.0f} s ready {ready}, committed "
                        f"{committed}, exact {exact}; see {workdir / 'recovery-2.log'}")
                if ready is None:
                    with contextlib.suppress(OSError):
                        if (await metrics(ports[1]))["socd_ready"] == 1:
                            ready = time.monotonic() - killed
                if now >= next_check:
                    next_check = now + ES_POLL_S
                    if committed is None and await committed_total(checker, topic) >= events:
                        committed = time.monotonic() - killed
                    if exact is None and await docs_count_sum(es, prefix) == events:
                        exact = time.monotonic() - killed
                await asyncio.sleep(READY_POLL_S)
            second.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(second.wait, 60)
    finally:
        await checker.stop()
        await es.close()
    listening = log_event_delay(workdir / "recovery-2.log", "metrics_listening", killed_wall)
    return Recovery(int(counted), committed_at_kill, listening, ready, committed, exact,
                    status)


async def docs_count_sum(es: AsyncElasticsearch, prefix: str) -> int:
    """The sum of ``socd.suppression.docs_count`` over the prefix's alerts, refreshed first."""
    index = f"{prefix}-alerts*"
    await es.indices.refresh(index=index, allow_no_indices=True)
    response = await es.search(index=index, size=0, allow_no_indices=True, aggs={
        "n": {"sum": {"field": "socd.suppression.docs_count"}}})
    value = (response.body.get("aggregations") or {}).get("n", {}).get("value")
    return int(value or 0)


@dataclass
class Round:
    bulk: list[BulkRun]
    off: SocdResult
    on: SocdResult
    state: StateSize
    recovery: Recovery

    @property
    def ceiling(self) -> float:
        return max(run.docs_per_s for run in self.bulk)

    def figures(self, events: int) -> dict[str, float]:
        off, on = self.off, self.on
        return {
            "ceiling_events_per_s": self.ceiling,
            "off_events_per_s": off.events_per_s, "on_events_per_s": on.events_per_s,
            "on_over_off": on.events_per_s / off.events_per_s,
            "off_over_ceiling": off.events_per_s / self.ceiling,
            "on_over_ceiling": on.events_per_s / self.ceiling,
            "off_items_per_event": off.indexed / events,
            "on_items_per_event": on.indexed / events,
            "off_bulk_requests": float(off.bulk_requests or 0),
            "on_bulk_requests": float(on.bulk_requests or 0),
            "off_cpu_per_event_us": off.cpu_per_event_us,
            "on_cpu_per_event_us": on.cpu_per_event_us,
            "applied_bytes": self.state.applied_bytes,
            "applied_bytes_max": float(self.state.applied_bytes_max),
            "order_bytes": self.state.order_bytes,
            "alert_bytes": self.state.alert_bytes, "plain_bytes": self.state.plain_bytes,
            "ranges_left": float(self.state.ranges_left),
            "recovery_listening_s": self.recovery.listening_s or 0.0,
            "recovery_ready_s": self.recovery.ready_s,
            "recovery_committed_s": self.recovery.committed_s,
            "recovery_exact_s": self.recovery.exact_s,
        }


async def one_round(number: int, endpoints: Endpoints, pids: list[int], workdir: Path,
                    data: Dataset, config: Config, expected: Expected, names: dict[str, str],
                    requests: list[bytes]) -> tuple[Round, list[str]]:
    """Ceiling, off, on and recovery, one after the other; the round and the problems
    found (socd's exit status, counts, and every alert's docs_count)."""
    run = f"{names['run_id']}-{number}"
    rules = [ROOT / "rules"]
    problems: list[str] = []

    def text(kind: str, port: int, extra: str = "") -> str:
        return socd_config_text(endpoints, names["topic"], f"bench-supp-{kind}-{run}",
                                f"bench-supp-{kind}-{run}", names["dead_topic"], port, rules,
                                input_extra=extra)

    bulk = []
    for concurrency in sorted({1, config.elasticsearch.max_in_flight}):
        await servers_quiet(pids)
        bulk.append(await bare_bulk(endpoints.elasticsearch, names["bare_prefix"], requests,
                                    data.threats, concurrency, pids))
        print(f"bare bulk, {concurrency} in flight: {bulk[-1].docs_per_s:,.0f} docs/s",
              flush=True)
    es = AsyncElasticsearch(endpoints.elasticsearch, request_timeout=60)
    try:
        results: dict[str, SocdResult] = {}
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, extra in (("off", ""), ("on", SUPPRESS)):
            port, prefix = free_port(), f"bench-supp-{kind}-{run}"
            path = workdir / f"{kind}-{number}.yaml"
            path.write_text(text(kind, port, extra))
            await servers_quiet(pids)
            result = await run_socd(path, workdir / f"{kind}-{number}.log", endpoints, prefix,
                                    port, data, pids, None, keep=True, short_ok=True)
            results[kind] = result
            if kind == "off":
                response = await es.search(index=f"{prefix}-alerts*", size=PLAIN_SAMPLE)
                found[kind] = list(response["hits"]["hits"])
            else:
                found[kind] = await read_alerts(es, prefix)
            await delete_indices(es, prefix)
            print(f"socd, suppression {kind}: {result.events_per_s:,.0f} events/s, "
                  f"{result.indexed:,} bulk items", flush=True)
            if result.exit_status != 0:
                problems.append(f"round {number}, {kind}: socd exited with "
                                f"{result.exit_status} after SIGTERM")
            if (result.events, result.threats) != (data.events, data.threats):
                problems.append(f"round {number}, {kind}: socd counted {result.events} events "
                                f"and {result.threats} threats, not {data.events}")
        if results["off"].searchable != data.threats:
            problems.append(f"round {number}, off: {results['off'].searchable} documents, not "
                            f"{data.threats}")
        problems += [f"round {number}, on: {p}"
                     for p in exactness(found["on"], expected, data.events)]
        await servers_quiet(pids)
        prefix = f"bench-supp-kill-{run}"
        recovered = await recovery(endpoints, workdir, lambda port: text("kill", port, SUPPRESS),
                                   f"bench-supp-kill-{run}", names["topic"], prefix,
                                   data.events)
        problems += [f"round {number}, recovery: {p}"
                     for p in exactness(await read_alerts(es, prefix), expected, data.events)]
        if recovered.exit_status != 0:
            problems.append(f"round {number}, recovery: socd exited with "
                            f"{recovered.exit_status} after SIGTERM")
        await delete_indices(es, prefix)
        print(f"recovery: ready {recovered.ready_s:.2f} s, committed "
              f"{recovered.committed_s:.2f} s, exact {recovered.exact_s:.2f} s", flush=True)
    finally:
        await es.close()
    return Round(bulk, results["off"], results["on"], state_size(found["on"], found["off"]),
                 recovered), problems


# --------------------------------------------------------------------------- report


def print_table(data: Dataset, expected: Expected, rounds: list[Round],
                medians: dict[str, float]) -> None:
    last = rounds[-1]
    many = f" (median of {len(rounds)} rounds)" if len(rounds) > 1 else ""
    print(f"\n{data.events:,} events, all threats: {expected.keys} keys × {expected.windows} "
          f"window(s) × {expected.rules} rule(s) = {len(expected.alerts)} alerts{many}")
    head = f"{'':<26}{'events/s':>10}{'÷ ceiling':>11}{'items/event':>13}{'requests':>10}"
    print(head)
    print("-" * len(head))
    print(f"{'bare bulk (ceiling)':<26}{medians['ceiling_events_per_s']:>10,.0f}"
          f"{1.0:>11.2f}{1.0:>13.4f}{last.bulk[0].requests:>10}")
    for kind in ("off", "on"):
        print(f"{'socd, suppression ' + kind:<26}{medians[kind + '_events_per_s']:>10,.0f}"
              f"{medians[kind + '_over_ceiling']:>11.2f}"
              f"{medians[kind + '_items_per_event']:>13.4f}"
              f"{medians[kind + '_bulk_requests']:>10,.0f}")
    print(f"on ÷ off = {medians['on_over_off']:.2f}; CPU µs/event off "
          f"{medians['off_cpu_per_event_us']:.1f}, on {medians['on_cpu_per_event_us']:.1f}")
    if last.off.whole_run or last.on.whole_run:
        print("(too few events for a steady window: rates from spawn to the end)")
    state = last.state
    print(f"state per alert (median): applied {state.applied_bytes:.0f} B (max "
          f"{state.applied_bytes_max} B, {state.partitions:.0f} partitions), order "
          f"{state.order_bytes:.0f} B; the alert {state.alert_bytes:,.0f} B, a plain threat "
          f"document {state.plain_bytes:,.0f} B; applied ranges left {state.ranges_left} "
          f"(in {state.alerts_with_ranges} of {state.alerts} alerts)")
    rec = last.recovery
    print(f"recovery after SIGKILL at {rec.counted_at_kill:,} events counted "
          f"({rec.committed_at_kill:,} committed), from the kill: new process up "
          f"{medians['recovery_listening_s']:.2f} s, ready (partitions assigned) "
          f"{medians['recovery_ready_s']:.2f} s, every offset committed "
          f"{medians['recovery_committed_s']:.2f} s, docs_count exact "
          f"{medians['recovery_exact_s']:.2f} s")


def summarise(rounds: list[Round], events: int) -> dict[str, float]:
    each = [one.figures(events) for one in rounds]
    return {key: statistics.median(f[key] for f in each) for key in each[0]}


# --------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace, endpoints: Endpoints, pids: list[int],
                workdir: Path) -> int:
    run_id = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    names = {"run_id": run_id, "topic": f"bench.flood.{run_id}",
             "dead_topic": f"bench.flood.dead.{run_id}",
             "bare_prefix": f"bench-supp-bare-{run_id}"}
    rules = [ROOT / "rules"]
    data_path, bare_path = workdir / "data.yaml", workdir / "bare.yaml"
    data_prefix = f"bench-supp-data-{run_id}"
    data_path.write_text(socd_config_text(endpoints, names["topic"], data_prefix, data_prefix,
                                          names["dead_topic"], free_port(), rules,
                                          input_extra=SUPPRESS))
    bare_path.write_text(socd_config_text(endpoints, names["topic"], names["bare_prefix"],
                                          names["bare_prefix"], names["dead_topic"],
                                          free_port(), rules))
    config = load_config(data_path)
    began = time.perf_counter()
    first = datetime.now(UTC) - FIRST_BEFORE_NOW
    data = build_dataset(config, "all", events=args.events,
                         shape=flood(args.keys, args.events, first))
    expected = expected_alerts(data)
    print(f"data set: {data.events:,} events from {expected.keys} sources in "
          f"{expected.windows} windows, {len(expected.alerts)} alerts expected "
          f"({time.perf_counter() - began:.1f} s)", flush=True)
    requests = bare_requests(data, data_prefix, names["bare_prefix"],
                             config.elasticsearch.bulk_max_docs)
    await install_template(bare_path, workdir / "setup.log")
    await create_topics(endpoints.kafka, names["topic"], names["dead_topic"])
    produce_s = await produce(endpoints.kafka, names["topic"], data.messages)
    print(f"produced in {produce_s:.1f} s", flush=True)
    rounds, problems = [], []
    load = [os.getloadavg()[0]]
    for number in range(1, args.rounds + 1):
        print(f"\nround {number} of {args.rounds} (load average {os.getloadavg()[0]:.2f})",
              flush=True)
        one, found = await one_round(number, endpoints, pids, workdir, data, config,
                                     expected, names, requests)
        rounds.append(one)
        problems += found
    medians = summarise(rounds, data.events)
    load.append(os.getloadavg()[0])
    print_table(data, expected, rounds, medians)
    print(f"load average (1 min) at the start and the end: {load[0]:.2f}, {load[1]:.2f} "
          f"({os.cpu_count()} cores)")
    line = {"timestamp": stamp, "command": " ".join(sys.argv), "events": data.events,
            "keys": expected.keys, "windows": expected.windows,
            "alerts": len(expected.alerts), "rounds": len(rounds),
            "servers": {"local": bool(pids), **asdict(endpoints)}, "load_average": load,
            "cpus": os.cpu_count(), **medians,
            "per_round": [one.figures(data.events) | {
                "state": asdict(one.state), "recovery": asdict(one.recovery)}
                for one in rounds],
            "problems": problems}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"suppression-{stamp}.json").write_text(json.dumps(line, indent=2))
    print(json.dumps(line, separators=(",", ":")))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.suppression",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000,
                        help="events in the flood, all threats (default 20,000: a round in "
                             "2-3 minutes on a 2-core machine; 30,000 took 3-4.5)")
    parser.add_argument("--keys", type=int, default=20,
                        help="source addresses the flood comes from (default 20)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of the four phases; medians printed (default 1)")
    parser.add_argument("--kafka", help="HOST:PORT of an existing broker "
                        "(with --elasticsearch; default: start local servers)")
    parser.add_argument("--elasticsearch", help="URL of an existing Elasticsearch")
    parser.add_argument("--keep", type=Path,
                        help="work directory to keep (configs, socd's logs, servers' data)")
    args = parser.parse_args(argv)
    if bool(args.kafka) != bool(args.elasticsearch):
        parser.error("give --kafka and --elasticsearch together, or neither")
    if args.events < 2 or args.keys < 1 or args.rounds < 1 or args.keys > 62_500:
        parser.error("--events ≥ 2, 1 ≤ --keys ≤ 62,500, --rounds ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv), "socd-suppression-", bench)


if __name__ == "__main__":
    sys.exit(main())
