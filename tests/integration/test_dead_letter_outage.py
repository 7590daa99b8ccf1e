"""When the dead-letter topic refuses a message socd stops rather than drop it: exit 1, a
``fatal`` log line with the reason, the message's offset not committed; the next run, with
a dead-letter topic that takes it, reads the message again and dead-letters it."""

from __future__ import annotations

import signal
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import TopicMaker
from tests.integration.helpers import (
    committed_total,
    daemon,
    produce,
    read_topic,
    wait_committed,
    wait_for_count,
    write_config,
)

pytestmark = pytest.mark.integration

# Kafka refuses this name (a space and '!'), so every send to it fails: the broker answers
# the producer's metadata request for it with an invalid-topic error until it gives up. It
# stands for a dead-letter topic the broker refuses at run time (deleted, denied); socd's own
# check refuses the name at start-up, so the launcher below sets it past that check.
REFUSED_TOPIC = "socd dead letters!"

LAUNCH = f"""
import asyncio, sys
from socd.app import Daemon
from socd.config import DeadLetterConfig, load_config
from socd.telemetry.logging import configure
config = load_config(sys.argv[1])
refused = DeadLetterConfig.model_construct(topic={REFUSED_TOPIC!r})
config = config.model_copy(update={{"dead_letter": refused}})
configure(config.logging.level, config.logging.format)
sys.exit(asyncio.run(Daemon(config).run()))
"""


def refused_dead_letter_daemon(config: Path, log_path: Path) -> AbstractContextManager[
        subprocess.Popen[bytes]]:
    """socd run with a dead-letter topic Kafka refuses (see REFUSED_TOPIC)."""
    return daemon(config, log_path, launcher=("-c", LAUNCH))


def threat(i: int) -> bytes:
    return orjson.dumps({"alert_id": f"o-{i}", "detected_at": "2026-02-03T10:00:00+07:00",
                         "severity": 9, "category": "apt_c2"})


def log_lines(path: Path) -> list[dict[str, object]]:
    lines = []
    for raw in path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a line of a library that does not log through socd
        if isinstance(line, dict):
            lines.append(line)
    return lines


async def test_refused_dead_letter_stops_socd_and_the_message_is_read_again(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, create_topics: TopicMaker,
        tmp_path: Path) -> None:
    """A bad message while the dead-letter topic refuses writes: socd logs ``fatal`` naming
    the dead-letter topic and exits 1; the committed offset stays just before the message
    (the threats before it are indexed and committed). Started again with a dead-letter
    topic that takes it, socd dead-letters the same message (reason, source offset) and
    commits past it; SIGTERM exits 0."""
    input_topic, dead_topic = f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"
    await create_topics(input_topic, partitions=1)
    await create_topics(dead_topic)
    group = f"socd-test-{unique}"
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port)

    first_log = tmp_path / "first.log"
    with refused_dead_letter_daemon(config, first_log) as process:
        await produce(servers.kafka, input_topic, [threat(0), threat(1)])
        assert await wait_committed(servers.kafka, group, input_topic, 2, process) == 2
        await produce(servers.kafka, input_topic, [b"this is not JSON"])  # offset 2
        # The producer gives up on the refused topic after its request timeout (60 s).
        assert process.wait(timeout=180) == 1
    assert await committed_total(servers.kafka, group, input_topic) == 2
    assert await wait_for_count(es, f"t{unique}-alerts*", 2, None) == 2
    fatal = [line for line in log_lines(first_log) if line.get("event.action") == "fatal"]
    assert len(fatal) == 1, first_log.read_text()
    assert fatal[0]["error.type"] == "DeadLetterUnavailable"
    assert REFUSED_TOPIC in str(fatal[0]["error.message"])
    assert not [line for line in log_lines(first_log)
                if line.get("event.action") == "dead_letter"]

    with daemon(config, tmp_path / "second.log") as process:
        dead = await read_topic(servers.kafka, dead_topic, 1, timeout=60)
        assert await wait_committed(servers.kafka, group, input_topic, 3, process) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert dead[0].value == b"this is not JSON"
    assert (headers["socd.reason"], headers["socd.topic"], headers["socd.partition"],
            headers["socd.offset"]) == ("not_json", input_topic, "0", "2")
    assert await committed_total(servers.kafka, group, input_topic) == 3
    assert await wait_for_count(es, f"t{unique}-alerts*", 2, None) == 2
