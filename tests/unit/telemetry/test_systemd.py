"""The sd_notify client and the supervision task, against a real AF_UNIX datagram socket
bound by the test (as systemd binds its own) and named by NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.telemetry import systemd
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics
from tests.systemd_listener import Listener, listening

VIETNAMESE = "Mối đe dọa nghiêm trọng: 3; mối nguy hại cao: 7 — cảm biến Sở TT&TT Bình Phước"


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Listener]:
    """A socket at a path, or in the abstract namespace (``@name``), named by NOTIFY_SOCKET."""
    with listening(request.param) as found:
        monkeypatch.setenv("NOTIFY_SOCKET", found.address)
        yield found


async def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Until ``condition()`` holds (checked between the loop's other work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


# ------------------------------------------------------------------ the datagrams


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: systemd.ready(), "READY=1"),
    (lambda: systemd.ready("running"), "READY=1\nSTATUS=running"),
    (lambda: systemd.stopping(), "STOPPING=1\nSTATUS=stopping: finishing the batches in flight"),
    (lambda: systemd.extend_timeout(2.5), "EXTEND_TIMEOUT_USEC=2500000"),
    (lambda: systemd.status(VIETNAMESE), f"STATUS={VIETNAMESE}"),
    (lambda: systemd.notify(("WATCHDOG", "1")), "WATCHDOG=1"),
])
def test_each_notification_arrives_as_one_utf8_datagram(listener: Listener, call: object,
                                                        expected: str) -> None:
    """What systemd reads, byte for byte, at a path and in the abstract namespace;
    Vietnamese text intact (UTF-8)."""
    assert callable(call)
    assert call() is True
    assert listener.settle(1) == [expected]


def test_reloading_carries_the_monotonic_clock(listener: Listener) -> None:
    """RELOADING=1 and MONOTONIC_USEC (CLOCK_MONOTONIC in µs, sd_notify(3)) in one datagram,
    the time taken between the instants before and after the call."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    systemd.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    listener.settle(1)
    [(_, fields)] = listener.named("RELOADING")
    assert fields["RELOADING"] == "1" and fields["STATUS"] == "reloading the rules"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


@pytest.mark.parametrize(("value", "sent"), [
    ("line one\nREADY=1", "line one READY=1"),  # a newline would start another assignment
    ("a\r\nb", "a  b"),
    ("nul\0byte", "nul byte"),  # systemd drops a datagram with a NUL in it
])
def test_a_value_cannot_smuggle_in_another_assignment(value: str, sent: str) -> None:
    assert systemd.encode(("STATUS", value)) == f"STATUS={sent}".encode()


@pytest.mark.parametrize("name", ["", "A=B", "A B", "Ư", "A\nB"])
def test_a_bad_variable_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="sd_notify variable name"):
        systemd.encode((name, "1"))


@settings(deadline=None)  # a loaded machine must not fail it on time
@given(st.text(min_size=0, max_size=3000))
def test_any_status_fits_one_datagram_as_valid_utf8(text: str) -> None:
    """Whatever the text (Vietnamese is 2–3 bytes a letter), the datagram is at most 4096
    bytes, valid UTF-8, READY first, and the STATUS a prefix of the text as cleaned."""
    data = systemd.encode(("READY", "1"), ("STATUS", text))
    assert len(data) <= systemd.MAX_DATAGRAM
    first, status = data.decode("utf-8").split("\n", 1)
    assert first == "READY=1"
    assert status.startswith("STATUS=")
    cleaned = text.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    assert cleaned.startswith(status[len("STATUS="):])


def test_a_long_vietnamese_status_is_cut_at_a_letter() -> None:
    """The example: 4,000 letters of 2 bytes each cannot fit; the datagram is cut before
    the letter that would not fit, never in the middle of its bytes."""
    data = systemd.encode(("STATUS", "ố" * 4000))
    assert len(data) in (systemd.MAX_DATAGRAM, systemd.MAX_DATAGRAM - 1)
    assert data.decode("utf-8") == "STATUS=" + "ố" * ((systemd.MAX_DATAGRAM - 7) // 3)


def test_outside_systemd_nothing_is_sent_nor_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.ready() is False
    assert systemd.notify(("WATCHDOG", "1"), environ={"NOTIFY_SOCKET": ""}) is False


@pytest.mark.parametrize("address", ["/nonexistent/socd/notify", "@socd-nobody-listens",
                                     "vsock:2:1234", "relative/notify"])
def test_an_unreachable_socket_is_logged_once_and_never_raised(
        monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """A missing socket (systemd gone, a stale NOTIFY_SOCKET) or one socd cannot use: False,
    one systemd_notify_failed line naming it, however many notifications follow."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    systemd._failed.discard(address)
    assert [systemd.status("x"), systemd.notify(("WATCHDOG", "1")), systemd.ready()] == [False] * 3
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event.action"], line["socd"]["notify_socket"]) for line in lines] == [
        ("systemd_notify_failed", address)]


# ------------------------------------------------------------------ sd_watchdog_enabled(3)


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30_000_000),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30_000_000),  # ours
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),  # another process's
    ({"WATCHDOG_PID": "4242"}, None),
])
def test_watchdog_usec_reads_the_environment_as_sd_watchdog_enabled(
        environ: dict[str, str], expected: int | None) -> None:
    assert systemd.watchdog_usec(environ, pid=4242) == expected


@pytest.mark.parametrize(("environ", "variable"), [
    ({"WATCHDOG_USEC": "0"}, "WATCHDOG_USEC"),
    ({"WATCHDOG_USEC": "30s"}, "WATCHDOG_USEC"),
    ({"WATCHDOG_USEC": "-5"}, "WATCHDOG_USEC"),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "me"}, "WATCHDOG_PID"),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "0"}, "WATCHDOG_PID"),
])
def test_a_malformed_watchdog_variable_is_named(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        systemd.watchdog_usec(environ, pid=4242)


# ------------------------------------------------------------------ the supervision task


class _Sends:
    """Wraps systemd.notify to record, on the sending thread's clock, when each WATCHDOG=1
    left (the loop thread: nothing can be sent while it is blocked)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pings: list[float] = []
        real = systemd.notify

        def spy(*assignments: tuple[str, str], **kwargs: object) -> bool:
            if ("WATCHDOG", "1") in assignments:
                self.pings.append(time.monotonic())
            return real(*assignments)

        monkeypatch.setattr(systemd, "notify", spy)


async def test_pings_go_every_half_of_the_watchdog_with_status_lines(
        listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """WATCHDOG=1 at once and then never sooner than every half of the timeout; STATUS=
    (Vietnamese intact) at its own pace; every ping sent arrives."""
    sends = _Sends(monkeypatch)
    supervisor = systemd.Supervisor(lambda: VIETNAMESE, lambda: None, watchdog_s=1.0,
                                    status_every_s=0.6)
    assert supervisor.ping_every_s == 0.5
    task = asyncio.create_task(supervisor.run())
    await _until(lambda: len(sends.pings) >= 5)
    task.cancel()
    await asyncio.wait({task})
    # Never more often than every half of the timeout: counted over the whole span (the
    # sends are stamped a few lines after the supervisor reads its clock; a pause there
    # moves one stamp, and the count has one ping of margin for it).
    pings = sends.pings
    assert len(pings) - 1 <= (pings[-1] - pings[0]) / 0.5 + 1
    listener.settle_named("WATCHDOG", len(sends.pings))
    assert len(listener.named("WATCHDOG")) == len(sends.pings)
    statuses = listener.named("STATUS")
    assert statuses and {fields["STATUS"] for _, fields in statuses} == {VIETNAMESE}


async def test_a_blocked_event_loop_sends_no_ping(
        listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback that blocks the loop (time.sleep) longer than the watchdog timeout: no
    ping is sent while it blocks; systemd would kill socd at the last ping + WatchdogSec.
    Pings resume once the loop runs again."""
    watchdog_s, block_s = 0.4, 1.0
    sends = _Sends(monkeypatch)
    supervisor = systemd.Supervisor(lambda: "running", lambda: None, watchdog_s=watchdog_s,
                                    status_every_s=60)
    task = asyncio.create_task(supervisor.run())
    await _until(lambda: len(sends.pings) >= 3)
    blocked: list[float] = []

    def block() -> None:  # the test hook: a callback that never yields
        blocked.append(time.monotonic())
        time.sleep(block_s)
        blocked.append(time.monotonic())

    asyncio.get_running_loop().call_soon(block)
    await asyncio.sleep(0)  # the block runs before this returns
    count_after_block = len(sends.pings)
    await _until(lambda: len(sends.pings) >= count_after_block + 2)
    task.cancel()
    await asyncio.wait({task})
    start, end = blocked
    assert [at for at in sends.pings if start <= at < end] == []
    # What systemd received is exactly what was sent (a datagram sent just before the
    # block may be read by the listening thread during it: arrival times prove nothing).
    listener.settle_named("WATCHDOG", len(sends.pings))
    assert len(listener.named("WATCHDOG")) == len(sends.pings)
    last = max(at for at in sends.pings if at < start)
    reaction = last + watchdog_s - start  # systemd's kill, from the moment the loop blocked
    assert reaction <= watchdog_s
    assert min(at for at in sends.pings if at >= end) >= end  # pinging again after
    print(f"watchdog reaction to a blocked loop: {reaction:.3f} s after blocking, "
          f"WatchdogSec={watchdog_s} s, last ping {start - last:.3f} s before the block")


async def test_a_stuck_pipeline_withholds_the_pings_and_says_so(
        listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """progress() names a problem: no WATCHDOG=1 while it lasts (the loop itself runs),
    watchdog_withheld logged once with the reason; watchdog_resumed when it passes."""
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    stuck: list[str | None] = [None]
    supervisor = systemd.Supervisor(lambda: "running", lambda: stuck[0], watchdog_s=10)
    assert supervisor.ping() is True
    stuck[0] = "the fetch loop has not turned for 91 s"
    assert [supervisor.ping() for _ in range(3)] == [False] * 3
    stuck[0] = None
    assert supervisor.ping() is True
    listener.settle(2)
    assert listener.messages() == ["WATCHDOG=1", "WATCHDOG=1"]
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event.action"], line["socd"].get("reason", line["socd"].get("was")))
            for line in logged] == [
        ("watchdog_withheld", "the fetch loop has not turned for 91 s"),
        ("watchdog_resumed", "the fetch loop has not turned for 91 s")]


async def test_without_a_watchdog_only_status_is_sent(listener: Listener) -> None:
    supervisor = systemd.Supervisor(lambda: "running", lambda: None, watchdog_s=None,
                                    status_every_s=0.05)
    task = asyncio.create_task(supervisor.run())
    await _until(lambda: len(listener.received) >= 3)
    task.cancel()
    await asyncio.wait({task})
    assert listener.named("WATCHDOG") == []
    assert set(listener.messages()) == {"STATUS=running"}


# ------------------------------------------------------------------ the STATUS line


def test_pipeline_status_counts_events_per_second_threats_lag_and_pause() -> None:
    """Events per second over the time since the last line, threats by class since start,
    the lag summed over partitions, and the paused state."""
    metrics = Metrics()
    now = [100.0]
    status = systemd.PipelineStatus(metrics, clock=lambda: now[0])
    metrics.events.labels(input="ndr", sensor="ndr").inc(300)
    metrics.events.labels(input="ids", sensor="ids").inc(100)
    metrics.threats.labels(**{"class": "critical", "layer": "2", "sensor": "ndr"}).inc(3)
    metrics.threats.labels(**{"class": "critical", "layer": "1", "sensor": "ids"}).inc(2)
    metrics.threats.labels(**{"class": "high-risk", "layer": "2", "sensor": "ndr"}).inc(7)
    metrics.report_lag({("sensors.ndr", 0): 40, ("sensors.ndr", 1): 2},
                       {("sensors.ndr", 0), ("sensors.ndr", 1)})
    now[0] = 105.0
    assert status() == ("running: 80.0 events/s, threats 5 critical 7 high-risk, lag 42, "
                        "fetching")
    metrics.paused.set(1)
    now[0] = 110.0
    assert status() == ("running: 0.0 events/s, threats 5 critical 7 high-risk, lag 42, "
                        "paused: waiting for Elasticsearch")
