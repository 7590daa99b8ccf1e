"""Helpers for integration tests that run socd as a user does: a real process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints

RULES = Path(__file__).resolve().parent.parent / "files" / "rules"


def write_config(path: Path, servers: Endpoints, unique: str, metrics_port: int, *,
                 rules: Path = RULES, connector: str = "cyradar",
                 elasticsearch: str | None = None, watch_rules: bool = True,
                 input_extra: str = "") -> Path:
    """A socd configuration for the test's topic and servers; ``input_extra``: more keys of
    the input, as YAML lines indented by four spaces (``"    suppress: {...}"``)."""
    path.write_text(f"""
kafka:
  bootstrap_servers: "{servers.kafka}"
  group_id: socd-test-{unique}
  session_timeout_ms: 6000
inputs:
  - topic: sensors.cyradar.{unique}
    connector: {connector}
    layer: 2
    sensor: cyradar-ndr
    max_clock_skew: {{past: 36500d}}  # the tests' events are dated 2026, whatever today is
{input_extra}
rules:
  paths: ["{rules}"]
  watch: {str(watch_rules).lower()}
elasticsearch:
  hosts: ["{elasticsearch or servers.elasticsearch}"]
  index_prefix: t{unique}
metrics:
  listen: "127.0.0.1:{metrics_port}"
dead_letter:
  topic: socd.dead-letter.{unique}
logging:
  format: json
""")
    return path


@contextmanager
def daemon(config: Path, log_path: Path, *,
           launcher: tuple[str, ...] = ("-m", "socd", "run", "-c")
           ) -> Iterator[subprocess.Popen[bytes]]:
    """``socd run -c CONFIG`` as a process logging to ``log_path`` (``launcher``: the
    interpreter's arguments before the config's path), killed if still running at the end."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, *launcher, str(config)],
                                   stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until socd reports socd_ready 1 (consuming)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "socd exited early"
        with contextlib.suppress(OSError):
            if scrape(port).get("socd_ready") == 1:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("socd did not become ready")


async def scrape_until(port: int, process: subprocess.Popen[bytes] | None,
                       done: Callable[[dict[str, float]], bool], *,
                       timeout: float = 60, interval: float = 0.2
                       ) -> tuple[bool, dict[str, float]]:
    """Scrape every ``interval`` s until ``done`` accepts the samples: (True, them), or (False, the
    last scrape) after ``timeout`` s, a bound for a stuck daemon that a working one never
    reaches. AssertionError as soon as ``process`` has exited."""
    deadline = time.monotonic() + timeout
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "socd exited early"
        try:
            metrics = scrape(port)
        except OSError:
            metrics = {}
        if done(metrics):
            return True, metrics
        await asyncio.sleep(interval)
    return False, metrics


async def wait_for_metrics(port: int, process: subprocess.Popen[bytes], *, threats: int,
                           events: int, timeout: float = 60) -> dict[str, float]:
    """Scrape until the daemon has counted ``events`` events and ``threats`` threats."""
    def counted(metrics: dict[str, float]) -> bool:
        seen_events = sum(v for k, v in metrics.items() if k.startswith("socd_events_total"))
        seen_threats = sum(v for k, v in metrics.items() if k.startswith("socd_threats_total"))
        return seen_events >= events and seen_threats >= threats

    return (await scrape_until(port, process, counted, timeout=timeout))[1]


async def wait_for_count(es: AsyncElasticsearch, index: str, want: int,
                         process: subprocess.Popen[bytes] | None, timeout: float = 60) -> int:
    """Poll until ``index`` holds ``want`` documents; the last count seen."""
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "socd exited early"
        await es.indices.refresh(index=index, allow_no_indices=True)
        count = int((await es.count(index=index, allow_no_indices=True))["count"])
        if count >= want:
            return count
        await asyncio.sleep(0.2)
    return count


async def produce(bootstrap: str, topic: str, messages: list[bytes],
                  partitions: list[int] | None = None) -> None:
    """Each message with key ``i`` (its position), to ``partitions[i]`` when given."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, message, key=str(i).encode(),
                                    partition=partitions[i] if partitions else None)
                for i, message in enumerate(messages)]
        await asyncio.gather(*sent)  # acknowledged (acks=all), in order per partition
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, want: int,
                     timeout: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """The sum of the group's committed offsets over the topic's partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        committed = 0
        for partition in partitions:
            committed += await consumer.committed(TopicPartition(topic, partition)) or 0
    finally:
        await consumer.stop()
    return committed


async def assert_all_committed(bootstrap: str, group: str, topic: str, total: int) -> None:
    # Offsets start at 0 on a fresh topic, so the committed offsets add up to the count.
    assert await committed_total(bootstrap, group, topic) == total


def labelled(metrics: dict[str, float], name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of one metric from :func:`scrape`, by their set of (label, value)."""
    found: dict[frozenset[tuple[str, str]], float] = {}
    for key, value in metrics.items():
        metric, _, labels = key.partition("{")
        if metric == name:
            pairs = (item.split("=", 1) for item in labels.rstrip("}").split(",") if item)
            found[frozenset((k, v.strip('"')) for k, v in pairs)] = value
    return found


async def wait_committed(bootstrap: str, group: str, topic: str, want: int,
                         process: subprocess.Popen[bytes] | None = None,
                         timeout: float = 60) -> int:
    """Poll until the group's committed offsets on ``topic`` add up to ``want``; the last
    sum seen."""
    deadline = time.monotonic() + timeout
    committed = -1
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "socd exited early"
        committed = await committed_total(bootstrap, group, topic)
        if committed >= want:
            return committed
        await asyncio.sleep(0.2)
    return committed


ROOT = Path(__file__).resolve().parents[2]


def socd(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m socd ARGV`` from this checkout, without the caller's ``SOCD_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCD_")}
    return subprocess.run([sys.executable, "-m", "socd", *argv], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)


async def run_socd(*argv: str) -> subprocess.CompletedProcess[str]:
    """:func:`socd` in a thread; a traceback on stderr fails the test."""
    result = await asyncio.to_thread(socd, *argv)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def events_counted(port: int) -> float:
    """``socd_events_total`` summed, of the process whose /metrics is at ``port``; 0 while
    it does not answer (starting, or killed)."""
    try:
        metrics = scrape(port)
    except OSError:
        return 0.0
    return sum(v for k, v in metrics.items() if k.startswith("socd_events_total"))


async def until(condition: Callable[[], bool] | Callable[[], Awaitable[bool]], what: str,
                timeout: float = 60) -> None:
    """Wait for ``condition`` (a function, or a coroutine function) to hold, asked every
    0.2 s; AssertionError naming ``what`` after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.2)):
        found = condition()
        if await found if inspect.isawaitable(found) else found:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")
