"""End-to-end benchmark: socd's throughput beside a fair ceiling measured in the same run.

One data set of Cyradar-style events (fixed seed, times of the last hours so that socd's
clock accepts them as they are) is produced once to one topic with three partitions; then,
on the same servers and the same bytes, each round runs, one after the other:

1. **bare consumer** — a plain aiokafka consumer (fresh group, earliest) drains the topic
   and ``json.loads`` every value, in this process with nothing else running, three times:
   the median events/s and CPU seconds per message (``time.process_time``);
2. **bare bulk** (the ceiling) — the very documents socd writes (its normaliser's output
   with its verdict, computed offline with :class:`socd.pipeline.Pipeline`, outside the
   timing), byte for byte, with socd's ids and index names from the event's own time, into
   indices under another prefix carrying socd's template (installed by ``socd setup``),
   sent as pre-encoded ``_bulk`` requests of socd's request size
   (``elasticsearch.bulk_max_docs``) with socd's ``filter_path``, one request at a time and
   then ``elasticsearch.max_in_flight`` at a time: the better docs/s is the ceiling;
3. **socd** — ``socd run -c CONFIG`` as a subprocess with a fresh consumer group: time from
   spawn to the first searchable document, steady throughput (from the first events seen in
   ``/metrics`` until ``socd_events_total`` and ``socd_threats_total`` reach their totals),
   its bulk requests (count, mean size and time), CPU per event from ``/proc/<pid>/stat``;
   then SIGTERM, which must end it with status 0.

Indices are deleted after each bulk and socd phase, so every phase finds the server empty.
The ratios (socd docs/s ÷ ceiling docs/s; socd CPU per event ÷ bare consumer CPU per
message) are computed per round, and with ``--rounds`` their median is printed.

Run::

    .venv/bin/python -m bench.e2e [--threats N | --events N] [--threat-share all|mix]
                                  [--rounds R] [--kafka HOST:PORT --elasticsearch URL]
                                  [--profile]

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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer

from socd.classify import RuleSet
from socd.config import Config, load_config
from socd.devservers import Endpoints, LocalServers, free_port
from socd.event import IndexAction, Record
from socd.pipeline import Pipeline
from socd.simulate import VIETNAM, cyradar_events

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20260615
START_BEFORE_NOW = timedelta(hours=6)
"""The data set's first event is this long before the run: well inside socd's default
``max_clock_skew`` (30 days past), so ``@timestamp`` and the index name come from the
event's own time, as with live traffic. (Older events would all take socd's out-of-window
path: their time moved aside, a warning added.)"""
PARTITIONS = 3
CONSUMER_PASSES = 3
LOADED_CONSUMER_DELAY_S = 1.0
"""Bare-consumer passes per round; the median is kept (one pass lasts a fraction of a
second, too short for one CPU reading to be trusted)."""
BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"
"""The ``filter_path`` socd's sink asks for: what a client needs to know each item's fate."""
CHUNK = 5000  # events generated and classified offline at a time
FIRST_DOC_POLL_S = 0.02
METRICS_POLL_S = 0.25
METRICS_EDGE_POLL_S = 0.025
"""/metrics is scraped this often before socd's first events and once 90 % of the threats
are counted, so that the steady window's ends are within 25 ms of the truth; in between,
every METRICS_POLL_S. What serving these scrapes costs socd is measured (scrape_cost) and
taken off its CPU per event."""
SCRAPE_COST_SAMPLES = 50
PHASE_TIMEOUT_S = 150.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

OTHERS_WARNING_CORES = 0.5
"""Machine CPU outside this process, socd and the local servers that makes a phase suspect
(it includes the kernel's loopback-network and disk work done for them, hence not 0)."""

# The figures socd is held to.
MIN_THROUGHPUT_RATIO = 0.90
MAX_CPU_RATIO = 8.0
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
                     dead_topic: str, metrics_port: int, rules: list[Path], *,
                     sharing: bool = False, input_extra: str = "") -> str:
    """socd's configuration for a run; ``sharing``: layer-4 sharing on, to
    ``<dead_topic>.national`` (transactions where the broker has them); ``input_extra``:
    more keys of the input: YAML lines indented by four spaces, each ending in a newline."""
    paths = ", ".join(json.dumps(str(p)) for p in rules)
    shared = f"""sharing:
  topic: {dead_topic}.national
  identity: {{name: "Bench department"}}
""" if sharing else ""
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
{input_extra}rules:
  paths: [{paths}]
elasticsearch:
  hosts: ["{endpoints.elasticsearch}"]
  index_prefix: {prefix}
metrics:
  listen: "127.0.0.1:{metrics_port}"
dead_letter:
  topic: {dead_topic}
{shared}logging:
  format: json
"""


def build_dataset(config: Config, share: str, *, events: int | None = None,
                  threats: int | None = None,
                  shape: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None
                  ) -> Dataset:
    """Generate, encode, normalise and classify offline.

    ``events``: the first N events (with ``all``, the first N threats). ``threats``: events
    until the Nth threat (with ``all``, only the threats). Exactly one of the two is given.
    ``shape(i, event)``: the ``i``-th generated event as it is to be sent (changed in place
    or replaced), before it is encoded and classified.
    """
    assert (events is None) != (threats is None)
    rules, _ = RuleSet.load(config.rules.paths, strict=True)
    pipeline = Pipeline(config, rules)
    topic = config.inputs[0].topic
    start = datetime.now(VIETNAM).replace(minute=0, second=0, microsecond=0) \
        - START_BEFORE_NOW
    generator = cyradar_events(random.Random(SEED), start=start, rate_hint=20.0)
    messages: list[tuple[bytes, bytes]] = []
    actions: list[IndexAction] = []
    generated = 0
    pipeline_cpu = 0.0
    only_threats = share == "all"
    n = events if events is not None else threats
    assert n is not None

    def done() -> bool:
        return len(actions if threats is not None or only_threats else messages) >= n

    while not done():
        want = n - len(messages) if events is not None and not only_threats else CHUNK
        fresh: Iterator[dict[str, Any]] = itertools.islice(generator, want)
        if shape is not None:
            fresh = (shape(generated + i, e) for i, e in enumerate(fresh))
        chunk = [(str(e["alert_id"]).encode(), _dumps(e)) for e in fresh]
        records = [Record(topic, 0, generated + i, value, key)
                   for i, (key, value) in enumerate(chunk)]
        generated += len(chunk)
        cpu = time.process_time()
        batch = pipeline.process(records)
        pipeline_cpu += time.process_time() - cpu
        if batch.dead:
            raise RuntimeError(f"the generator produced {len(batch.dead)} events socd rejects: "
                               f"{batch.dead[0].reason} {batch.dead[0].detail}")
        kept = batch.actions[: n - len(actions)]
        if only_threats:
            for action in kept:
                assert action.record.key is not None and action.record.value is not None
                messages.append((action.record.key, action.record.value))
        elif threats is not None and kept and len(actions) + len(kept) >= n:  # the Nth is here
            messages.extend(chunk[: kept[-1].record.offset - records[0].offset + 1])
        else:
            messages.extend(chunk)
        actions.extend(kept)
    verdicts = [a.document()["socd"] for a in actions]
    late = [v for v in verdicts if "warnings" in v]
    if late:
        raise RuntimeError(f"{len(late)} threats fall outside socd's clock window "
                           f"({late[0]['warnings'][0]}): fewer events, or move "
                           "START_BEFORE_NOW")
    classes = Counter(str(v["class"]) for v in verdicts)
    return Dataset(messages, actions, generated, pipeline_cpu, classes)


def _dumps(event: dict[str, Any]) -> bytes:
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
class ConsumerPass:
    events: int
    wall_s: float
    """group join to the last message"""
    steady_s: float
    """first batch received to the last message"""
    steady_events: int
    events_per_s: float
    cpu_s: float
    """CPU of the consumer's thread over the steady window"""
    cpu_per_event_us: float
    server_cpu_s: float | None
    others_cpu_s: float = 0.0
    """machine CPU outside this process and the local servers (other processes, kernel)"""
    under_load: bool = False
    """run while the bare bulk kept the Elasticsearch server busy"""


@dataclass
class ConsumerResult:
    passes: list[ConsumerPass]
    """on a quiet machine (the local servers idle)"""
    loaded: list[ConsumerPass] = field(default_factory=list)
    """while the bare bulk keeps the Elasticsearch server busy, as socd's phase does"""

    @property
    def events_per_s(self) -> float:
        return statistics.median(p.events_per_s for p in self.passes)

    @property
    def idle_cpu_per_event_us(self) -> float:
        return statistics.median(p.cpu_per_event_us for p in self.passes)

    @property
    def cpu_per_event_us(self) -> float:
        """Under load when measured so (socd's phase is: the server busy beside it), else
        on a quiet machine."""
        loaded = [p.cpu_per_event_us for p in self.loaded if p.under_load]
        return statistics.median(loaded) if loaded else self.idle_cpu_per_event_us

    @property
    def steady_s(self) -> float:
        return statistics.median(p.steady_s for p in self.passes)


async def bare_consumer(bootstrap: str, topic: str, n: int, max_batch: int,
                        server_pids: list[int]) -> ConsumerResult:
    passes = []
    for _ in range(CONSUMER_PASSES):
        passes.append(await _consume_once(bootstrap, topic, n, max_batch, server_pids))
        await servers_quiet(server_pids)
    return ConsumerResult(passes)


def consumer_under_load(bootstrap: str, topic: str, n: int, max_batch: int,
                        server_pids: list[int], busy: threading.Event) -> list[ConsumerPass]:
    """Bare-consumer passes in a thread of their own while ``busy`` is set (the bare bulk
    running): CPU per message when a core is taken by the server, as during socd's phase.
    A pass that ends after ``busy`` was cleared is marked so and not counted."""

    async def passes() -> list[ConsumerPass]:
        await asyncio.sleep(LOADED_CONSUMER_DELAY_S)  # the bulk well under way
        done = []
        for _ in range(CONSUMER_PASSES):
            if not busy.is_set():
                break
            one = await _consume_once(bootstrap, topic, n, max_batch, server_pids)
            one.under_load = busy.is_set()
            done.append(one)
        return done

    return asyncio.run(passes())


async def _consume_once(bootstrap: str, topic: str, n: int, max_batch: int,
                        server_pids: list[int]) -> ConsumerPass:
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
                first, t0, cpu0 = got, time.perf_counter(), time.thread_time()
                srv0, busy0 = servers_cpu(server_pids), machine_busy_seconds()
        t1, cpu1 = time.perf_counter(), time.thread_time()
        srv1, busy1 = servers_cpu(server_pids), machine_busy_seconds()
    finally:
        await consumer.stop()
    steady = got - first
    if steady <= 0:
        raise RuntimeError("the bare consumer got everything in one batch: too few events "
                           "to measure; give more --events")
    return ConsumerPass(
        events=got, wall_s=t1 - started, steady_s=t1 - t0, steady_events=steady,
        events_per_s=steady / (t1 - t0), cpu_s=cpu1 - cpu0,
        cpu_per_event_us=(cpu1 - cpu0) / steady * 1e6,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - ((srv1 or 0.0) - (srv0 or 0.0)))


@dataclass
class BulkRun:
    concurrency: int
    """requests in flight at once"""
    requests: int
    docs: int
    bulk_s: float
    """first request sent to the last answer"""
    docs_per_s: float
    mean_request_s: float
    cpu_s: float
    """the sending thread's CPU over the run"""
    server_cpu_s: float | None
    others_cpu_s: float = 0.0


@dataclass
class BulkResult:
    request_docs: int
    """documents per request: socd's ``elasticsearch.bulk_max_docs``"""
    mean_request_bytes: float
    runs: list[BulkRun]

    @property
    def best(self) -> BulkRun:
        return max(self.runs, key=lambda run: run.docs_per_s)


def bare_requests(data: Dataset, socd_prefix: str, prefix: str, request_docs: int
                  ) -> list[bytes]:
    """The ``_bulk`` bodies of socd's documents, ``request_docs`` a request: each document's
    bytes exactly as socd encodes them, with socd's id, under ``prefix`` instead of socd's."""
    lines = []
    for action in data.actions:
        assert action.index.startswith(socd_prefix)
        header = orjson.dumps({"create": {"_index": prefix + action.index[len(socd_prefix):],
                                         "_id": action.doc_id}})
        lines.append(header + action.body[action.body.index(b"\n"):])
    return [b"".join(lines[i:i + request_docs]) for i in range(0, len(lines), request_docs)]


async def install_template(config_path: Path, log_path: Path) -> None:
    """socd's own index template (and lifecycle policy where the server has ILM), installed
    by ``socd setup`` for the config's prefix."""
    with open(log_path, "ab") as log:
        process = await asyncio.create_subprocess_exec(
            *socd_command(), "setup", "-c", str(config_path), stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, env=socd_env())
        status = await process.wait()
    if status != 0:
        raise RuntimeError(f"socd setup exited with {status}; see {log_path}")


async def bare_bulk(url: str, prefix: str, requests: list[bytes], docs: int,
                    concurrency: int, server_pids: list[int]) -> BulkRun:
    """Send ``requests`` (``docs`` documents in all) with ``concurrency`` in flight; check
    every item succeeded and every document is searchable; delete the indices."""
    client = AsyncElasticsearch(url, serializer=OrjsonSerializer(), request_timeout=300)
    try:
        queue = list(reversed(requests))
        times: list[float] = []
        failed: list[str] = []

        async def sender() -> None:
            while queue:
                body = queue.pop()
                sent = time.perf_counter()
                response = await client.bulk(
                    operations=body, filter_path=BULK_FILTER)  # type: ignore[arg-type]
                times.append(time.perf_counter() - sent)
                if response.body.get("errors"):
                    failed.extend(str(item) for item in response.body["items"]
                                  if next(iter(item.values()))["status"] >= 300)

        srv0, cpu0 = servers_cpu(server_pids), time.thread_time()
        busy0 = machine_busy_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu1, srv1 = time.thread_time(), servers_cpu(server_pids)
        busy1 = machine_busy_seconds()
        if failed:
            raise RuntimeError(f"bare bulk: {len(failed)} items failed, first {failed[0]}")
        await client.indices.refresh(index=f"{prefix}-alerts*")
        count = int((await client.count(index=f"{prefix}-alerts*"))["count"])
        if count != docs:
            raise RuntimeError(f"bare bulk: {count} documents searchable, {docs} sent")
        # The local server slows down with the data it holds: leave the next phase the
        # same state.
        await delete_indices(client, prefix)
    finally:
        await client.close()
    return BulkRun(
        concurrency=concurrency, requests=len(requests), docs=docs, bulk_s=elapsed,
        docs_per_s=docs / elapsed, mean_request_s=statistics.fmean(times),
        cpu_s=cpu1 - cpu0,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - ((srv1 or 0.0) - (srv0 or 0.0)))


async def delete_indices(client: AsyncElasticsearch, prefix: str) -> None:
    names = list((await client.indices.get(index=f"{prefix}-alerts*")).body)
    if names:
        await client.indices.delete(index=",".join(names))


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
    steady_docs: int
    """documents made durable in the steady window (``socd_threats_total``)"""
    docs_per_s: float
    bulk_requests: int | None
    """batches delivered to Elasticsearch (``socd_bulk_duration_seconds_count``)"""
    mean_request_docs: float | None
    mean_request_s: float | None
    cpu_s: float
    cpu_per_event_us: float
    """CPU of the window less what serving the benchmark's scrapes of /metrics cost"""
    gross_cpu_per_event_us: float
    """CPU of the window, scrapes included"""
    scrapes: int
    """scrapes of /metrics in the window"""
    scrape_cpu_ms: float
    """socd's CPU for one scrape, measured after the window (idle, 50 scrapes)"""
    server_cpu_s: float | None
    server_cpu_each_s: list[float]
    """per local server process, in LocalServers order (noida-db, then tansu if used)"""
    bench_cpu_s: float
    """CPU this process spent polling during the steady window"""
    searchable: int
    exit_status: int
    others_cpu_s: float = 0.0
    profile: str | None = None
    shared: int = 0
    """Sightings socd published (``socd_shared_total``) by the end of the window."""
    indexed: int = 0
    """Bulk items Elasticsearch acknowledged (``socd_indexed_documents_total``) by then."""
    whole_run: bool = False
    """Too few events for a steady window: the figures are from spawn to the end."""


SCRAPED = ("socd_events_total", "socd_threats_total", "socd_indexed_documents_total",
           "socd_bulk_duration_seconds_count", "socd_bulk_duration_seconds_sum",
           "socd_shared_total")


def scrape_text(text: str) -> dict[str, float]:
    """The :data:`SCRAPED` series, each summed over its labels (absent ones left out)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name = line.partition("{")[0].partition(" ")[0]
        if name in SCRAPED:
            found[name] = found.get(name, 0.0) + float(line.rpartition(" ")[2])
    return found


def socd_command() -> list[str]:
    """socd from this checkout (see :func:`socd_env`), not whichever one the environment's
    ``socd`` script was installed from."""
    return [sys.executable, "-m", "socd"]


def socd_env() -> dict[str, str]:
    """The environment socd runs in: this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


@contextlib.contextmanager
def spawned(argv: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=socd_env())
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def run_socd(config_path: Path, log_path: Path, endpoints: Endpoints, prefix: str,
                   metrics_port: int, data: Dataset, server_pids: list[int],
                   profile_to: Path | None, *, keep: bool = False, short_ok: bool = False
                   ) -> SocdResult:
    """One socd phase (see the module's docstring). ``keep``: leave its indices for the
    caller to read and delete; ``short_ok``: a run too short for a steady window (a smoke
    test) is measured from spawn to the end instead of failing."""
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
            events0 = events = threats = threats0 = 0.0
            scraped: dict[str, float] = {}
            scrapes = 0
            while True:
                alive()
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with http.get(url) as response:
                        scraped = scrape_text(await response.text())
                    now = time.perf_counter()
                    scrapes += 1
                    events = scraped.get("socd_events_total", 0.0)
                    threats = scraped.get("socd_threats_total", 0.0)
                    if not t0 and events > 0:
                        t0, events0, threats0 = now, events, threats
                        scrapes = 0
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
                near_edge = not t0 or threats >= 0.9 * data.threats
                await asyncio.sleep(METRICS_EDGE_POLL_S if near_edge else METRICS_POLL_S)
            first_doc = await first_doc_task
            scrape_cpu_s = await scrape_cost(http, url, process.pid)
            process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(process.wait, 30)
        if spy is not None:
            await asyncio.to_thread(spy.wait, 30)
        await es.indices.refresh(index=index)
        searchable = int((await es.count(index=index))["count"])
        if not keep:
            await delete_indices(es, prefix)  # the next round finds the server empty
    finally:
        if first_doc_task is not None and not first_doc_task.done():
            first_doc_task.cancel()
        if spy is not None and spy.poll() is None:
            spy.kill()
        await http.close()
        await es.close()
    steady_events = int(events - events0)
    whole = short_ok and (steady_events <= 0 or t1 <= t0)
    if whole:  # CPU too: from spawn, start-up included
        t0, events0, threats0, steady_events, cpu0 = spawn, 0.0, 0.0, int(events), 0.0
    if steady_events <= 0 or t1 <= t0:
        raise RuntimeError("socd finished within one scrape: too few events to measure; "
                           "give more --events")
    requests = scraped.get("socd_bulk_duration_seconds_count")
    indexed = scraped.get("socd_indexed_documents_total")
    request_s = scraped.get("socd_bulk_duration_seconds_sum")
    return SocdResult(
        events=int(events), threats=int(threats),
        start_to_ready_s=log_event_delay(log_path, "started", spawn_wall),
        start_to_first_doc_s=first_doc, start_to_first_events_s=t0 - spawn,
        steady_s=t1 - t0, steady_events=steady_events, events_per_s=steady_events / (t1 - t0),
        steady_docs=int(threats - threats0), docs_per_s=(threats - threats0) / (t1 - t0),
        bulk_requests=None if requests is None else int(requests),
        mean_request_docs=indexed / requests if requests and indexed is not None else None,
        mean_request_s=request_s / requests if requests and request_s is not None else None,
        cpu_s=cpu1 - cpu0,
        cpu_per_event_us=(cpu1 - cpu0 - scrapes * scrape_cpu_s) / steady_events * 1e6,
        gross_cpu_per_event_us=(cpu1 - cpu0) / steady_events * 1e6,
        scrapes=scrapes, scrape_cpu_ms=scrape_cpu_s * 1e3,
        server_cpu_s=None if srv0 is None or srv1 is None else srv1 - srv0,
        server_cpu_each_s=[b - a for a, b in zip(each0, each1, strict=True)],
        bench_cpu_s=bench1 - bench0, searchable=searchable, exit_status=status,
        others_cpu_s=busy1 - busy0 - (cpu1 - cpu0) - (bench1 - bench0)
        - ((srv1 or 0.0) - (srv0 or 0.0)),
        profile=str(profile_to) if profile_to else None,
        shared=int(scraped.get("socd_shared_total", 0.0)), indexed=int(indexed or 0),
        whole_run=whole)


async def scrape_cost(http: aiohttp.ClientSession, url: str, pid: int) -> float:
    """socd's CPU seconds for one scrape of /metrics: SCRAPE_COST_SAMPLES scrapes in a row
    while it is idle. A Prometheus server scrapes every 15–60 s; the benchmark's own
    scrapes, many a second, are its measuring cost and are taken off socd's CPU."""
    before = proc_cpu_seconds(pid)
    for _ in range(SCRAPE_COST_SAMPLES):
        async with http.get(url) as response:
            await response.read()
    return max(0.0, proc_cpu_seconds(pid) - before) / SCRAPE_COST_SAMPLES


def log_event_delay(log_path: Path, event: str, since: float) -> float | None:
    """Seconds from ``since`` (Unix time) to the first JSON log line of ``event``."""
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (isinstance(entry, dict) and entry.get("event.action") == event
                and "@timestamp" in entry):
            moment = datetime.fromisoformat(str(entry["@timestamp"]).replace("Z", "+00:00"))
            return moment.timestamp() - since
    return None


# --------------------------------------------------------------------------- profiling


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy record (raw collapsed stacks) on socd until it exits.

    ``--gil``: only the thread holding the GIL is sampled, so the samples are socd's Python
    CPU time and the idle waits of the event loop and the metrics thread drop out.
    """
    beside = Path(sys.executable).parent / "py-spy"
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil",
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


def figures(data: Dataset, consumer: ConsumerResult, bulk: BulkResult, socd: SocdResult
            ) -> dict[str, Any]:
    """The ratios of one round. The ceiling is the lower of the bare bulk's best docs/s and
    the bare consumer's events/s turned into docs/s (× the data set's threat share)."""
    consumer_docs = consumer.events_per_s * data.threats / data.events
    ceiling = min(bulk.best.docs_per_s, consumer_docs)
    throughput = socd.docs_per_s / ceiling
    cpu = socd.cpu_per_event_us / consumer.cpu_per_event_us
    under_load = any(p.under_load for p in consumer.loaded)
    return {
        "ceiling_docs_per_s": ceiling,
        "ceiling": (f"bare bulk, {bulk.best.concurrency} in flight"
                    if bulk.best.docs_per_s <= consumer_docs else "bare consumer"),
        "throughput_ratio": throughput,
        "throughput_ok": throughput >= MIN_THROUGHPUT_RATIO,
        "cpu_ratio": cpu,
        "cpu_ok": cpu <= MAX_CPU_RATIO,
        "cpu_ratio_against": "bare consumer under load" if under_load
        else "bare consumer, quiet machine",
        "cpu_ratio_quiet": socd.cpu_per_event_us / consumer.idle_cpu_per_event_us,
        "start_to_first_doc_s": socd.start_to_first_doc_s,
        "start_ok": socd.start_to_first_doc_s <= MAX_FIRST_DOC_S,
    }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_round(data: Dataset, consumer: ConsumerResult, bulk: BulkResult, socd: SocdResult,
                result: dict[str, Any], profile: dict[str, list[tuple[str, float]]] | None
                ) -> None:
    head = (f"{'':<22}{'events/s':>10}{'docs/s':>10}{'window s':>10}"
            f"{'CPU µs/event':>14}{'servers CPU s':>15}")
    print(head)
    print("-" * len(head))
    share = data.threats / data.events
    consumers = [(f"bare consumer {n}", run) for n, run in enumerate(consumer.passes, 1)]
    consumers += [(f"… under load {n}{'' if run.under_load else ' (not)'}", run)
                  for n, run in enumerate(consumer.loaded, 1)]
    for name, run in consumers:
        print(f"{name:<22}{_num(run.events_per_s):>10}"
              f"{_num(run.events_per_s * share):>10}{_num(run.steady_s, 2):>10}"
              f"{_num(run.cpu_per_event_us, 1):>14}{_num(run.server_cpu_s, 1):>15}")
    for bulk_run in bulk.runs:
        print(f"{f'bare bulk, {bulk_run.concurrency} in flight':<22}"
              f"{_num(bulk_run.docs_per_s / share):>10}{_num(bulk_run.docs_per_s):>10}"
              f"{_num(bulk_run.bulk_s, 2):>10}"
              f"{_num(bulk_run.cpu_s / data.events * 1e6, 1):>14}"
              f"{_num(bulk_run.server_cpu_s, 1):>15}")
    print(f"{'socd':<22}{_num(socd.events_per_s):>10}{_num(socd.docs_per_s):>10}"
          f"{_num(socd.steady_s, 2):>10}{_num(socd.cpu_per_event_us, 1):>14}"
          f"{_num(socd.server_cpu_s, 1):>15}")
    print(f"(socd CPU less {socd.scrapes} scrapes of /metrics at {socd.scrape_cpu_ms:.1f} ms "
          f"each; {socd.gross_cpu_per_event_us:.1f} µs/event with them)")
    print("(bulk CPU is this process's client-side CPU; socd CPU is its whole process)")
    print(f"bulk requests: bare {bulk.runs[0].requests} of {bulk.request_docs} documents "
          f"({bulk.mean_request_bytes / 1e6:.1f} MB), "
          + ", ".join(f"{run.mean_request_s:.2f} s each with {run.concurrency} in flight"
                      for run in bulk.runs)
          + f"; socd {_num(socd.bulk_requests)} of {_num(socd.mean_request_docs)} documents "
          f"on average, {_num(socd.mean_request_s, 2)} s each")
    windows = [(f"bare consumer {n}", run.others_cpu_s, run.steady_s)
               for n, run in enumerate(consumer.passes, 1)]
    windows += [(f"bare bulk {run.concurrency}", run.others_cpu_s, run.bulk_s)
                for run in bulk.runs]
    windows.append(("socd", socd.others_cpu_s, socd.steady_s))
    for name, others, window in windows:
        if others / window > OTHERS_WARNING_CORES:
            print(f"WARNING: {others / window:.2f} cores busy outside the measured processes "
                  f"during the {name} phase (other processes, kernel work); the figures may "
                  f"be disturbed")
    ready = _num(socd.start_to_ready_s, 2)
    print(f"socd: ready after {ready} s, first events counted after "
          f"{socd.start_to_first_events_s:.2f} s, first document searchable after "
          f"{socd.start_to_first_doc_s:.2f} s; exit status after SIGTERM {socd.exit_status}; "
          f"{socd.searchable:,} documents searchable")
    print(f"socd docs/s ÷ ceiling ({result['ceiling']}, {result['ceiling_docs_per_s']:,.0f}/s)"
          f" = {result['throughput_ratio']:.2f}   figure ≥ {MIN_THROUGHPUT_RATIO:.2f}: "
          f"{_mark(result['throughput_ok'])}")
    print(f"socd CPU per event ÷ bare consumer CPU per message = {result['cpu_ratio']:.1f}×"
          f" ({result['cpu_ratio_against']}; {result['cpu_ratio_quiet']:.1f}× against the "
          f"quiet machine's)   figure ≤ {MAX_CPU_RATIO:.0f}×: {_mark(result['cpu_ok'])}")
    print(f"start → first document = {result['start_to_first_doc_s']:.2f} s"
          f"   figure ≤ {MAX_FIRST_DOC_S:.0f} s: {_mark(result['start_ok'])}")
    if profile:
        print(f"\nprofile of socd over the steady window ({socd.profile}):")
        print("  own samples (file:line):")
        for frame, percent in profile["own"]:
            print(f"    {percent:5.1f}%  {frame}")
        print("  inclusive samples (function):")
        for frame, percent in profile["inclusive"]:
            print(f"    {percent:5.1f}%  {frame}")


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each ratio over the rounds, and whether it meets its figure."""
    throughput = statistics.median(r["throughput_ratio"] for r in results)
    cpu = statistics.median(r["cpu_ratio"] for r in results)
    quiet = statistics.median(r["cpu_ratio_quiet"] for r in results)
    start = statistics.median(r["start_to_first_doc_s"] for r in results)
    return {
        "rounds": len(results),
        "throughput_ratio": throughput, "throughput_ok": throughput >= MIN_THROUGHPUT_RATIO,
        "cpu_ratio": cpu, "cpu_ok": cpu <= MAX_CPU_RATIO, "cpu_ratio_quiet": quiet,
        "start_to_first_doc_s": start, "start_ok": start <= MAX_FIRST_DOC_S,
    }


# --------------------------------------------------------------------------- main


@dataclass
class Round:
    consumer: ConsumerResult
    bulk: BulkResult
    socd: SocdResult
    figures: dict[str, Any]
    profile: dict[str, list[tuple[str, float]]] | None = None
    sharing: SocdResult | None = None
    """socd again with layer-4 sharing on (``--sharing``)."""


async def one_round(number: int, args: argparse.Namespace, endpoints: Endpoints,
                    server_pids: list[int], workdir: Path, data: Dataset, config: Config,
                    names: dict[str, str], requests: list[bytes], stamp: str) -> Round:
    """Bare consumer, bare bulk at each concurrency, socd: one after the other."""
    run_id, topic = names["run_id"], names["topic"]
    await servers_quiet(server_pids)
    consumer = await bare_consumer(endpoints.kafka, topic, data.events,
                                   config.kafka.max_batch, server_pids)
    print(f"bare consumer: {consumer.events_per_s:,.0f} events/s, "
          f"{consumer.cpu_per_event_us:.1f} µs/event", flush=True)
    runs = []
    for concurrency in sorted({1, config.elasticsearch.max_in_flight}):
        await servers_quiet(server_pids)
        busy = threading.Event()
        loaded = None
        if concurrency == 1:  # the bare consumer again, with the server busy beside it
            busy.set()
            loaded = asyncio.create_task(asyncio.to_thread(
                consumer_under_load, endpoints.kafka, topic, data.events,
                config.kafka.max_batch, server_pids, busy))
        try:
            runs.append(await bare_bulk(endpoints.elasticsearch, names["bare_prefix"],
                                        requests, data.threats, concurrency, server_pids))
        finally:
            busy.clear()
            if loaded is not None:
                consumer.loaded = await loaded
        print(f"bare bulk, {concurrency} in flight: {runs[-1].docs_per_s:,.0f} docs/s",
              flush=True)
    bulk = BulkResult(config.elasticsearch.bulk_max_docs,
                      statistics.fmean(len(r) for r in requests), runs)
    config_path = workdir / f"socd-{number}.yaml"
    metrics_port = free_port()
    config_path.write_text(socd_config_text(
        endpoints, topic, f"bench-socd-{run_id}-{number}", names["socd_prefix"],
        names["dead_topic"], metrics_port, [Path(p).resolve() for p in args.rules]))
    profile_path = RESULTS / f"e2e-{stamp}-{number}-socd.pyspy.txt" if args.profile else None
    if profile_path is not None:
        RESULTS.mkdir(parents=True, exist_ok=True)
    await servers_quiet(server_pids)
    socd = await run_socd(config_path, workdir / f"socd-{number}.log", endpoints,
                          names["socd_prefix"], metrics_port, data, server_pids, profile_path)
    print(f"socd: {socd.docs_per_s:,.0f} docs/s ({socd.events_per_s:,.0f} events/s)",
          flush=True)
    profile = summarise_profile(profile_path) if profile_path and profile_path.exists() \
        else None
    shared = None
    if args.sharing:
        config_path = workdir / f"socd-{number}-sharing.yaml"
        metrics_port = free_port()
        config_path.write_text(socd_config_text(
            endpoints, topic, f"bench-socd-{run_id}-{number}-sharing", names["socd_prefix"],
            names["dead_topic"], metrics_port, [Path(p).resolve() for p in args.rules],
            sharing=True))
        await servers_quiet(server_pids)
        shared = await run_socd(config_path, workdir / f"socd-{number}-sharing.log",
                                endpoints, names["socd_prefix"], metrics_port, data,
                                server_pids, None)
        print(f"socd with sharing: {shared.docs_per_s:,.0f} docs/s "
              f"({shared.events_per_s:,.0f} events/s, ÷ without: "
              f"{shared.docs_per_s / socd.docs_per_s:.2f})", flush=True)
    return Round(consumer, bulk, socd, figures(data, consumer, bulk, socd), profile, shared)


async def bench(args: argparse.Namespace, endpoints: Endpoints, server_pids: list[int],
                workdir: Path) -> int:
    run_id = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    names = {"run_id": run_id, "topic": f"bench.cyradar.{run_id}",
             "dead_topic": f"bench.dead-letter.{run_id}",
             "socd_prefix": f"bench-socd-{run_id}", "bare_prefix": f"bench-bare-{run_id}"}
    rules = [Path(p).resolve() for p in args.rules]
    config_path = workdir / "socd.yaml"
    config_path.write_text(socd_config_text(endpoints, names["topic"], f"bench-socd-{run_id}",
                                            names["socd_prefix"], names["dead_topic"],
                                            free_port(), rules))
    config = load_config(config_path)  # with any SOCD_* overrides from the environment
    bare_config = workdir / "bare.yaml"
    bare_config.write_text(socd_config_text(endpoints, names["topic"], f"bench-bare-{run_id}",
                                            names["bare_prefix"], names["dead_topic"],
                                            free_port(), rules))

    es = config.elasticsearch
    print(f"servers: kafka {endpoints.kafka}, elasticsearch {endpoints.elasticsearch}; "
          f"socd kafka.max_batch {config.kafka.max_batch}, elasticsearch.bulk_max_docs "
          f"{es.bulk_max_docs}, max_in_flight {es.max_in_flight}", flush=True)
    began = time.perf_counter()
    data = build_dataset(config, args.threat_share, events=args.events, threats=args.threats)
    print(f"data set: {data.events:,} events, {data.threats:,} threats "
          f"({data.generated:,} generated) in {time.perf_counter() - began:.1f} s", flush=True)
    requests = bare_requests(data, names["socd_prefix"], names["bare_prefix"],
                             es.bulk_max_docs)
    await install_template(bare_config, workdir / "setup.log")
    await create_topics(endpoints.kafka, names["topic"], names["dead_topic"],
                        *([f"{names['dead_topic']}.national"] if args.sharing else []))
    produce_s = await produce(endpoints.kafka, names["topic"], data.messages)
    print(f"produced to {names['topic']} in {produce_s:.1f} s", flush=True)

    rounds: list[Round] = []
    problems: list[str] = []
    for number in range(1, args.rounds + 1):
        print(f"\nround {number} of {args.rounds} (load average {_load()})", flush=True)
        one = await one_round(number, args, endpoints, server_pids, workdir, data, config,
                              names, requests, stamp)
        rounds.append(one)
        socd = one.socd
        if socd.exit_status != 0:
            problems.append(f"round {number}: socd exited with {socd.exit_status} after "
                            "SIGTERM")
        if socd.events != data.events or socd.threats != data.threats:
            problems.append(f"round {number}: socd counted {socd.events} events and "
                            f"{socd.threats} threats, expected {data.events} and "
                            f"{data.threats}")
        if socd.searchable != data.threats:
            problems.append(f"round {number}: {socd.searchable} documents searchable, "
                            f"expected {data.threats}")

    share = 100 * data.threats / data.events
    print(f"\ndata: {data.events:,} events ({data.threats:,} threats, {share:.1f}%: "
          f"{dict(data.classes)}), seed {SEED}, threat share {args.threat_share}; "
          f"produced in {produce_s:.1f} s ({data.events / produce_s:,.0f}/s); socd's "
          f"pipeline alone (normalise, classify, encode; offline): "
          f"{data.pipeline_cpu_s / data.generated * 1e6:.1f} µs/event")
    for number, one in enumerate(rounds, 1):
        print(f"\n— round {number} —")
        print_round(data, one.consumer, one.bulk, one.socd, one.figures, one.profile)
        if one.sharing is not None:
            shared_threats = one.sharing.shared
            extra_us = (one.sharing.cpu_per_event_us - one.socd.cpu_per_event_us) \
                * data.events / max(shared_threats, 1)
            print(f"with sharing ({shared_threats:,} sightings): "
                  f"{one.sharing.docs_per_s:,.0f} docs/s, "
                  f"{one.sharing.docs_per_s / one.socd.docs_per_s:.2f} of socd without; CPU "
                  f"{one.sharing.cpu_per_event_us:.1f} µs/event against "
                  f"{one.socd.cpu_per_event_us:.1f}: {extra_us:,.0f} µs per shared threat")
    overall = summary([one.figures for one in rounds])
    if len(rounds) > 1:
        print(f"\nmedian of {len(rounds)} rounds: socd docs/s ÷ ceiling = "
              f"{overall['throughput_ratio']:.2f} ({_mark(overall['throughput_ok'])}), "
              f"CPU per event ÷ bare consumer = {overall['cpu_ratio']:.1f}× "
              f"({_mark(overall['cpu_ok'])}; {overall['cpu_ratio_quiet']:.1f}× against the "
              f"quiet machine's), start → first document "
              f"{overall['start_to_first_doc_s']:.2f} s ({_mark(overall['start_ok'])})")
    print(f"load average at the end: {_load()}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"e2e-{stamp}.json"
    out.write_text(json.dumps({
        "timestamp": stamp,
        "command": " ".join(sys.argv),
        "checkout": {"path": str(ROOT), "commit": _git_head()},
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
        "socd_config": {"max_batch": config.kafka.max_batch,
                        "bulk_max_docs": es.bulk_max_docs,
                        "max_in_flight": es.max_in_flight},
        "rounds": [{"bare_consumer": [asdict(p) for p in one.consumer.passes],
                    "bare_consumer_under_load": [asdict(p) for p in one.consumer.loaded],
                    "bare_bulk": [asdict(r) for r in one.bulk.runs],
                    "socd": asdict(one.socd), "figures": one.figures,
                    "profile": one.profile,
                    "socd_sharing": asdict(one.sharing) if one.sharing else None}
                   for one in rounds],
        "summary": overall,
        "problems": problems,
    }, indent=2))
    print(f"\nresults: {out}")
    if problems:
        for number in range(1, len(rounds) + 1):
            kept = RESULTS / f"e2e-{stamp}-socd-{number}.log"
            kept.write_bytes((workdir / f"socd-{number}.log").read_bytes())
            print(f"socd's log: {kept}", file=sys.stderr)
        return 1
    if args.strict and not (overall["throughput_ok"] and overall["cpu_ok"]
                            and overall["start_ok"]):
        return 2
    return 0


def _git_head() -> str | None:
    """The commit of the checkout socd ran from ("+" when it had changes), if git knows."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "socd"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split(
        "\n\n")[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--threats", type=int,
                      help="threats in the data set, i.e. documents indexed (with mix, the "
                           "events up to the Nth threat)")
    size.add_argument("--events", type=int,
                      help="events in the data set (default 50,000 with --threat-share mix, "
                           "25,000 with all, to stay near 3 minutes a round on the local "
                           "servers)")
    parser.add_argument("--threat-share", choices=("mix", "all"), default="mix",
                        help="mix: the generator's own mix; all: only events the rules "
                             "classify as threats, so every event is indexed")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of the three phases on the same data; the median ratio "
                             "is reported (default 1)")
    parser.add_argument("--kafka", help="HOST:PORT of an existing broker "
                        "(with --elasticsearch; default: start local servers)")
    parser.add_argument("--elasticsearch", help="URL of an existing Elasticsearch")
    parser.add_argument("--rules", nargs="+", default=[str(ROOT / "rules")],
                        help="socd's rule paths (default: the shipped rules/)")
    parser.add_argument("--profile", action="store_true",
                        help="sample socd with py-spy over the steady window and list the "
                             "hot spots (slows socd down; figures are then indicative)")
    parser.add_argument("--sharing", action="store_true",
                        help="each round, run socd a second time with layer-4 sharing on "
                             "(every critical threat, and the APT rule's, published as a STIX "
                             "sighting) and print its throughput and CPU beside the first")
    parser.add_argument("--strict", action="store_true",
                        help="exit 2 when a figure (median over the rounds) is missed")
    parser.add_argument("--keep", type=Path,
                        help="work directory to keep (config, socd's log, local servers' data)")
    args = parser.parse_args(argv)
    if bool(args.kafka) != bool(args.elasticsearch):
        parser.error("give --kafka and --elasticsearch together, or neither")
    if args.events is None and args.threats is None:
        args.events = 50_000 if args.threat_share == "mix" else 25_000
    if (args.events or args.threats or 0) < 1 or args.rounds < 1:
        parser.error("--events, --threats and --rounds must be positive")
    return args


def work_directory(stack: contextlib.ExitStack, keep: Path | None, prefix: str) -> Path:
    """``keep`` (made if missing, left afterwards), or a temporary directory that ``stack``
    removes."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        return keep
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))


Bench = Callable[[argparse.Namespace, Endpoints, list[int], Path], Coroutine[Any, Any, int]]
"""A benchmark's body: its arguments, the servers, their pids (none when given), a folder."""


def run_bench(args: argparse.Namespace, prefix: str, body: Bench) -> int:
    """Run ``body`` against ``--kafka``/``--elasticsearch``, or local servers started in a
    work folder (``--keep``, or a temporary one named ``prefix…``); its exit status."""
    with contextlib.ExitStack() as stack:
        workdir = work_directory(stack, args.keep, prefix)
        if args.kafka:
            endpoints, pids = Endpoints(args.kafka, args.elasticsearch), []
        else:
            servers = LocalServers(workdir / "servers")
            endpoints = stack.enter_context(servers)
            pids = servers.pids
        return asyncio.run(body(args, endpoints, pids, workdir))
    return 1  # not reached


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv), "socd-e2e-", bench)


if __name__ == "__main__":
    sys.exit(main())
