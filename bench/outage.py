"""Elasticsearch outage under load: socd's memory while it cannot deliver, and its recovery.

On local servers (``socd.devservers``: Tansu for Kafka, noida-db for the Elasticsearch API,
which stops and starts again on the same port and data), with socd as a subprocess:

1. events are offered at ``--rate`` a second (default 5,000) in the background: Cyradar-style
   events from ``socd.simulate`` classified offline with socd's pipeline (as bench.e2e does),
   one in ``--threat-every`` (20) a threat, each with its own ``alert_id``;
2. after ``--before`` s (10) Elasticsearch is stopped for ``--outage`` s (60), then started
   again; production stops when it returns;
3. socd's RSS (``/proc/PID/status`` VmRSS, and VmHWM, the kernel's high-water mark) is
   sampled every 0.5 s throughout;
4. recovery: from Elasticsearch's return until the group's committed offsets add up to the
   events produced (lag 0: the topic is new, its offsets start at 0).

Tansu by default, because it honours the consumer's fetch size limits as Kafka does:
noida-db's Kafka (``--kafka-server noida``) answers a fetch with the whole backlog whatever
``fetch_max_bytes`` says, so after a long outage the client library holds it all at once
(seen: a plain aiokafka consumer went from 126 to 277 MB on 150,000 messages of 500 bytes;
on Tansu to 140 MB), which is the broker's doing, not socd's.

It prints the configured in-flight bounds, the RSS before, during and after the outage, the
events produced, consumed and committed, the threats produced and indexed (lost = threats
produced without a document), and the time to recover. Run::

    .venv/bin/python -m bench.outage [--rate 5000] [--outage 60] [--before 10]

A run takes about ``before + outage`` plus the recovery (a minute or two on a 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan

from bench.e2e import (
    PARTITIONS,
    ROOT,
    build_dataset,
    create_topics,
    socd_command,
    socd_config_text,
    spawned,
    work_directory,
)
from socd.config import Config, load_config
from socd.devservers import LocalServers, free_port

POOL = 20_000
"""Events generated and classified once; the stream cycles through them."""
SAMPLE_S = 0.5
RECOVER_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 60.0


@dataclass
class Memory:
    """RSS samples in kB by phase, and the last VmHWM seen in each."""

    rss: dict[str, list[int]] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """(socd_in_flight_events, socd_in_flight_bytes) samples by phase"""
    timeline: list[tuple[float, str, int, float, float]] = field(default_factory=list)
    """(seconds, phase, VmRSS kB, in-flight events, in-flight bytes)"""

    def peak(self, phase: str) -> int:
        return max(self.rss.get(phase, [0]))

    def peak_in_flight(self, phase: str) -> tuple[float, float]:
        samples = self.in_flight.get(phase) or [(0.0, 0.0)]
        return max(e for e, _ in samples), max(b for _, b in samples)


def status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB, from /proc/PID/status."""
    values = {}
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            key, _, rest = line.partition(b":")
            if key in (b"VmRSS", b"VmHWM"):
                values[key] = int(rest.split()[0])
    return values[b"VmRSS"], values[b"VmHWM"]



async def sample_memory(pid: int, port: int, memory: Memory, phase: list[str]) -> None:
    """Every SAMPLE_S until cancelled (or the process is gone), under ``phase[0]``: RSS, and
    the events and bytes in flight that socd reports."""
    started = time.monotonic()
    while True:
        try:
            rss, hwm = status_kb(pid)
        except (OSError, KeyError):
            return
        try:
            now = await metrics(port)
        except OSError:
            now = {}
        flying = (now.get("socd_in_flight_events", 0.0), now.get("socd_in_flight_bytes", 0.0))
        memory.rss.setdefault(phase[0], []).append(rss)
        memory.hwm[phase[0]] = hwm
        memory.in_flight.setdefault(phase[0], []).append(flying)
        memory.timeline.append((time.monotonic() - started, phase[0], rss, *flying))
        await asyncio.sleep(SAMPLE_S)


class Load:
    """Offers ``rate`` events a second (ticks of 0.1 s) until :meth:`stop`, cycling through
    the pool with a fresh ``alert_id`` each; counts what the broker acknowledged."""

    def __init__(self, bootstrap: str, topic: str, pool: list[dict[str, object]],
                 threat_flags: list[bool], rate: int, run_id: str) -> None:
        self._bootstrap, self._topic, self._rate, self._run = bootstrap, topic, rate, run_id
        self._pool, self._flags = pool, threat_flags
        self.produced = 0
        self.threat_ids: list[str] = []
        self.behind_s = 0.0
        """Seconds the producer fell behind its schedule (the offered rate not reached)."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                    linger_ms=10, client_id="socd-bench-outage")
        await producer.start()
        per_tick = max(1, self._rate // 10)
        cycle = itertools.cycle(range(len(self._pool)))
        started = time.monotonic()
        try:
            tick = 0
            while not self._stopping.is_set():
                pending: list[asyncio.Future[Any]] = []
                for _ in range(per_tick):
                    n = next(cycle)
                    alert_id = f"{self._run}-{self.produced + len(pending)}"
                    event = {**self._pool[n], "alert_id": alert_id}
                    if self._flags[n]:
                        self.threat_ids.append(alert_id)
                    pending.append(await producer.send(self._topic, orjson.dumps(event),
                                                       key=alert_id.encode()))
                await asyncio.gather(*pending)
                self.produced += len(pending)
                tick += 1
                wait = started + tick * 0.1 - time.monotonic()
                if wait < 0:
                    self.behind_s = -wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), max(0.0, wait))
        finally:
            await producer.stop()


async def committed_total(consumer: AIOKafkaConsumer, topic: str) -> int:
    """The sum of the committed offsets of the consumer's group over ``topic``."""
    committed = 0
    for partition in range(PARTITIONS):
        committed += await consumer.committed(TopicPartition(topic, partition)) or 0
    return committed


def scrape_sum(text: str, *names: str) -> dict[str, float]:
    sums = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        for name in names:
            if line.startswith(name) and line[len(name)] in " {":
                sums[name] += float(line.rpartition(" ")[2])
    return sums


async def metrics(port: int) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        text = (await reader.read()).decode(errors="replace")
    finally:
        writer.close()
    return scrape_sum(text, "socd_ready", "socd_events_total", "socd_threats_total",
                      "socd_partition_pauses_total", "socd_bulk_retries_total",
                      "socd_in_flight_events", "socd_in_flight_bytes")


def bounds(config: Config) -> list[str]:
    """The configured in-flight bounds, as lines."""
    delivery = getattr(config, "delivery", None)
    lines = []
    for key in ("max_in_flight_events", "max_in_flight_bytes"):
        value = getattr(delivery, key, None)
        if value is not None:
            lines.append(f"delivery.{key} = {value:,}")
    es = config.elasticsearch
    lines.append(f"elasticsearch.max_in_flight × bulk_max_docs = {es.max_in_flight} × "
                 f"{es.bulk_max_docs:,} = {es.max_in_flight * es.bulk_max_docs:,} documents")
    lines.append(f"kafka.max_batch = {config.kafka.max_batch:,} records per fetch")
    return lines


async def indexed_ids(url: str, index: str) -> tuple[int, set[str]]:
    es = AsyncElasticsearch(url, request_timeout=120)
    try:
        await es.indices.refresh(index=index, allow_no_indices=True)
        ids: set[str] = set()
        count = 0
        async for hit in async_scan(es, index=index, size=2000,
                                    query={"_source": ["event.id"]}):
            count += 1
            ids.add(str(hit["_source"]["event"]["id"]))
    finally:
        await es.close()
    return count, ids


async def bench(args: argparse.Namespace, servers: LocalServers, workdir: Path) -> int:
    assert servers.endpoints is not None
    endpoints = servers.endpoints
    run_id = uuid.uuid4().hex[:8]
    topic, dead, group = f"bench.outage.{run_id}", f"bench.outage.dead.{run_id}", \
        f"bench-outage-{run_id}"
    prefix, port = f"outage{run_id}", free_port()
    await create_topics(endpoints.kafka, topic, dead)
    config_path = workdir / "socd.yaml"
    config_path.write_text(socd_config_text(endpoints, topic, group, prefix, dead, port,
                                            [ROOT / "rules"]))
    config = load_config(config_path)
    data = build_dataset(config, "mix", events=POOL)
    threat_offsets = {action.record.offset for action in data.actions}
    pool = [orjson.loads(value) for _, value in data.messages]
    is_threat = [n in threat_offsets for n in range(len(pool))]
    benign = [n for n, threat in enumerate(is_threat) if not threat]
    threats = [n for n, threat in enumerate(is_threat) if threat]
    order = [threats[i // args.threat_every % len(threats)] if i % args.threat_every == 0
             else benign[i % len(benign)] for i in range(POOL)]
    load = Load(endpoints.kafka, topic, [pool[n] for n in order],
                [is_threat[n] for n in order], args.rate, run_id)
    memory, phase = Memory(), ["start"]
    checker = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka, group_id=group,
                               enable_auto_commit=False)
    await checker.start()
    log_path = workdir / "socd.log"
    try:
        with spawned([*socd_command(), "run", "-c", str(config_path)], log_path) as process:
            sampler = asyncio.create_task(sample_memory(process.pid, port, memory, phase))
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                with contextlib.suppress(OSError):
                    if (await metrics(port))["socd_ready"] == 1:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"socd did not start; see {log_path}")
                await asyncio.sleep(0.2)
            phase[0] = "before"
            producing = asyncio.create_task(load.run())
            await asyncio.sleep(args.before)
            phase[0] = "outage"
            servers.stop_service("elasticsearch")
            down_at = time.monotonic()
            await asyncio.sleep(args.outage)
            during = await metrics(port)
            hwm_outage = status_kb(process.pid)[1]
            load.stop()
            await producing
            servers.start_service("elasticsearch")
            up_at = time.monotonic()
            phase[0] = "recovery"
            while True:
                committed = await committed_total(checker, topic)
                if committed >= load.produced:
                    break
                if process.poll() is not None:
                    raise RuntimeError(f"socd exited with {process.returncode}; see {log_path}")
                if time.monotonic() - up_at > RECOVER_TIMEOUT_S:
                    raise RuntimeError(f"lag {load.produced - committed} after "
                                       f"{RECOVER_TIMEOUT_S:.0f} s")
                await asyncio.sleep(0.25)
            recovered_s = time.monotonic() - up_at
            after = await metrics(port)
            phase[0] = "end"
            process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(process.wait, 60)
            sampler.cancel()
    finally:
        await checker.stop()
    documents, ids = await indexed_ids(endpoints.elasticsearch, f"{prefix}-alerts*")
    lost = len(set(load.threat_ids) - ids)

    mb = 1024.0
    print(f"\nsocd under a {args.outage:.0f} s Elasticsearch outage, {args.rate:,} events/s "
          f"offered (1 in {args.threat_every} a threat), {args.before:.0f} s before it; "
          f"Kafka: local {args.kafka_server}")
    print("configured in-flight bounds:")
    for line in bounds(config):
        print(f"  {line}")
    rows = [
        ("RSS before the outage, peak", f"{memory.peak('before') / mb:.1f} MB"),
        ("RSS during the outage, peak (VmRSS)", f"{memory.peak('outage') / mb:.1f} MB"),
        ("RSS high-water mark at the outage's end (VmHWM)", f"{hwm_outage / mb:.1f} MB"),
        ("RSS during recovery, peak", f"{memory.peak('recovery') / mb:.1f} MB"),
        ("in flight during the outage, peak (events / bytes)",
         "{:,.0f} / {:,.0f}".format(*memory.peak_in_flight("outage"))),
        ("in flight during recovery, peak (events / bytes)",
         "{:,.0f} / {:,.0f}".format(*memory.peak_in_flight("recovery"))),
        ("partition pauses / bulk retries during the outage",
         f"{during['socd_partition_pauses_total']:.0f} / "
         f"{during['socd_bulk_retries_total']:.0f}"),
        ("events produced", f"{load.produced:,}"),
        ("events consumed (socd_events_total)", f"{after['socd_events_total']:,.0f}"),
        ("offsets committed", f"{committed:,}"),
        ("threats produced", f"{len(load.threat_ids):,}"),
        ("documents indexed (distinct event.id)", f"{documents:,} ({len(ids):,})"),
        ("threats lost", f"{lost:,}"),
        ("time to recover (Elasticsearch back → lag 0)", f"{recovered_s:.1f} s"),
        ("producer behind schedule at its end", f"{load.behind_s:.1f} s"),
        ("outage length (measured)", f"{up_at - down_at:.1f} s"),
        ("socd exit status on SIGTERM", f"{status}"),
    ]
    if args.keep:
        (args.keep / "timeline.tsv").write_text("".join(
            f"{t:.1f}\t{p}\t{rss}\t{e:.0f}\t{b:.0f}\n" for t, p, rss, e, b in memory.timeline))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>16}")
    return 0 if lost == 0 and committed >= load.produced and status == 0 else 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000, help="events offered a second")
    parser.add_argument("--outage", type=float, default=60.0,
                        help="seconds Elasticsearch is stopped")
    parser.add_argument("--before", type=float, default=10.0,
                        help="seconds of load before the outage")
    parser.add_argument("--threat-every", type=int, default=20,
                        help="one event in N is a threat (noida-db slows down with the "
                             "documents it holds: keep it modest)")
    parser.add_argument("--kafka-server", choices=["tansu", "noida"], default="tansu",
                        help="the local Kafka (see above for why Tansu by default)")
    parser.add_argument("--keep", type=Path,
                        help="work directory to keep (config, socd's log, servers' data)")
    args = parser.parse_args(argv)
    if args.rate < 10 or args.threat_every < 1 or args.outage <= 0 or args.before < 0:
        parser.error("--rate ≥ 10, --threat-every ≥ 1, --outage > 0, --before ≥ 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = work_directory(stack, args.keep, "socd-outage-")
        servers = LocalServers(workdir / "servers", kafka=args.kafka_server)
        stack.enter_context(servers)
        return asyncio.run(bench(args, servers, workdir))
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
