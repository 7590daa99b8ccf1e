"""``socd run`` under a stand-in for systemd: a real process with NOTIFY_SOCKET and
WATCHDOG_USEC set, real Kafka and Elasticsearch, and the datagrams it sends read from a
real AF_UNIX socket, as systemd reads them."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from socd.devservers import Endpoints, free_port
from tests.integration.helpers import RULES, daemon, produce, write_config
from tests.integration.test_daemon import cyradar
from tests.systemd_listener import Listener, listening

pytestmark = pytest.mark.integration

WATCHDOG_USEC = 2_000_000
"""2 s: WATCHDOG=1 every second."""


def _names(listener: Listener) -> list[list[str]]:
    """The variables of each datagram, in order."""
    return [sorted(line.split("=", 1)[0] for line in text.split("\n"))
            for text in listener.messages()]


def _lifecycle(listener: Listener) -> list[str]:
    """READY, RELOADING and STOPPING datagrams in order (the periodic ones left out)."""
    return [name for names in _names(listener) for name in names
            if name in ("READY", "RELOADING", "STOPPING")]


async def test_socd_run_tells_systemd_its_whole_life(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """READY=1 after start-up; STATUS= with the events and threats counted; WATCHDOG=1 about
    every half of WATCHDOG_USEC; RELOADING=1 (with MONOTONIC_USEC) then READY=1 on SIGHUP and
    on a changed rule file; STOPPING=1 on SIGTERM, then exit 0."""
    input_topic, _ = topics
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port(), rules=rules)
    with listening() as listener:
        monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
        monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        log = tmp_path / "socd.log"
        with daemon(config, log) as process:
            try:
                await listener.until(lambda got: "READY" in _lifecycle(got))
                await produce(servers.kafka, input_topic,
                              [orjson.dumps(cyradar(i, "apt_c2", 9)) for i in range(5)])
                await listener.until(lambda got: any(
                    "threats 5 critical" in fields["STATUS"]
                    for _, fields in got.named("STATUS")))
                await listener.until(lambda got: len(got.named("WATCHDOG")) >= 3)

                process.send_signal(signal.SIGHUP)
                await listener.until(lambda got: _lifecycle(got).count("READY") >= 2)
                (rules / "severity-high.yml").write_text(
                    (rules / "severity-high.yml").read_text() + "\n# edited\n")
                await listener.until(lambda got: _lifecycle(got).count("READY") >= 3)

                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
            except (AssertionError, subprocess.TimeoutExpired):
                raise AssertionError(log.read_text()[-3000:]) from None
        listener.settle_named("STOPPING", 1)

    assert _lifecycle(listener) == ["READY", "RELOADING", "READY", "RELOADING", "READY",
                                    "STOPPING"]
    reloads = listener.named("RELOADING")
    assert all(int(fields["MONOTONIC_USEC"]) > 0 for _, fields in reloads)
    pings = [at for at, _ in listener.named("WATCHDOG")]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    # Never more often than every half of the timeout: counted over the whole span, so
    # that the reading thread's delays only move its two ends (one ping of margin).
    assert len(pings) - 1 <= (pings[-1] - pings[0]) / (WATCHDOG_USEC / 2_000_000) + 1
    statuses = [fields["STATUS"] for _, fields in listener.named("STATUS")]
    assert any(s.startswith("running: ") and "events/s" in s and "lag" in s for s in statuses)
    print(f"watchdog pings: {len(pings)}, gaps {min(gaps):.3f}–{max(gaps):.3f} s "
          f"for WATCHDOG_USEC={WATCHDOG_USEC} µs")


async def test_no_ready_while_elasticsearch_cannot_be_reached(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """READY=1 only once Elasticsearch answers: meanwhile STATUS= says socd waits for it,
    and EXTEND_TIMEOUT_USEC keeps systemd's start timeout from firing; SIGTERM ends the wait
    with STOPPING=1 and exit 0."""
    nobody = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port(),
                          elasticsearch=nobody)
    with listening() as listener:
        monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
        monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
        with daemon(config, tmp_path / "socd.log") as process:
            await listener.until(lambda got: len(got.named("EXTEND_TIMEOUT_USEC")) >= 2)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        listener.settle_named("STOPPING", 1)
    assert "READY" not in _lifecycle(listener)
    assert _lifecycle(listener)[-1:] == ["STOPPING"]
    starting = [fields for _, fields in listener.named("EXTEND_TIMEOUT_USEC")
                if "STATUS" in fields]
    assert all(f["STATUS"].startswith("starting: ") for f in starting)
    waiting = [f for f in starting
               if f["STATUS"].startswith("starting: waiting for Elasticsearch")]
    assert waiting and all(int(f["EXTEND_TIMEOUT_USEC"]) > 30_000_000 for f in starting)
    assert listener.named("WATCHDOG") == []  # the watchdog counts from READY=1


async def test_a_frozen_socd_stops_pinging(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """socd frozen (SIGSTOP: its event loop, like every thread, does nothing) for longer than
    the watchdog timeout: no WATCHDOG=1 arrives meanwhile, so systemd would kill it at the
    last ping + WatchdogSec; thawed (SIGCONT), it pings again and still stops cleanly."""
    watchdog_s = WATCHDOG_USEC / 1_000_000
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())
    with listening() as listener:
        monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
        monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
        with daemon(config, tmp_path / "socd.log") as process:
            await listener.until(lambda got: len(got.named("WATCHDOG")) >= 3)
            process.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            await asyncio.sleep(1.0)  # datagrams sent before the stop are read meanwhile
            before = len(listener.named("WATCHDOG"))
            await asyncio.sleep(watchdog_s * 1.5)
            during = len(listener.named("WATCHDOG")) - before
            process.send_signal(signal.SIGCONT)
            await listener.until(lambda got: len(got.named("WATCHDOG")) > before)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    assert during == 0
    last = max(at for at, _ in listener.named("WATCHDOG") if at < frozen_at + 1.0)
    reaction = last + watchdog_s - frozen_at
    print(f"frozen socd: no ping for {watchdog_s * 1.5:.1f} s; systemd would kill it "
          f"{reaction:.2f} s after it froze (WatchdogSec={watchdog_s} s)")
