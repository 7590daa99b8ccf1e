"""Logging: one JSON object per line for machines (journald, Loki), or a console view.

Every log line socd writes goes through one handler on the standard library's root logger,
formatted by structlog's :class:`~structlog.stdlib.ProcessorFormatter`:

* socd's own loggers (:func:`get_logger`) are structlog loggers over standard-library
  loggers, so their events keep their keys;
* the libraries underneath (``aiokafka``, ``elastic_transport``, ``asyncio``) and Python's
  :mod:`warnings` log through the standard library: their records are rendered by the same
  formatter, so an outage never puts a plain-text line between JSON lines
  (``journalctl -o cat | jq .`` keeps working exactly when it is needed).

A JSON line has ECS keys (:mod:`socd.telemetry.ecslog`): ``@timestamp`` (ISO-8601, UTC),
``log.level``, ``message`` (socd's event name, or a library's message), ``ecs.version``,
``log.logger`` (``socd.app``, ``elastic_transport.node_pool`` …), ``service.name``,
``event.dataset`` (``socd.log``), ``event.action`` (socd's event name, on socd's own lines),
``error.type`` / ``error.message`` / ``error.stack_trace`` for an exception, and the event's
own keys under ``socd``.

Repeats are rate-limited per logger, level and event (for a library: its message before
arguments, so ``"Connection to %s failed"`` is one kind whatever the address): at most
:data:`REPEAT_BURST` lines of a kind in :data:`REPEAT_WINDOW_SECONDS`; the rest are counted
and reported in one ``log_repeats_suppressed`` line (``socd.suppressed``: the count,
``socd.repeated_logger`` and ``socd.repeated_event``: the kind) with the first line of any
kind logged after its window has ended, and for every kind still pending when logging shuts down.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

import structlog

from socd.telemetry.ecslog import ecs_shape

REPEAT_WINDOW_SECONDS = 60.0
"""The length of one rate-limit window, per kind of log line."""

REPEAT_BURST = 5
"""Lines of one kind written in a window; later ones in the window are only counted."""

_KIND_LIMIT = 1_000  # kinds remembered at once; past it the window state starts afresh

_Kind = tuple[str, int, str]


def configure(level: str = "info", fmt: str = "json", *, stream: TextIO | None = None,
              clock: Callable[[], float] = time.monotonic) -> None:
    """Route every logger through one handler on ``stream`` (default: standard error).

    ``level`` is a standard level name (``debug``, ``info``, ``warning``, ``error``) for socd's
    own loggers; the libraries' loggers log from ``warning`` up (their ``info`` is
    per-request noise), or from ``level`` when it is higher. ``fmt`` is ``json`` or
    ``console`` (colours only when ``stream`` is a terminal, so a log file never gets ANSI
    escapes). Safe to call again: the previous handler is replaced and closed.
    Raises ValueError for an unknown level name.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    out = stream if stream is not None else sys.stderr
    rendering: list[structlog.typing.Processor]
    if fmt == "json":  # ECS keys (see socd.telemetry.ecslog), the traceback under "error.*"
        rendering = [ecs_shape, structlog.processors.JSONRenderer()]
    else:  # the console renderer lays the traceback out itself
        rendering = [structlog.dev.ConsoleRenderer(colors=_is_terminal(out))]
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *rendering,
        ],
    )
    handler = RepeatLimitingHandler(out, clock=clock)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))
    logging.getLogger("socd").setLevel(numeric)
    logging.captureWarnings(True)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """socd's logger for one module (``socd.<stage>``); events are names with keys:
    ``log.info("partitions_assigned", topics=[...])``."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


class RepeatLimitingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes at most :data:`REPEAT_BURST` records of one kind
    (logger, level, event) per :data:`REPEAT_WINDOW_SECONDS`, and reports how many it held
    back (see the module's docstring). ``clock`` gives seconds (monotonic)."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic,
                 window: float = REPEAT_WINDOW_SECONDS, burst: int = REPEAT_BURST) -> None:
        super().__init__(stream)
        self._clock = clock
        self._window = window
        self._burst = burst
        # kind → [window start, lines written in it, lines held back in it]
        self._kinds: dict[_Kind, list[float]] = {}
        self._swept = float("-inf")

    def emit(self, record: logging.LogRecord) -> None:
        kind = _kind_of(record)
        now = self._clock()
        if now - self._swept >= 1.0:  # report held-back kinds whose window has ended
            self._swept = now
            for other, held in self._kinds.items():
                if held[2] and now - held[0] >= self._window and other != kind:
                    super().emit(_suppressed_record(other, int(held[2]), record))
                    held[2] = 0
        state = self._kinds.get(kind)
        if state is None or now - state[0] >= self._window:
            if state is not None and state[2]:
                super().emit(_suppressed_record(kind, int(state[2]), record))
            if len(self._kinds) >= _KIND_LIMIT:
                self._flush_suppressed(record)
                self._kinds.clear()
            self._kinds[kind] = [now, 1, 0]
            super().emit(record)
            return
        if state[1] < self._burst:
            state[1] += 1
            super().emit(record)
        else:
            state[2] += 1

    def close(self) -> None:
        self.acquire()
        try:
            self._flush_suppressed(None)
        finally:
            self.release()
        super().close()

    def _flush_suppressed(self, template: logging.LogRecord | None) -> None:
        for kind, state in self._kinds.items():
            if state[2]:
                super().emit(_suppressed_record(kind, int(state[2]), template))
                state[2] = 0


def _kind_of(record: logging.LogRecord) -> _Kind:
    message = record.msg  # socd's own: the event dict structlog hands over
    name = message.get("event", "") if isinstance(message, dict) else message
    return record.name, record.levelno, str(name)


def _suppressed_record(kind: _Kind, count: int,
                       template: logging.LogRecord | None) -> logging.LogRecord:
    logger, level, event = kind
    record = logging.LogRecord("socd.telemetry", logging.WARNING, __file__, 0,
                               "log_repeats_suppressed", None, None)
    record.suppressed = count
    record.repeated_logger = logger
    record.repeated_level = logging.getLevelName(level).lower()
    record.repeated_event = event[:200]
    if template is not None:
        record.created = template.created
    return record


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
