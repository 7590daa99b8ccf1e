"""End-to-end benchmark: socd's throughput beside two ceilings measured in the same run.

One data set of Cyradar-style events (fixed seed) is produced once to one topic with three
partitions; then, one after the other, on the same servers and the same bytes:

1. **bare consumer** — a plain aiokafka consumer (fresh group, earliest) drains the topic
   and ``json.loads`` every value, in this process with nothing else running: events/s and
   CPU seconds per message (``time.process_time``);
2. **bare bulk** — ``elasticsearch.helpers.async_bulk`` (sequential, chunk size = socd's
   ``kafka.max_batch``) indexes the very documents socd will index (computed offline with
   :class:`socd.pipeline.Pipeline`, outside the timing) under another index prefix:
   events/s-equivalent (events of the data set / bulk time) and docs/s;
3. **socd** — ``socd run -c CONFIG`` as a subprocess with a fresh consumer group: time from
   spawn to the first searchable document, steady throughput (from the first events seen in
   ``/metrics`` until ``socd_events_total`` and ``socd_threats_total`` reach their totals),
   CPU per event from ``/proc/<pid>/stat``; then SIGTERM, which must end it with status 0.

Run::

    .venv/bin/python -m bench.e2e [--events N] [--threat-share all|mix]
                                  [--kafka HOST:PORT --elasticsearch URL] [--profile]

See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from elasticsearch.serializer import OrjsonSerializer

from socd.classify import RuleSet
from socd.config import Config, load_config
from socd.devservers import Endpoints, LocalServers, free_port
from socd.event import IndexAction, Record
from socd.pipeline import Pipeline
from socd.simulate import VIETNAM, cyradar_events
from socd.sinks import templates

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20260615
START = datetime(2026, 6, 15, 8, 0, tzinfo=VIETNAM)
PARTITIONS = 3
CHUNK = 5000  # events generated and classified offline at a time
FIRST_DOC_POLL_S = 0.02
METRICS_POLL_S = 0.25
PHASE_TIMEOUT_S = 150.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

OTHERS_WARNING_CORES = 0.5
"""Machine CPU outside this process, socd and the local servers that makes a phase suspect
(it includes the kernel's loopback-network and disk work done for them, hence not 0)."""

# The figures socd is held to.
MIN_THROUGHPUT_RATIO = 0.80
MAX_CPU_RATIO = 10.0
MAX_FIRST_DOC_S = 5.0


# --------------------------------------------------------------------------- data set


@dataclass
class Dataset:
    messages: list[tuple[bytes, bytes]]
    """(key, value) in production order."""
    actions: list[IndexAction]
    """The documents socd will index for these messages, computed offline."""
    generated: int
    """Events generated to obtain ``messages`` (more than N with ``--threat-share all``)."""
    pipeline_cpu_s: float
    """CPU of :meth:`Pipeline.process` over the ``generated`` events, offline"""
    classes: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return len(self.messages)

    @property
    def threats(self) -> int:
        return len(self.actions)


def socd_config_text(endpoints: Endpoints, topic: str, group: str, prefix: str,
                     dead_topic: str, metrics_port: int, rules: list[Path]) -> str:
    paths = ", ".join(json.dumps(str(p)) for p in rules)
    return f"""\
kafka:
  bootstrap_servers: "{endpoints.kafka}"
  group_id: {group}
  session_timeout_ms: 6000   # the local broker waits half of it before the first assignment
inputs:
  - topic: {topic}
    connector: cyradar
    layer: 2
    sensor: cyradar-ndr
rules:
  paths: [{paths}]
elasticsearch:
  hosts: ["{endpoints.elasticsearch}"]
  index_prefix: {prefix}
metrics:
  listen: "127.0.0.1:{metrics_port}"
dead_letter:
  topic: {dead_topic}
sharing:
  topic: {dead_topic}.national
logging:
  format: json
"""


def build_dataset(config: Config, n: int, share: str) -> Dataset:
    """Generate, encode, normalise and classify offline; with ``all`` keep only threats."""
    rules, _ = RuleSet.load(config.rules.paths, strict=True)
    pipeline = Pipeline(config, rules)
    topic = config.inputs[0].topic
    generator = cyradar_events(random.Random(SEED), start=START, rate_hint=20.0)
    messages: list[tuple[bytes, bytes]] = []
    actions: list[IndexAction] = []
    generated = 0
    pipeline_cpu = 0.0
    while len(messages) < n:
        want = n - len(messages) if share == "mix" else CHUNK
        chunk = [(str(e["alert_id"]).encode(), _dumps(e))
                 for e in itertools.islice(generator, want)]
        records = [Record(topic, 0, generated + i, value, key)
                   for i, (key, value) in enumerate(chunk)]
        generated += len(chunk)
        cpu = time.process_time()
        batch = pipeline.process(records)
        pipeline_cpu += time.process_time() - cpu
        if batch.dead:
            raise RuntimeError(f"the generator produced {len(batch.dead)} events socd rejects: "
                               f"{batch.dead[0].reason} {batch.dead[0].detail}")
        if share == "mix":
            messages.extend(chunk)
            actions.extend(batch.actions)
        else:
            for action in batch.actions[: n - len(messages)]:
                assert action.record.key is not None and action.record.value is not None
                messages.append((action.record.key, action.record.value))
                actions.append(action)
    classes = Counter(str(a.doc["socd"]["class"]) for a in actions)
    return Dataset(messages, actions, generated, pipeline_cpu, classes)


def _dumps(event: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(event)


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Send every message (acks=all); the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                client_id="socd-bench")
    await producer.start()
    started = time.perf_counter()
    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value in messages:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- CPU accounting


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def servers_quiet(pids: list[int], *, below: float = 0.05, timeout: float = 15.0
                        ) -> float:
    """Wait until the local servers use less than ``below`` of a core; seconds waited."""
    if not pids:
        return 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = servers_cpu(pids) or 0.0
        await asyncio.sleep(0.5)
        if ((servers_cpu(pids) or 0.0) - before) / 0.5 < below:
            break
    return time.perf_counter() - started


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (every core, not idle/iowait)."""
    with open("/proc/stat", "rb") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def servers_cpu(pids: list[int]) -> float | None:
    """CPU seconds of the local servers together (None when they are not ours)."""
    return sum(servers_cpu_each(pids)) if pids else None


def servers_cpu_each(pids: list[int]) -> list[float]:
    each = []
    for pid in pids:
        try:
            each.append(proc_cpu_seconds(pid))
        except OSError:
            each.append(0.0)
    return each


# --------------------------------------------------------------------------- phases


@dataclass
class ConsumerResult:
    events: int
    wall_s: float
    """group join to the last message"""
    steady_s: float
    """first batch received to the last message"""
    steady_events: int
    events_per_s: float
    cpu_s: float
    """bench-process CPU over the steady window"""
    cpu_per_event_us: float
    server_cpu_s: float | None
    others_cpu_s: float = 0.0
    """machine CPU outside this process and the local servers (other processes, kernel)"""


async def bare_consumer(bootstrap: str, topic: str, n: int, max_batch: int,
                        server_pids: list[int]) -> ConsumerResult:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False)
    started = time.perf_counter()
    await consumer.start()
    got = first = 0
    t0 = cpu0 = busy0 = busy1 = 0.0
    srv0 = srv1 = None
    try:
        deadline = started + PHASE_TIMEOUT_S
        while got < n:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"bare consumer: {got} of {n} messages after "
                                   f"{PHASE_TIMEOUT_S:.0f} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=max_batch)
            for messages in batches.values():
                for message in messages:
                    json.loads(message.value)
                got += len(messages)
            if got and not first:
                first, t0, cpu0 = got, time.perf_counter(), time.process_time()
                srv0, busy0 = servers_cpu(server_pids), machine_busy_seconds()
        t1, cpu1 = time.perf_counter(), time.process_time()
        srv1, busy1 = servers_cpu(server_pids), machine_busy_seconds()
    finally:
        await consumer.stop()
    steady = got - first
    if steady <= 0:
        raise RuntimeError("the bare consumer got everything in one batch: too few events "
                           "to measure; give more --events")
    return ConsumerResult(
        events=got, wall_s=t1 - started, steady_s=t1 - t0, steady_events=steady,
        events_per_s=steady / (t1 - t0), cpu_s=cpu1 - cpu0,
        cpu_per_event_us=(cpu1 - cpu0) / steady * 1e6,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - ((srv1 or 0.0) - (srv0 or 0.0)))


@dataclass
class BulkResult:
    docs: int
    chunk_size: int
    bulk_s: float
    docs_per_s: float
    events_per_s: float
    """events of the data set / bulk time"""
    errors: int
    cpu_s: float
    server_cpu_s: float | None
    others_cpu_s: float = 0.0


async def bare_bulk(url: str, prefix: str, socd_prefix: str, data: Dataset, chunk: int,
                    server_pids: list[int]) -> BulkResult:
    client = AsyncElasticsearch(url, serializer=OrjsonSerializer(), request_timeout=120)
    try:
        await client.indices.put_index_template(**templates.alerts_template(prefix))

        def actions() -> Iterator[dict[str, Any]]:
            for action in data.actions:
                yield {"_op_type": "index", "_index": prefix + action.index[len(socd_prefix):],
                       "_id": action.doc_id, "_source": action.doc}

        srv0, cpu0 = servers_cpu(server_pids), time.process_time()
        busy0 = machine_busy_seconds()
        started = time.perf_counter()
        ok, errors = await async_bulk(client, actions(), chunk_size=chunk,
                                      max_chunk_bytes=512 * 1024 * 1024, raise_on_error=False,
                                      stats_only=True)
        elapsed = time.perf_counter() - started
        cpu1, srv1 = time.process_time(), servers_cpu(server_pids)
        busy1 = machine_busy_seconds()
        await client.indices.refresh(index=f"{prefix}-alerts*")
        count = int((await client.count(index=f"{prefix}-alerts*"))["count"])
        if count != data.threats:
            raise RuntimeError(f"bare bulk: {count} documents searchable, {data.threats} sent")
        # The local server slows down with the data it holds: leave socd the same state.
        names = list((await client.indices.get(index=f"{prefix}-alerts*")).body)
        if names:
            await client.indices.delete(index=",".join(names))
    finally:
        await client.close()
    assert isinstance(errors, int)
    return BulkResult(
        docs=ok, chunk_size=chunk, bulk_s=elapsed, docs_per_s=ok / elapsed,
        events_per_s=data.events / elapsed, errors=errors, cpu_s=cpu1 - cpu0,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - ((srv1 or 0.0) - (srv0 or 0.0)))


@dataclass
class SocdResult:
    events: int
    threats: int
    start_to_ready_s: float | None
    """spawn to socd's "started" log line"""
    start_to_first_doc_s: float
    start_to_first_events_s: float
    steady_s: float
    steady_events: int
    events_per_s: float
    cpu_s: float
    cpu_per_event_us: float
    server_cpu_s: float | None
    server_cpu_each_s: list[float]
    """per local server process, in LocalServers order (noida-db, then tansu if used)"""
    bench_cpu_s: float
    """CPU this process spent polling during the steady window"""
    searchable: int
    exit_status: int
    others_cpu_s: float = 0.0
    profile: str | None = None


def scrape_text(text: str) -> tuple[float, float]:
    """(socd_events_total, socd_threats_total) summed over their labels."""
    events = threats = 0.0
    for line in text.splitlines():
        if line.startswith("socd_events_total"):
            events += float(line.rpartition(" ")[2])
        elif line.startswith("socd_threats_total"):
            threats += float(line.rpartition(" ")[2])
    return events, threats


def socd_command() -> list[str]:
    script = Path(sys.executable).parent / "socd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "socd"]


@contextlib.contextmanager
def spawned(argv: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def run_socd(config_path: Path, log_path: Path, endpoints: Endpoints, prefix: str,
                   metrics_port: int, data: Dataset, server_pids: list[int],
                   profile_to: Path | None) -> SocdResult:
    es = AsyncElasticsearch(endpoints.elasticsearch, request_timeout=30)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    index = f"{prefix}-alerts*"
    spy: subprocess.Popen[bytes] | None = None
    first_doc_task: asyncio.Task[float] | None = None
    try:
        spawn_wall = time.time()
        spawn = time.perf_counter()
        argv = [*socd_command(), "run", "-c", str(config_path)]
        with spawned(argv, log_path) as process:

            def alive() -> None:
                if process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"socd exited early with {process.returncode}:\n{tail}")

            async def first_document() -> float:
                while True:
                    alive()
                    await es.indices.refresh(index=index, allow_no_indices=True)
                    count = int((await es.count(index=index, allow_no_indices=True))["count"])
                    if count:
                        return time.perf_counter() - spawn
                    if time.perf_counter() - spawn > PHASE_TIMEOUT_S:
                        raise RuntimeError("socd indexed nothing in time")
                    await asyncio.sleep(FIRST_DOC_POLL_S)

            first_doc_task = asyncio.create_task(first_document())
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            t0 = cpu0 = bench0 = 0.0
            srv0: float | None = None
            each0: list[float] = []
            busy0 = 0.0
            events0 = events = threats = 0.0
            while True:
                alive()
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with http.get(url) as response:
                        events, threats = scrape_text(await response.text())
                    now = time.perf_counter()
                    if not t0 and events > 0:
                        t0, events0 = now, events
                        cpu0, bench0 = proc_cpu_seconds(process.pid), time.process_time()
                        srv0 = servers_cpu(server_pids)
                        each0 = servers_cpu_each(server_pids)
                        busy0 = machine_busy_seconds()
                        if profile_to is not None:
                            spy = start_profiler(process.pid, profile_to)
                    if events >= data.events and threats >= data.threats:
                        cpu1, bench1 = proc_cpu_seconds(process.pid), time.process_time()
                        srv1 = servers_cpu(server_pids)
                        each1 = servers_cpu_each(server_pids)
                        busy1 = machine_busy_seconds()
                        t1 = now
                        break
                if time.perf_counter() - spawn > PHASE_TIMEOUT_S:
                    raise RuntimeError(f"socd counted too little in time: events {events} of "
                                       f"{data.events}, threats {threats} of {data.threats}")
                await asyncio.sleep(METRICS_POLL_S)
            first_doc = await first_doc_task
            process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(process.wait, 30)
        if spy is not None:
            await asyncio.to_thread(spy.wait, 30)
        await es.indices.refresh(index=index)
        searchable = int((await es.count(index=index))["count"])
    finally:
        if first_doc_task is not None and not first_doc_task.done():
            first_doc_task.cancel()
        if spy is not None and spy.poll() is None:
            spy.kill()
        await http.close()
        await es.close()
    steady_events = int(events - events0)
    if steady_events <= 0 or t1 <= t0:
        raise RuntimeError("socd finished within one scrape: too few events to measure; "
                           "give more --events")
    return SocdResult(
        events=int(events), threats=int(threats),
        start_to_ready_s=log_event_delay(log_path, "started", spawn_wall),
        start_to_first_doc_s=first_doc, start_to_first_events_s=t0 - spawn,
        steady_s=t1 - t0, steady_events=steady_events, events_per_s=steady_events / (t1 - t0),
        cpu_s=cpu1 - cpu0, cpu_per_event_us=(cpu1 - cpu0) / steady_events * 1e6,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        server_cpu_each_s=[b - a for a, b in zip(each0, each1, strict=True)],
        bench_cpu_s=bench1 - bench0, searchable=searchable, exit_status=status,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - (bench1 - bench0)
        - ((srv1 or 0.0) - (srv0 or 0.0)),
        profile=str(profile_to) if profile_to else None)


def log_event_delay(log_path: Path, event: str, since: float) -> float | None:
    """Seconds from ``since`` (Unix time) to the first JSON log line of ``event``."""
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event and "timestamp" in entry:
            moment = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00"))
            return moment.timestamp() - since
    return None


# --------------------------------------------------------------------------- profiling


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy record (raw collapsed stacks) on socd until it exits.

    ``--gil``: only the thread holding the GIL is sampled, so the samples are socd's Python
    CPU time and the idle waits of the event loop and the metrics thread drop out.
    """
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil",
         "-o", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Top frames by own samples (file:line) and by inclusive samples (function)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[_short(frames[-1])] += count
        for function in {_function(f) for f in frames}:
            if not function.startswith(_FRAMEWORK):
                inclusive[function] += count
    if not total:
        return {"own": [], "inclusive": []}
    return {
        "own": [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(top)],
        "inclusive": [(frame, round(100 * n / total, 1))
                      for frame, n in inclusive.most_common(top)],
    }


_FRAMEWORK = ("<module> ", "main (socd/cli.py", "_dispatch (socd/cli.py", "_run (socd/cli.py",
              "run (asyncio/",
              "Runner.", "BaseEventLoop.", "Handle._run", "Daemon.run (", "_run_module",
              "_run_code")
"""Frames every stack goes through: left out of the inclusive list."""


def _short(frame: str) -> str:
    """``fn (/long/path/site-packages/pkg/mod.py:12)`` → ``fn (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def _function(frame: str) -> str:
    short = _short(frame)
    return short.rsplit(":", 1)[0] + ")" if ":" in short else short


# --------------------------------------------------------------------------- report


def figures(consumer: ConsumerResult, bulk: BulkResult, socd: SocdResult) -> dict[str, Any]:
    ceiling = min(consumer.events_per_s, bulk.events_per_s)
    throughput = socd.events_per_s / ceiling
    cpu = socd.cpu_per_event_us / consumer.cpu_per_event_us
    return {
        "lower_ceiling_events_per_s": ceiling,
        "lower_ceiling": "bare consumer" if consumer.events_per_s <= bulk.events_per_s
        else "bare bulk",
        "throughput_ratio": throughput,
        "throughput_ok": throughput >= MIN_THROUGHPUT_RATIO,
        "cpu_ratio": cpu,
        "cpu_ok": cpu <= MAX_CPU_RATIO,
        "start_to_first_doc_s": socd.start_to_first_doc_s,
        "start_ok": socd.start_to_first_doc_s <= MAX_FIRST_DOC_S,
    }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_report(args: argparse.Namespace, data: Dataset, produce_s: float,
                 consumer: ConsumerResult, bulk: BulkResult, socd: SocdResult,
                 result: dict[str, Any], profile: dict[str, list[tuple[str, float]]] | None
                 ) -> None:
    share = 100 * data.threats / data.events
    print(f"\ndata: {data.events:,} events ({data.threats:,} threats, {share:.1f}%: "
          f"{dict(data.classes)}), seed {SEED}, threat share {args.threat_share}; "
          f"produced in {produce_s:.1f} s ({data.events / produce_s:,.0f}/s)")
    head = (f"{'':<16}{'events/s':>10}{'docs/s':>10}{'window s':>10}"
            f"{'CPU µs/event':>14}{'servers CPU s':>15}")
    print(head)
    print("-" * len(head))
    print(f"{'bare consumer':<16}{_num(consumer.events_per_s):>10}{'-':>10}"
          f"{_num(consumer.steady_s, 2):>10}{_num(consumer.cpu_per_event_us, 1):>14}"
          f"{_num(consumer.server_cpu_s, 1):>15}")
    print(f"{'bare bulk':<16}{_num(bulk.events_per_s):>10}{_num(bulk.docs_per_s):>10}"
          f"{_num(bulk.bulk_s, 2):>10}{_num(bulk.cpu_s / data.events * 1e6, 1):>14}"
          f"{_num(bulk.server_cpu_s, 1):>15}")
    socd_docs = data.threats / socd.steady_s * socd.steady_events / data.events
    print(f"{'socd':<16}{_num(socd.events_per_s):>10}{_num(socd_docs):>10}"
          f"{_num(socd.steady_s, 2):>10}{_num(socd.cpu_per_event_us, 1):>14}"
          f"{_num(socd.server_cpu_s, 1):>15}")
    print("(bulk CPU is this process's client-side CPU; socd CPU is its whole process)")
    for name, others, window in (("bare consumer", consumer.others_cpu_s, consumer.steady_s),
                                 ("bare bulk", bulk.others_cpu_s, bulk.bulk_s),
                                 ("socd", socd.others_cpu_s, socd.steady_s)):
        if others / window > OTHERS_WARNING_CORES:
            print(f"WARNING: {others / window:.2f} cores busy outside the measured processes "
                  f"during the {name} phase (other processes, kernel work); the figures may "
                  f"be disturbed")
    print(f"socd's pipeline alone (normalise, classify, encode; offline): "
          f"{data.pipeline_cpu_s / data.generated * 1e6:.1f} µs/event")
    ready = _num(socd.start_to_ready_s, 2)
    print(f"\nsocd: ready after {ready} s, first events counted after "
          f"{socd.start_to_first_events_s:.2f} s, first document searchable after "
          f"{socd.start_to_first_doc_s:.2f} s; exit status after SIGTERM {socd.exit_status}; "
          f"{socd.searchable:,} documents searchable")

    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"\nsocd events/s ÷ lower ceiling ({result['lower_ceiling']}, "
          f"{result['lower_ceiling_events_per_s']:,.0f}/s) = {result['throughput_ratio']:.2f}"
          f"   figure ≥ {MIN_THROUGHPUT_RATIO:.2f}: {mark(result['throughput_ok'])}")
    print(f"socd CPU per event ÷ bare consumer CPU per message = {result['cpu_ratio']:.1f}×"
          f"   figure ≤ {MAX_CPU_RATIO:.0f}×: {mark(result['cpu_ok'])}")
    print(f"start → first document = {result['start_to_first_doc_s']:.2f} s"
          f"   figure ≤ {MAX_FIRST_DOC_S:.0f} s: {mark(result['start_ok'])}")
    if profile:
        print(f"\nprofile of socd over the steady window ({socd.profile}):")
        print("  own samples (file:line):")
        for frame, percent in profile["own"]:
            print(f"    {percent:5.1f}%  {frame}")
        print("  inclusive samples (function):")
        for frame, percent in profile["inclusive"]:
            print(f"    {percent:5.1f}%  {frame}")


# --------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace, endpoints: Endpoints, server_pids: list[int],
                workdir: Path) -> int:
    run_id = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    topic, dead_topic = f"bench.cyradar.{run_id}", f"bench.dead-letter.{run_id}"
    socd_prefix, bare_prefix = f"bench-socd-{run_id}", f"bench-bare-{run_id}"
    metrics_port = free_port()
    rules = [Path(p).resolve() for p in args.rules]
    config_path = workdir / "socd.yaml"
    config_path.write_text(socd_config_text(endpoints, topic, f"bench-socd-{run_id}",
                                            socd_prefix, dead_topic, metrics_port, rules))
    config = load_config(config_path)  # with any SOCD_* overrides from the environment
    max_batch = config.kafka.max_batch

    print(f"servers: kafka {endpoints.kafka}, elasticsearch {endpoints.elasticsearch}; "
          f"socd max_batch {max_batch}, max_in_flight {config.elasticsearch.max_in_flight}",
          flush=True)
    began = time.perf_counter()
    data = build_dataset(config, args.events, args.threat_share)
    print(f"data set: {data.events:,} events, {data.threats:,} threats "
          f"({data.generated:,} generated) in {time.perf_counter() - began:.1f} s", flush=True)
    await create_topics(endpoints.kafka, topic, dead_topic)
    produce_s = await produce(endpoints.kafka, topic, data.messages)
    print(f"produced to {topic} in {produce_s:.1f} s", flush=True)

    await servers_quiet(server_pids)
    consumer = await bare_consumer(endpoints.kafka, topic, data.events, max_batch, server_pids)
    print(f"bare consumer: {consumer.events_per_s:,.0f} events/s", flush=True)
    await servers_quiet(server_pids)
    bulk = await bare_bulk(endpoints.elasticsearch, bare_prefix, socd_prefix, data, max_batch,
                           server_pids)
    print(f"bare bulk: {bulk.docs_per_s:,.0f} docs/s ({bulk.events_per_s:,.0f} events/s)",
          flush=True)
    profile_path = RESULTS / f"e2e-{stamp}-socd.pyspy.txt" if args.profile else None
    if profile_path is not None:
        RESULTS.mkdir(parents=True, exist_ok=True)
    await servers_quiet(server_pids)
    socd = await run_socd(config_path, workdir / "socd.log", endpoints, socd_prefix,
                          metrics_port, data, server_pids, profile_path)
    print(f"socd: {socd.events_per_s:,.0f} events/s", flush=True)
    profile = summarise_profile(profile_path) if profile_path and profile_path.exists() \
        else None

    result = figures(consumer, bulk, socd)
    print_report(args, data, produce_s, consumer, bulk, socd, result, profile)
    problems = []
    if socd.exit_status != 0:
        problems.append(f"socd exited with {socd.exit_status} after SIGTERM")
    if socd.events != data.events or socd.threats != data.threats:
        problems.append(f"socd counted {socd.events} events and {socd.threats} threats, "
                        f"expected {data.events} and {data.threats}")
    if socd.searchable != data.threats:
        problems.append(f"{socd.searchable} documents searchable, expected {data.threats}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"e2e-{stamp}.json"
    out.write_text(json.dumps({
        "timestamp": stamp,
        "command": " ".join(sys.argv),
        "environment": {k: v for k, v in os.environ.items() if k.startswith("SOCD_")},
        "servers": asdict(endpoints) | {"local": bool(server_pids)},
        "cpus": os.cpu_count(),
        "data": {"events": data.events, "threats": data.threats, "generated": data.generated,
                 "classes": dict(data.classes), "threat_share": args.threat_share,
                 "seed": SEED, "partitions": PARTITIONS,
                 "mean_message_bytes": statistics.fmean(len(v) for _, v in data.messages),
                 "mean_document_bytes": statistics.fmean(len(a.body) for a in data.actions)
                 if data.actions else 0.0,
                 "produce_s": produce_s,
                 "pipeline_cpu_per_event_us": data.pipeline_cpu_s / data.generated * 1e6},
        "socd_config": {"max_batch": max_batch,
                        "max_in_flight": config.elasticsearch.max_in_flight},
        "bare_consumer": asdict(consumer),
        "bare_bulk": asdict(bulk),
        "socd": asdict(socd),
        "figures": result,
        "profile": profile,
        "problems": problems,
    }, indent=2))
    print(f"\nresults: {out}")
    if problems:
        kept = RESULTS / f"e2e-{stamp}-socd.log"
        kept.write_bytes((workdir / "socd.log").read_bytes())
        print(f"socd's log: {kept}", file=sys.stderr)
        return 1
    if args.strict and not (result["throughput_ok"] and result["cpu_ok"]
                            and result["start_ok"]):
        return 2
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split(
        "\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int,
                        help="events in the data set (default 50,000 with --threat-share mix, "
                             "25,000 with all, to stay near 3 minutes on the local servers)")
    parser.add_argument("--threat-share", choices=("mix", "all"), default="mix",
                        help="mix: the generator's own mix; all: only events the rules "
                             "classify as threats, so every event is indexed")
    parser.add_argument("--kafka", help="HOST:PORT of an existing broker "
                        "(with --elasticsearch; default: start local servers)")
    parser.add_argument("--elasticsearch", help="URL of an existing Elasticsearch")
    parser.add_argument("--rules", nargs="+", default=[str(ROOT / "rules")],
                        help="socd's rule paths (default: the shipped rules/)")
    parser.add_argument("--profile", action="store_true",
                        help="sample socd with py-spy over the steady window and list the "
                             "hot spots (slows socd down; figures are then indicative)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 2 when a figure is missed")
    parser.add_argument("--keep", type=Path,
                        help="work directory to keep (config, socd's log, local servers' data)")
    args = parser.parse_args(argv)
    if bool(args.kafka) != bool(args.elasticsearch):
        parser.error("give --kafka and --elasticsearch together, or neither")
    if args.events is None:
        args.events = 50_000 if args.threat_share == "mix" else 25_000
    if args.events < 1:
        parser.error("--events must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="socd-e2e-")))
        if args.kafka:
            endpoints, pids = Endpoints(args.kafka, args.elasticsearch), []
        else:
            servers = LocalServers(workdir / "servers")
            endpoints = stack.enter_context(servers)
            pids = servers.pids
        return asyncio.run(bench(args, endpoints, pids, workdir))
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
