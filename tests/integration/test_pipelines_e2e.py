"""An input of Windows event logs (as Winlogbeat ships them) fitted with pipelines: socd run
against real servers classifies them with rules written in SigmaHQ's terms."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import TopicMaker
from tests.integration.helpers import (
    assert_all_committed,
    daemon,
    produce,
    wait_for_count,
    wait_for_metrics,
)

pytestmark = pytest.mark.integration

SYSMON = "Microsoft-Windows-Sysmon/Operational"
RULE_ID = "7a4c3f0e-5b1d-4c2a-9e8f-0a1b2c3d4e5f"
RULE = f"""
title: Suspicious encoded PowerShell command line
id: {RULE_ID}
logsource: {{product: windows, category: process_creation}}
detection:
  selection:
    Image|endswith: '\\powershell.exe'
    CommandLine|contains: ' -enc '
  condition: selection
level: critical
"""


def winlogbeat(n: int, event_id: str, image: str, command_line: str) -> dict[str, Any]:
    return {
        "@timestamp": "2026-11-22T03:15:00.000Z",
        "event": {"code": event_id, "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "dc01"},
        "winlog": {"channel": SYSMON, "event_id": event_id, "record_id": n,
                   "event_data": {"Image": image, "CommandLine": command_line}},
    }


async def test_winlogbeat_input_fitted_with_windows_and_winlogbeat_pipelines(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, create_topics: TopicMaker,
        tmp_path: Path) -> None:
    """A process-creation rule meets the input through its pipelines: the Sysmon event 1
    that matches is indexed as critical, the same command line in another event id and an
    event 1 of another image are not threats; every offset is committed."""
    topic, dead = f"winlogbeat.{unique}", f"socd.dead-letter.{unique}"
    await create_topics(topic, dead)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/encoded.yml").write_text(RULE)
    ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    events = [winlogbeat(1, "1", ps, "powershell.exe -nop -enc SQBFAFgA"),
              winlogbeat(2, "3", ps, "powershell.exe -nop -enc SQBFAFgA"),
              winlogbeat(3, "1", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c -enc x")]
    await produce(servers.kafka, topic, [orjson.dumps(e) for e in events])
    port = free_port()
    config = tmp_path / "socd.yaml"
    config.write_text(f"""
kafka: {{bootstrap_servers: "{servers.kafka}", group_id: socd-test-{unique},
        session_timeout_ms: 6000}}
inputs:
  - topic: {topic}
    connector: ecs
    layer: 1
    sensor: dc01
    logsource: {{product: windows}}
    pipelines: [windows, winlogbeat]
rules: {{paths: [rules], watch: false}}
elasticsearch: {{hosts: ["{servers.elasticsearch}"], index_prefix: t{unique}}}
metrics: {{listen: "127.0.0.1:{port}"}}
dead_letter: {{topic: {dead}}}
""")
    index = f"t{unique}-alerts*"
    with daemon(config, tmp_path / "socd.log") as process:
        assert await wait_for_count(es, index, 1, process) == 1
        metrics = await wait_for_metrics(port, process, threats=1, events=3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, (tmp_path / "socd.log").read_text()[-3000:]
    assert sum(v for k, v in metrics.items() if k.startswith("socd_events_total")) == 3
    assert metrics['socd_threats_total{class="critical",layer="1",sensor="dc01"}'] == 1
    await es.indices.refresh(index=index)
    hits = (await es.search(index=index, size=10))["hits"]["hits"]
    assert len(hits) == 1
    source = hits[0]["_source"]
    assert source["socd"]["rule"]["id"] == RULE_ID
    assert source["winlog"]["record_id"] == 1
    await assert_all_committed(servers.kafka, f"socd-test-{unique}", topic, 3)
