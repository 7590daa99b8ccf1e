"""Logs are one JSON object per line, whoever writes them, and repeats are rate-limited."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from socd.telemetry.ecslog import ECS_VERSION
from socd.telemetry.logging import REPEAT_BURST, REPEAT_WINDOW_SECONDS, configure, get_logger


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stream(clock: Clock) -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("info", "json", stream=out, clock=clock)
    yield out
    configure("info", "json")  # back to standard error for the tests that follow


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    logging.getLogger().handlers[0].flush()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_library_lines_are_json_with_their_logger_name(stream: io.StringIO) -> None:
    """A warning of the Elasticsearch client between socd's events is a JSON object with
    the library's logger name, level and message, not a plain-text line."""
    get_logger("socd.app").info("started", inputs=2)
    logging.getLogger("elastic_transport.node_pool").warning(
        "Node %r has failed for %i times in a row, putting on %i second timeout",
        "http://127.0.0.1:9200", 1, 1)
    get_logger("socd.app").info("stopped", status="ok")
    written = lines(stream)
    assert [line["message"] for line in written] == [
        "started",
        "Node 'http://127.0.0.1:9200' has failed for 1 times in a row, putting on 1 second "
        "timeout",
        "stopped"]
    assert written[1]["log.logger"] == "elastic_transport.node_pool"
    assert written[1]["log.level"] == "warning"
    assert written[0]["log.logger"] == "socd.app" and written[0]["socd"] == {"inputs": 2}
    assert all(str(line["@timestamp"]).endswith("Z") for line in written)
    assert [line.get("event.action") for line in written] == ["started", None, "stopped"]


def test_tracebacks_stay_inside_the_json_line(stream: io.StringIO) -> None:
    """An exception, socd's or a library's, is one line with the traceback as text, its
    class and its message in ECS's error fields."""
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        get_logger("socd.app").error("fatal", exc_info=True)
        logging.getLogger("aiokafka.consumer").exception("Unexpected error in fetcher")
    written = lines(stream)
    assert len(written) == 2
    for line in written:
        assert "ZeroDivisionError: division by zero" in str(line["error.stack_trace"])
        assert line["error.type"] == "ZeroDivisionError"
        assert line["error.message"] == "division by zero"
    assert written[1]["log.logger"] == "aiokafka.consumer"


def test_levels_below_the_threshold_are_dropped(stream: io.StringIO) -> None:
    """socd logs from the configured level; libraries from warning (their info is noise)."""
    get_logger("socd.pipeline").debug("per_batch")
    logging.getLogger("aiokafka").info("per-request detail")
    logging.getLogger("aiokafka").warning("kept")
    assert [line["message"] for line in lines(stream)] == ["kept"]


def test_repeats_are_rate_limited_and_counted(stream: io.StringIO, clock: Clock) -> None:
    """During an outage a library repeats one message with other arguments: a burst is
    written, the rest counted and reported once the kind shows up after its window."""
    node_pool = logging.getLogger("elastic_transport.node_pool")
    for attempt in range(50):
        node_pool.warning("Node %s has failed for %d times", "http://es:9200", attempt)
        if attempt < 3:
            get_logger("socd.elasticsearch").info("bulk_retry", attempt=attempt)
    written = lines(stream)
    failures = [line for line in written
                if line["log.logger"] == "elastic_transport.node_pool"]
    assert len(failures) == REPEAT_BURST
    assert len([line for line in written if line.get("event.action") == "bulk_retry"]) == 3
    clock.now = REPEAT_WINDOW_SECONDS + 1
    node_pool.warning("Node %s has failed for %d times", "http://es:9200", 50)
    written = lines(stream)
    summary = [line for line in written if line["message"] == "log_repeats_suppressed"]
    assert summary == [{
        "@timestamp": summary[0]["@timestamp"], "log.level": "warning",
        "message": "log_repeats_suppressed", "ecs.version": ECS_VERSION,
        "log.logger": "socd.telemetry", "service.name": "socd", "event.dataset": "socd.log",
        "event.action": "log_repeats_suppressed",
        "socd": {"suppressed": 50 - REPEAT_BURST,
                 "repeated_logger": "elastic_transport.node_pool", "repeated_level": "warning",
                 "repeated_event": "Node %s has failed for %d times"}}]
    assert written[-1]["message"] == "Node http://es:9200 has failed for 50 times"


def test_repeats_still_pending_are_reported_at_shutdown(stream: io.StringIO) -> None:
    log = get_logger("socd.source")
    for _ in range(REPEAT_BURST + 7):
        log.warning("broker_unreachable", broker="k1:9092")
    configure("info", "json", stream=io.StringIO())  # replaces, and so closes, the handler
    summary = [line for line in [json.loads(text) for text in stream.getvalue().splitlines()]
               if line["message"] == "log_repeats_suppressed"]
    assert [(line["socd"]["suppressed"], line["socd"]["repeated_event"])
            for line in summary] == [
        (7, "broker_unreachable")]


def test_different_events_are_not_limited_together(stream: io.StringIO) -> None:
    log = get_logger("socd.app")
    for index in range(3 * REPEAT_BURST):
        log.info(f"event_{index}")
    assert len(lines(stream)) == 3 * REPEAT_BURST


def test_console_format_has_no_colours_in_a_file() -> None:
    """The demo writes the console format into a log file: no ANSI escapes there."""
    out = io.StringIO()
    configure("info", "console", stream=out)
    try:
        get_logger("socd.app").warning("rules_reload_rejected", file="broken.yml")
        logging.getLogger("aiokafka").warning("plain library line")
    finally:
        configure("info", "json")
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "rules_reload_rejected" in text and "plain library line" in text


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure("loud", "json", stream=io.StringIO())


def test_a_real_process_writes_only_json_lines() -> None:
    """The process as a whole: asyncio's, the libraries' and Python's warnings included
    (pytest intercepts warnings in its own process, so this runs in a child)."""
    program = (
        "import asyncio, logging\n"
        "from socd.telemetry.logging import configure, get_logger\n"
        "configure('info', 'json')\n"
        "get_logger('socd.app').info('started')\n"
        "logging.getLogger('aiokafka.conn').error('Unable to connect to %s', 'k1:9092')\n"
        "async def main():\n"
        "    loop = asyncio.get_running_loop()\n"
        "    loop.call_exception_handler({'message': 'Task exception was never retrieved'})\n"
        "asyncio.run(main())\n"
        "import warnings; warnings.warn('old API', DeprecationWarning, stacklevel=1)\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=60, check=True)
    written = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["log.logger"] for line in written] == [
        "socd.app", "aiokafka.conn", "asyncio", "py.warnings"]
    assert "old API" in written[-1]["message"]


def test_held_back_repeats_are_reported_with_the_next_line_of_any_kind(
        stream: io.StringIO, clock: Clock) -> None:
    """An outage ends and its kind stops: the count comes with the next line socd logs after
    the window (delivery resumed, say), not only at shutdown."""
    node_pool = logging.getLogger("elastic_transport.node_pool")
    for attempt in range(REPEAT_BURST + 3):
        node_pool.warning("Node %s has failed for %d times", "http://es:9200", attempt)
    clock.now = REPEAT_WINDOW_SECONDS + 5
    get_logger("socd.elasticsearch").info("delivery_resumed")
    written = lines(stream)
    assert [line["message"] for line in written[-2:]] == ["log_repeats_suppressed",
                                                          "delivery_resumed"]
    assert written[-2]["socd"]["suppressed"] == 3
