"""socd's side of systemd's service notification protocol (sd_notify(3)).

The protocol: systemd binds an ``AF_UNIX`` datagram socket and names it in ``$NOTIFY_SOCKET``
(a path, or ``@name`` for the abstract namespace); the service sends it datagrams of
newline-separated ``NAME=value`` assignments. socd sends:

=========================  ==============================================================
``READY=1``                start-up done: the rules loaded, Elasticsearch and Kafka answered
``STATUS=…``               one line for ``systemctl status``: events/s, threats, lag, paused
``WATCHDOG=1``             every half of ``$WATCHDOG_USEC`` (sd_watchdog_enabled(3)), from
                           the event loop, while the pipeline makes progress
``RELOADING=1``            a rule reload begins, with ``MONOTONIC_USEC=`` (systemd ≥ 253
                           requires it for ``Type=notify-reload``, older ones ignore it);
                           ``READY=1`` again when it ends, kept or rejected
``STOPPING=1``             shutdown begins
``EXTEND_TIMEOUT_USEC=``   a start-up or shutdown phase may take that long (systemd ≥ 236)
=========================  ==============================================================

No library is used: ``sdnotify`` (last release 2017) swallows every error and connects once
at construction; ``systemd-python`` needs libsystemd's headers and a compiler (no wheels);
``cysystemd`` is a compiled wrapper of libsystemd for what is one ``sendto``; ``sd-notify``
has had one release (2020). The protocol is small and fixed, so it is written here and
tested against a real datagram socket.

Text is sent as UTF-8 (Vietnamese sensor names arrive intact). A value never carries a
newline or NUL (they would start another assignment or make systemd drop the datagram):
both become spaces. A datagram is at most :data:`MAX_DATAGRAM` bytes (systemd reads that
much); a longer ``STATUS`` is cut at a character boundary. Outside systemd (no
``$NOTIFY_SOCKET``) every call is a no-op; a socket that cannot be reached is logged once
(``systemd_notify_failed``) and never raised: telemetry must not stop the daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

from prometheus_client import Counter, Gauge

from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics

log = get_logger("socd.systemd")

MAX_DATAGRAM = 4096
"""The longest notification systemd reads (its buffer is ``PIPE_BUF``, 4096 bytes)."""
STATUS_INTERVAL_S = 5.0
"""How often ``STATUS=`` is sent while running."""

_failed: set[str] = set()
"""Addresses whose failure has been logged (once each)."""


def _clean(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ").replace("\0", " ")


def encode(*assignments: tuple[str, str]) -> bytes:
    """``(name, value)`` pairs as one datagram: ``NAME=value`` lines in UTF-8, newlines and
    NULs in values turned into spaces, a long ``STATUS`` cut (at a character boundary) so
    that the datagram fits :data:`MAX_DATAGRAM`. Raises ValueError for a bad name."""
    lines: list[bytes] = []
    status: bytes | None = None
    for name, value in assignments:
        if not name or not name.isascii() or "=" in name or not name.replace("_", "").isalnum():
            raise ValueError(f"not an sd_notify variable name: {name!r}")
        line = f"{name}={_clean(value)}".encode()
        if name == "STATUS":
            status = line
        else:
            lines.append(line)
    if status is not None:
        room = MAX_DATAGRAM - sum(len(line) + 1 for line in lines)
        # Cut at a UTF-8 character boundary: decode what fits, drop a broken last character.
        lines.append(status[:max(room, 0)].decode(errors="ignore").encode())
    return b"\n".join(lines)


def notify(*assignments: tuple[str, str], environ: Mapping[str, str] | None = None) -> bool:
    """Send one datagram to ``$NOTIFY_SOCKET`` (read at each call). True when sent; False
    outside systemd, or when the socket cannot be reached (logged once per address, never
    raised)."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace: a leading NUL byte
        target = "\0" + address[1:]
    elif address.startswith("/"):
        target = address
    else:  # vsock: (systemd ≥ 254, for virtual machines) is not one of socd's places
        _fail_once(address, "not an AF_UNIX socket path (/…) or abstract name (@…)")
        return False
    data = encode(*assignments)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(data, target)
    except OSError as exc:
        _fail_once(address, exc.strerror or str(exc))
        return False
    _failed.discard(address)
    return True


def _fail_once(address: str, reason: str) -> None:
    if address not in _failed:
        _failed.add(address)
        log.warning("systemd_notify_failed", notify_socket=address, error=reason, note=(
            "systemd is not told socd's state (readiness, status, watchdog); said once"))


def ready(status: str | None = None) -> bool:
    """``READY=1`` (start-up or a reload done), with a ``STATUS=`` line if given."""
    return notify(("READY", "1"), *([("STATUS", status)] if status is not None else []))


def reloading(status: str = "reloading the rules") -> bool:
    """``RELOADING=1`` with ``MONOTONIC_USEC=`` (CLOCK_MONOTONIC, µs: sd_notify(3) asks for
    both in one message) and a ``STATUS=``; :func:`ready` must follow."""
    return notify(("RELOADING", "1"),
                  ("MONOTONIC_USEC", str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)),
                  ("STATUS", status))


def stopping(status: str = "stopping: finishing the batches in flight") -> bool:
    """``STOPPING=1``, with a ``STATUS=``."""
    return notify(("STOPPING", "1"), ("STATUS", status))


def extend_timeout(seconds: float) -> bool:
    """``EXTEND_TIMEOUT_USEC=``: the start-up or shutdown phase may take ``seconds`` more."""
    return notify(("EXTEND_TIMEOUT_USEC", str(round(seconds * 1_000_000))))


def status(text: str) -> bool:
    """``STATUS=text``: the line ``systemctl status`` shows."""
    return notify(("STATUS", text))


def watchdog_usec(environ: Mapping[str, str] | None = None, pid: int | None = None) -> int | None:
    """The watchdog timeout systemd expects keep-alive pings within, in µs, as
    sd_watchdog_enabled(3) reads it: ``$WATCHDOG_USEC`` when ``$WATCHDOG_PID`` is unset or
    this process's id (``pid``, default ``os.getpid()``); None when there is no watchdog, or
    it is meant for another process. Raises ValueError naming the variable when a value is
    not a positive integer (sd_watchdog_enabled returns -EINVAL there)."""
    env = os.environ if environ is None else environ
    usec, for_pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if usec is None:
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise ValueError(f"WATCHDOG_USEC={usec!r} is not a positive number of microseconds")
    if for_pid is not None:
        if not for_pid.isdigit() or int(for_pid) == 0:
            raise ValueError(f"WATCHDOG_PID={for_pid!r} is not a process id")
        if int(for_pid) != (os.getpid() if pid is None else pid):
            return None
    return int(usec)


Progress = Callable[[], "str | None"]
"""None while the pipeline makes progress or waits by design; else why not (for the log)."""
Describe = Callable[[], str]
"""The ``STATUS=`` line of the moment."""


class Supervisor:
    """Runs on the event loop (:meth:`run`, a task the daemon owns): ``STATUS=`` every
    ``status_every_s`` and, when ``watchdog_s`` is set, ``WATCHDOG=1`` every half of it while
    ``progress()`` says nothing is wrong.

    The pings come from this task, so a blocked event loop sends none, and neither does a
    pipeline that ``progress()`` finds stuck: systemd then kills socd ``watchdog_s`` after
    the last ping (``WatchdogSec=``, ``Restart=on-failure``). Withholding and resuming are
    logged (``watchdog_withheld``, ``watchdog_resumed``).
    """

    def __init__(self, describe: Describe, progress: Progress, *,
                 watchdog_s: float | None, status_every_s: float = STATUS_INTERVAL_S) -> None:
        self._describe = describe
        self._progress = progress
        self.watchdog_s = watchdog_s
        self.status_every_s = status_every_s
        self._withheld: str | None = None

    @property
    def ping_every_s(self) -> float | None:
        """Half of the watchdog timeout (sd_watchdog_enabled(3) recommends it), or None."""
        return None if self.watchdog_s is None else self.watchdog_s / 2

    async def run(self) -> None:
        """Until cancelled. The first ping and status go at once."""
        clock = asyncio.get_running_loop().time
        next_ping = next_status = clock()
        while True:
            now = clock()
            if self.ping_every_s is not None and now >= next_ping:
                self.ping()
                next_ping = now + self.ping_every_s
            if now >= next_status:
                status(self._describe())
                next_status = now + self.status_every_s
            wake = next_status if self.ping_every_s is None else min(next_ping, next_status)
            await asyncio.sleep(max(wake - clock(), 0.0))

    def ping(self) -> bool:
        """``WATCHDOG=1`` if ``progress()`` allows it; True when sent."""
        stuck = self._progress()
        if stuck is not None:
            if self._withheld is None:
                log.error("watchdog_withheld", reason=stuck, watchdog_seconds=self.watchdog_s,
                          note="systemd restarts socd once the watchdog timeout passes")
            self._withheld = stuck
            return False
        if self._withheld is not None:
            log.warning("watchdog_resumed", was=self._withheld)
            self._withheld = None
        return notify(("WATCHDOG", "1"))


class PipelineStatus:
    """The running ``STATUS=`` line from socd's metrics: events per second since the last
    call, threats by class since start, the consumer lag summed over the owned partitions,
    and whether fetching is paused (Elasticsearch slow or down)::

        running: 812.4 events/s, threats 12 critical 30 high-risk, lag 0, fetching
    """

    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._clock = clock
        self._last = (clock(), _total(metrics.events))

    def __call__(self) -> str:
        now, events = self._clock(), _total(self._metrics.events)
        then, before = self._last
        self._last = (now, events)
        rate = (events - before) / (now - then) if now > then else 0.0
        threats = _by_label(self._metrics.threats, "class")
        lag = round(_total(self._metrics.consumer_lag))
        paused = _total(self._metrics.paused) > 0
        return (f"running: {rate:.1f} events/s, threats "
                f"{round(threats.get('critical', 0))} critical "
                f"{round(threats.get('high-risk', 0))} high-risk, lag {lag}, "
                + ("paused: waiting for Elasticsearch" if paused else "fetching"))


def _samples(metric: Counter | Gauge) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for family in metric.collect() for s in family.samples
            if not s.name.endswith("_created")]


def _total(metric: Counter | Gauge) -> float:
    """The sum of a counter's or gauge's series (0 with none)."""
    return sum(value for _, value in _samples(metric))


def _by_label(metric: Counter | Gauge, label: str) -> dict[str, float]:
    """The sum of the series of each value of ``label``."""
    sums: dict[str, float] = {}
    for labels, value in _samples(metric):
        sums[labels.get(label, "")] = sums.get(labels.get(label, ""), 0.0) + value
    return sums

