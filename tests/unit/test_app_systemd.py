"""What the daemon tells systemd: RELOADING/READY around a rule reload, and the watchdog's
sign of progress (the fetch loop turning, or waiting by design)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from socd import app
from socd.app import Daemon
from socd.delivery import Limits, Partition
from socd.pipeline import Batch
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics
from tests.unit.test_app import config, write
from tests.unit.test_delivery import FakeDocuments, FakeSource, Wired, records, until


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named by NOTIFY_SOCKET."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.setblocking(False)
            monkeypatch.setenv("NOTIFY_SOCKET", path)
            monkeypatch.delenv("WATCHDOG_USEC", raising=False)
            yield sock


def _received(sock: socket.socket) -> list[dict[str, str]]:
    """Each datagram as its assignments."""
    messages = []
    while True:
        try:
            text = sock.recv(4096).decode()
        except BlockingIOError:
            return messages
        messages.append(dict(line.split("=", 1) for line in text.split("\n")))


@pytest.mark.parametrize("broken", [False, True])
async def test_a_reload_is_framed_by_reloading_and_ready(
        tmp_path: Path, notify_socket: socket.socket, broken: bool) -> None:
    """SIGHUP or a changed rule file: RELOADING=1 with MONOTONIC_USEC first, READY=1 with the
    rules in force last, also when the new set is rejected (the running one stays)."""
    write(tmp_path / "r.yml")
    daemon = Daemon(config(tmp_path), Metrics())
    daemon._prepare()
    if broken:
        (tmp_path / "r.yml").write_text("title: [unclosed\n")
    else:
        write(tmp_path / "s.yml", id="7c0d1e2f-0000-4000-8000-000000000002")
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    await daemon._reload()
    messages = _received(notify_socket)
    assert [sorted(m) for m in messages] == [
        ["MONOTONIC_USEC", "RELOADING", "STATUS"], ["READY", "STATUS"]]
    assert int(messages[0]["MONOTONIC_USEC"]) >= before
    assert messages[1] == {"READY": "1", "STATUS": f"running: {1 if broken else 2} rules in force"}


class _CommitHangs(FakeSource):
    """Kafka never answers a commit."""

    def __init__(self, fetches: list[list[object]]) -> None:
        super().__init__(fetches)  # type: ignore[arg-type]
        self.committing = asyncio.Event()

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        self.committing.set()
        await asyncio.Event().wait()
        return True


class _FetchHangs(FakeSource):
    """A fetch held as long as a rebalance takes."""

    def __init__(self) -> None:
        super().__init__()
        self.fetching = asyncio.Event()

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[object]:  # type: ignore[override]
        self.fetching.set()
        await asyncio.Event().wait()
        return []


async def _run(wired: Wired) -> asyncio.Task[None]:
    return asyncio.create_task(wired.delivery.run())


async def _stop(wired: Wired, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait({task})


async def test_waits_on_kafka_and_elasticsearch_are_waits_by_design() -> None:
    """While the fetch loop waits on a fetch (a rebalance may hold it for minutes), on a
    commit (Kafka down: aiokafka retries), on the correlation windows or the deliveries
    (Elasticsearch down: retried, partitions paused), it is not stuck, however long that
    lasts: socd is alive and waiting."""
    fetching = Wired(_FetchHangs())
    task = await _run(fetching)
    assert isinstance(fetching.source, _FetchHangs)
    await fetching.source.fetching.wait()
    assert fetching.delivery.stuck_for(time.monotonic() + 3600) == 0
    await _stop(fetching, task)

    committing = _CommitHangs([records(0, 3)])
    wired = Wired(committing)  # type: ignore[arg-type]
    task = await _run(wired)
    await committing.committing.wait()
    assert wired.delivery.stuck_for(time.monotonic() + 3600) == 0
    await _stop(wired, task)

    settling = Wired(FakeSource([records(0, 3)]))
    held = asyncio.Event()

    async def settle_while_elasticsearch_is_down(batch: Batch) -> None:
        held.set()
        await asyncio.Event().wait()

    settling.delivery._settle = settle_while_elasticsearch_is_down
    task = await _run(settling)
    await held.wait()
    assert settling.delivery.stuck_for(time.monotonic() + 3600) == 0
    await _stop(settling, task)

    stalled = Wired(FakeSource([records(0, 5)]), documents=FakeDocuments(hold=True),
                    limits=Limits(slots=1), stall_s=0.01)
    task = await _run(stalled)
    await stalled.source.was_paused.wait()
    assert stalled.delivery.stuck_for(time.monotonic() + 3600) == 0
    stalled.documents.release_all()
    await _stop(stalled, task)


class _Held:
    """A delivery whose fetch loop has been held ``seconds`` outside any wait by design."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def stuck_for(self, now: float) -> float:
        return self.seconds


@pytest.mark.parametrize(("held", "stopping", "withheld"), [
    (0.0, False, False),
    (app.PROGRESS_TIMEOUT_S, False, False),
    (app.PROGRESS_TIMEOUT_S + 1, False, True),
    (app.PROGRESS_TIMEOUT_S + 1, True, False),  # shutdown: bounded phases, told to systemd
])
def test_the_watchdog_is_withheld_past_the_progress_timeout(
        tmp_path: Path, held: float, stopping: bool, withheld: bool) -> None:
    """A fetch loop held past PROGRESS_TIMEOUT_S stops the pings, with the reason; never
    while socd is stopping."""
    write(tmp_path / "r.yml")
    daemon = Daemon(config(tmp_path), Metrics())
    assert daemon._stuck() is None  # before the start: systemd's start timeout rules
    daemon._delivery = _Held(held)  # type: ignore[assignment]
    if stopping:
        daemon._stopping.set()
    reason = daemon._stuck()
    assert (reason is not None) == withheld
    if reason is not None:
        assert reason.startswith(f"the fetch loop has not turned for {held:.0f} s")


async def test_each_turn_of_the_loop_counts_as_progress() -> None:
    """An idle loop (no records) turns at every fetch: its progress is dated after it ran,
    while a delivery that never ran stays dated at its creation."""
    idle, never = Wired(), Wired()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    task = await _run(idle)
    await until(lambda: idle.source.calls >= 3)
    await _stop(idle, task)
    assert idle.delivery.stuck_for(started) == 0
    assert never.delivery.stuck_for(started) >= 0.05


async def test_supervision_starts_only_under_systemd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without NOTIFY_SOCKET no task; with a malformed WATCHDOG_USEC the STATUS lines still
    go, no ping, and the problem is logged naming the variable."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    write(tmp_path / "r.yml")
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    daemon = Daemon(config(tmp_path), Metrics())
    daemon._supervise()
    assert daemon._supervision is None
    with tempfile.TemporaryDirectory() as directory:
        monkeypatch.setenv("NOTIFY_SOCKET", os.path.join(directory, "absent"))
        monkeypatch.setenv("WATCHDOG_USEC", "thirty seconds")
        daemon._supervise()
        assert daemon._supervision is not None
        daemon._supervision.cancel()
        await asyncio.wait({daemon._supervision})
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event.action"] for line in logged
            if line["event.action"].startswith("watchdog")] == ["watchdog_invalid"]
    assert "WATCHDOG_USEC" in next(line["error.message"] for line in logged
                                   if line["event.action"] == "watchdog_invalid")
