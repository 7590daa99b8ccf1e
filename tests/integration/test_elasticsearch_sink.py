"""The Elasticsearch sink against the real local server, and socd's start-up when the
cluster is unreachable or refuses the credentials."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from socd.config import ElasticsearchConfig
from socd.devservers import Endpoints, free_port
from socd.event import Record
from socd.sinks.elasticsearch import ElasticsearchSink, encode_action
from socd.sinks.templates import alerts_index
from socd.telemetry.metrics import Metrics
from tests.integration.helpers import daemon, wait_for_count, write_config
from tests.unit.sinks.es_fakes import refusing_elasticsearch

pytestmark = pytest.mark.integration


async def test_real_server_takes_good_documents_and_refuses_a_bad_one_with_reason(
        servers: Endpoints, unique: str, es: AsyncElasticsearch) -> None:
    """Through the real sink and server: the health check answers, the template installs
    and is then found; of three documents in the template's index, the one with text in a
    numeric field comes back rejected with Elasticsearch's reason, the others are stored."""
    prefix = f"t{unique}"
    sink = ElasticsearchSink(ElasticsearchConfig(hosts=[servers.elasticsearch],
                                                 index_prefix=prefix), Metrics())
    await sink.start()
    try:
        assert await sink.check_health() in ("green", "yellow")
        assert not await sink.template_installed()
        assert any("index template" in line for line in await sink.setup())
        assert await sink.template_installed()
        index = alerts_index(prefix, "2026-02-03T03:00:00Z")

        def doc(i: int, **extra: Any) -> Any:
            body = {"@timestamp": "2026-02-03T03:00:00Z", "event": {"id": f"e-{i}"}, **extra}
            return encode_action(index, f"id-{i}", body, Record("t", 0, i, b"{}"))

        batch = [doc(1), doc(2, file={"size": "not-a-number"}), doc(3)]
        rejected = await sink.index(batch)
    finally:
        await sink.stop()
    assert [action.doc_id for action, _ in rejected] == ["id-2"]
    reason = rejected[0][1]
    assert reason.startswith("HTTP 400: ") and "file.size" in reason
    assert await wait_for_count(es, f"{prefix}-alerts*", 2, None) == 2


def _log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


async def test_credentials_refused_stop_start_up_naming_the_keys(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path) -> None:
    """A cluster that answers 401 (a real HTTP server on loopback) makes `socd run` stop
    at start-up, at once rather than retrying: exit 2 (a configuration error, which systemd does not
    restart), a fatal line naming
    elasticsearch.api_key and the cluster's reason."""
    with refusing_elasticsearch() as url:
        config = write_config(tmp_path / "socd.yaml", servers, unique, free_port(),
                              elasticsearch=url)
        text = config.read_text().replace(f"index_prefix: t{unique}",
                                          f"index_prefix: t{unique}\n  api_key: wrong-key")
        config.write_text(text)
        with daemon(config, tmp_path / "socd.log") as process:
            status = process.wait(timeout=60)
    assert status == 2
    lines = _log_lines(tmp_path / "socd.log")
    fatal = [line for line in lines if line.get("event.action") == "fatal"]
    assert fatal and fatal[0]["error.type"] == "CredentialsRefused"
    assert "correct elasticsearch.api_key" in fatal[0]["error.message"]
    assert "unable to authenticate user" in fatal[0]["error.message"]
    assert not [line for line in lines
                if line.get("event.action") == "elasticsearch_unavailable"]


async def test_unreachable_at_start_up_is_logged_with_the_hosts_and_retried(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path) -> None:
    """Nothing listens at elasticsearch.hosts: socd logs a warning naming the hosts at each
    attempt and keeps trying; SIGTERM meanwhile ends it with exit 0."""
    url = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port(),
                          elasticsearch=url)
    log = tmp_path / "socd.log"
    with daemon(config, log) as process:
        deadline = time.monotonic() + 60
        waits: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(waits) < 2:
            assert process.poll() is None, "socd exited early"
            await asyncio.sleep(0.2)
            waits = [line for line in _log_lines(log)
                     if line.get("event.action") == "elasticsearch_unavailable"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert len(waits) >= 2
    assert all(line["socd"]["hosts"] == url and line["log.level"] == "warning"
               for line in waits)
    assert [line["socd"]["attempt"] for line in waits[:2]] == [1, 2]
    assert "elasticsearch.hosts" in waits[0]["socd"]["note"]
