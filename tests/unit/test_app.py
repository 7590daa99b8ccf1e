"""The daemon's metrics wiring without servers: the threat series every input can produce
exist at 0 before anything is consumed, and again after a reload that adds a layer; the
events of a fetch are counted and stamp their input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from socd import app
from socd.app import Daemon
from socd.config import Config
from socd.delivery import Delivery, Limits
from socd.errors import SocdError
from socd.event import DeadLetter, IndexAction, Record
from socd.pipeline import Batch
from socd.sinks.elasticsearch import Rejected
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics

RULE = {"title": "critical", "id": "7c0d1e2f-0000-4000-8000-000000000001", "level": "critical",
        "logsource": {"product": "cyradar"},
        "detection": {"selection": {"event.severity|gte": 9}, "condition": "selection"}}


def config(rules: Path) -> Config:
    return Config.model_validate({
        "inputs": [{"topic": "sensors.ndr", "connector": "cyradar", "layer": 2, "sensor": "ndr"},
                   {"topic": "sensors.audit", "connector": "cyradar", "layer": 3,
                    "sensor": "audit", "name": "audits"}],
        "rules": {"paths": [str(rules)], "watch": False},
    })


def threat_series(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    return {(s.labels["class"], s.labels["layer"], s.labels["sensor"]): s.value
            for family in metrics.registry.collect() for s in family.samples
            if s.name == "socd_threats_total"}


def write(path: Path, **changes: object) -> None:
    path.write_text(yaml.safe_dump({**RULE, **changes}, sort_keys=False))


def test_threat_series_exist_at_start_up_for_every_reachable_layer(tmp_path: Path) -> None:
    """Each input's own layer and a rule's socd.layer, both classes, at 0, before any
    message: rate() and increase() then see the first threat."""
    write(tmp_path / "r.yml", socd={"layer": 1})
    metrics = Metrics()
    Daemon(config(tmp_path), metrics)._prepare()
    assert threat_series(metrics) == {
        (c, layer, sensor): 0 for c in ("critical", "high-risk")
        for layer, sensor in (("2", "ndr"), ("1", "ndr"), ("3", "audit"), ("1", "audit"))}


async def test_a_reload_that_adds_an_override_creates_its_series(tmp_path: Path) -> None:
    """Rules without an override give each input its own layer; a reload adding
    ``socd: {layer: 4}`` creates the layer-4 series of both inputs, keeping the others."""
    write(tmp_path / "r.yml")
    metrics = Metrics()
    daemon = Daemon(config(tmp_path), metrics)
    daemon._prepare()
    assert {k[1:] for k in threat_series(metrics)} == {("2", "ndr"), ("3", "audit")}
    write(tmp_path / "r.yml", socd={"layer": 4})
    await daemon._reload()
    assert {k[1:] for k in threat_series(metrics)} == {
        ("2", "ndr"), ("3", "audit"), ("4", "ndr"), ("4", "audit")}
    assert set(threat_series(metrics).values()) == {0}


class _OneFetch:
    """A source that hands out one fetch, then asks the daemon to stop; and a sink that
    takes everything."""

    def __init__(self, records: list[Record], stopping: asyncio.Event) -> None:
        self.records = records
        self.stopping = stopping

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        records, self.records = self.records, []
        self.stopping.set()
        return records

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        return True

    def pause(self, paused: bool) -> None:
        pass

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        return []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pass


async def _deliver_one_fetch(daemon: Daemon, records: list[Record]) -> None:
    """``records`` fetched, processed by the daemon's pipeline, delivered and committed."""
    fake = _OneFetch(records, daemon._stopping)
    delivery = Delivery(fake, fake, fake, daemon.pipeline, daemon.metrics,
                        Limits.of(daemon.config), daemon._stopping)
    await delivery.run()
    await delivery.drain()


async def test_a_fetch_counts_events_and_stamps_only_its_inputs(tmp_path: Path) -> None:
    """Two messages of one input: its events counted and its last-event time set to the
    time of processing; the input that sent nothing has no last-event time."""
    write(tmp_path / "r.yml")
    metrics = Metrics()
    daemon = Daemon(config(tmp_path), metrics)
    daemon._prepare()
    message = orjson.dumps({"alert_id": "x", "detected_at": "2026-03-01T06:00:00+07:00",
                            "severity": 3, "category": "scan"})
    before = time.time()
    await _deliver_one_fetch(daemon, [Record("sensors.ndr", 0, i, message) for i in range(2)])
    after = time.time()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in metrics.registry.collect() for s in family.samples}
    assert samples[("socd_events_total", (("input", "sensors.ndr"), ("sensor", "ndr")))] == 2
    assert samples[("socd_events_total", (("input", "audits"), ("sensor", "audit")))] == 0
    stamps = {labels: value for (name, labels), value in samples.items()
              if name == "socd_last_event_timestamp_seconds"}
    assert list(stamps) == [(("input", "sensors.ndr"),)]
    assert before <= stamps[(("input", "sensors.ndr"),)] <= after


def _logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("fatal", "level"), [(None, "info"), (SocdError("boom"), "error")])
async def test_stopped_is_logged_at_the_level_of_its_status(
        tmp_path: Path, fatal: SocdError | None, level: str) -> None:
    """``stopped`` ``status=error`` (exit status 1) is an error line, not an info one."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    daemon = Daemon(config(tmp_path), Metrics())
    daemon._fatal = fatal
    if fatal is None:  # nothing in flight: the drain finishes at once
        async def drained() -> None:
            return None
        daemon._drain = drained  # type: ignore[method-assign]
    await daemon._shutdown()
    stopped = [line for line in _logged(stream) if line["event.action"] == "stopped"]
    assert len(stopped) == 1 and stopped[0]["log.level"] == level
    assert stopped[0]["socd"]["status"] == ("ok" if fatal is None else "error")


async def test_a_drain_that_cannot_finish_is_an_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Elasticsearch down at SIGTERM: ``drain_timeout`` and ``stopped`` are errors, and the
    daemon's status is the failure one (exit 1)."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    monkeypatch.setattr(app, "DRAIN_TIMEOUT_S", 0.01)
    daemon = Daemon(config(tmp_path), Metrics())
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    daemon._drain = stuck  # type: ignore[method-assign]
    await daemon._shutdown()
    by_event = {line["event.action"]: line for line in _logged(stream)}
    assert by_event["drain_timeout"]["log.level"] == "error"
    assert by_event["stopped"]["log.level"] == "error"
    assert by_event["stopped"]["socd"]["status"] == "error"
    assert daemon._fatal is not None


# ------------------------------------------------------- shutdown within systemd's limits


class _Hangs:
    """A sink or source whose stop never returns (a broker or cluster that does not answer)."""

    def __init__(self) -> None:
        self.stopped_with: list[dict[str, object]] = []

    async def stop(self, **kwargs: object) -> None:
        self.stopped_with.append(kwargs)
        await asyncio.Event().wait()


class _Quick:
    def __init__(self) -> None:
        self.stops = 0

    async def stop(self, **kwargs: object) -> None:
        self.stops += 1


class _MetricsServer:
    def __init__(self, release: threading.Event | None = None) -> None:
        self.release = release
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        if self.release is not None:
            self.release.wait()


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named by NOTIFY_SOCKET."""
    with tempfile.TemporaryDirectory() as directory:  # short: AF_UNIX paths are ≤ 107 bytes
        path = os.path.join(directory, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.setblocking(False)
            monkeypatch.setenv("NOTIFY_SOCKET", path)
            yield sock


def _received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


STOPPING = "STOPPING=1\nSTATUS=stopping: finishing the batches in flight"


def _fast_phases(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STOP_FETCH_S", "DRAIN_TIMEOUT_S", "BACKGROUND_STOP_S", "CONSUMER_STOP_S",
                 "DEAD_LETTER_STOP_S", "SHARING_STOP_S", "ELASTICSEARCH_STOP_S",
                 "METRICS_STOP_S"):
        monkeypatch.setattr(app, name, 0.01)


def test_the_budget_adds_up_to_its_phases() -> None:
    """The worst case is the sum of every bounded wait, each counted once, in order."""
    assert [phase for phase, _ in app.SHUTDOWN_BUDGET] == [
        "stop_fetching", "drain", "background", "consumer", "dead_letter_producer",
        "sharing_producer", "elasticsearch", "metrics"]
    assert app.SHUTDOWN_WORST_CASE_S == sum(s for _, s in app.SHUTDOWN_BUDGET) == 53
    assert dict(app.SHUTDOWN_BUDGET)["drain"] == app.DRAIN_TIMEOUT_S


@pytest.mark.parametrize("state", ["READY=1", "STOPPING=1", "EXTEND_TIMEOUT_USEC=30000000"])
def test_sd_notify_sends_one_datagram(notify_socket: socket.socket, state: str) -> None:
    app._sd_notify(state)
    assert _received(notify_socket) == [state]


def test_sd_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    app._sd_notify("READY=1")  # nothing to connect to, nothing raised


async def test_shutdown_tells_systemd_each_phase(tmp_path: Path,
                                                 notify_socket: socket.socket) -> None:
    """SIGTERM: STOPPING=1 once, then before each phase EXTEND_TIMEOUT_USEC with that
    phase's bound in microseconds; everything stopped, exit status ok."""
    write(tmp_path / "r.yml")
    daemon = Daemon(config(tmp_path), Metrics())
    source, dead, es, server = _Quick(), _Quick(), _Quick(), _MetricsServer()
    sharing = _Quick()
    daemon._source, daemon._dead, daemon._es = source, dead, es  # type: ignore[assignment]
    daemon._sharing = sharing  # type: ignore[assignment]
    daemon._metrics_server = server  # type: ignore[assignment]

    async def drained() -> None:
        return None

    daemon._drain = drained  # type: ignore[method-assign]
    daemon.request_stop("SIGTERM")
    daemon.request_stop("SIGTERM")  # a second signal: no second STOPPING=1
    await daemon._shutdown()
    budget = dict(app.SHUTDOWN_BUDGET)
    assert _received(notify_socket) == [STOPPING] + [
        f"EXTEND_TIMEOUT_USEC={int(budget[phase] * 1_000_000)}"
        for phase in ("drain", "consumer", "dead_letter_producer", "sharing_producer",
                      "elasticsearch", "metrics")]  # nothing in the background: no wait
    assert (source.stops, dead.stops, sharing.stops, es.stops, server.closed) == (1,) * 5
    assert daemon._fatal is None


async def test_every_shutdown_wait_is_cut_at_its_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify_socket: socket.socket) -> None:
    """Everything hangs (drain, a delivery deaf to cancellation, the consumer, the producer,
    the client, the /metrics thread): each phase is cut at its (here shortened) bound and
    logged, every later phase still runs, and the status is the failure one (exit 1)."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    _fast_phases(monkeypatch)
    daemon = Daemon(config(tmp_path), Metrics())
    source, dead, es = _Hangs(), _Hangs(), _Hangs()
    release = threading.Event()
    server = _MetricsServer(release)
    daemon._source, daemon._dead, daemon._es = source, dead, es  # type: ignore[assignment]
    daemon._metrics_server = server  # type: ignore[assignment]

    async def stuck() -> None:
        await asyncio.Event().wait()

    over = asyncio.Event()

    async def deaf() -> None:  # a delivery that ignores its cancellation (until the test ends)
        while not over.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await over.wait()

    class _DeafLetters:
        async def send(self, letters: Sequence[DeadLetter]) -> None:
            await deaf()

    daemon._prepare()
    daemon._drain = stuck  # type: ignore[method-assign]
    daemon._delivery = Delivery(
        source, _DeafLetters(), _DeafLetters(), daemon.pipeline,  # type: ignore[arg-type]
        daemon.metrics, Limits(), daemon._stopping)
    letter = DeadLetter(Record("sensors.ndr", 0, 0, b"x"), "not_json", "x", "cyradar")
    daemon._delivery.launch(Batch(dead=[letter], offsets={("sensors.ndr", 0): 1}))
    try:
        async with asyncio.timeout(30):  # a wait left unbounded fails here, not by hanging
            await daemon._shutdown()
    finally:
        release.set()
        over.set()
    logged = _logged(stream)
    cut = [line["socd"]["phase"] for line in logged
           if line["event.action"] == "shutdown_phase_timeout"]
    assert cut == ["background", "consumer", "dead_letter_producer", "elasticsearch", "metrics"]
    assert [line["event.action"] for line in logged].count("drain_timeout") == 1
    assert source.stopped_with == [{"timeout_s": app.CONSUMER_STOP_S}]
    assert len(dead.stopped_with) == len(es.stopped_with) == server.closed == 1
    assert daemon._fatal is not None
    assert [m for m in _received(notify_socket) if m.startswith("EXTEND")] == [
        "EXTEND_TIMEOUT_USEC=10000"] * 6


async def test_a_fetch_loop_that_does_not_stop_is_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify_socket: socket.socket) -> None:
    """After SIGTERM the fetch loop has STOP_FETCH_S to hand over its last batch; one stuck
    (a commit the broker does not answer) is cancelled and logged, and shutdown goes on."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    _fast_phases(monkeypatch)
    daemon = Daemon(config(tmp_path), Metrics())
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    daemon._consume = stuck  # type: ignore[method-assign]
    asyncio.get_running_loop().call_soon(daemon.request_stop, "SIGTERM")
    async with asyncio.timeout(30):
        await daemon._consume_until_stopped()
        await asyncio.wait(daemon._background)
    assert cancelled.is_set()
    assert "fetch_loop_cancelled" in [line["event.action"] for line in _logged(stream)]
    assert _received(notify_socket) == [STOPPING, "EXTEND_TIMEOUT_USEC=10000"]


async def test_a_fetch_loop_failure_is_raised(tmp_path: Path) -> None:
    """A fatal error in the fetch loop (the dead-letter topic refusing writes) reaches run(),
    which turns it into exit status 1."""
    write(tmp_path / "r.yml")
    daemon = Daemon(config(tmp_path), Metrics())

    async def fails() -> None:
        raise SocdError("dead-letter topic refused")

    daemon._consume = fails  # type: ignore[method-assign]
    with pytest.raises(SocdError, match="refused"):
        await daemon._consume_until_stopped()


async def test_work_in_a_daemon_thread_returns_or_raises() -> None:
    assert await app._in_daemon_thread(lambda: 42) == 42
    with pytest.raises(SocdError, match="no rules"):
        await app._in_daemon_thread(lambda: (_ for _ in ()).throw(SocdError("no rules")))
