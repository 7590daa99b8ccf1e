"""The shipped rules in a real Prometheus, with the shipped Alertmanager routes: a burst of
critical threats reaches the ticket webhook as CriticalThreat naming its layer, fed by socd's
metrics endpoint alone (socd.telemetry.metrics) and by a real `socd run` consuming from
Kafka. Prometheus and Alertmanager come from scripts/test-tools.sh; the tests skip, saying
why, where they cannot be installed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from socd.devservers import Endpoints, free_port
from socd.telemetry.metrics import Metrics, MetricsServer
from tests.integration.helpers import daemon, produce, wait_for_metrics, wait_ready, write_config
from tests.integration.prometheus import (
    Notification,
    Webhook,
    alertmanager,
    prometheus,
    query,
    wait_until,
    webhook,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics() -> Iterator[tuple[Metrics, MetricsServer]]:
    m = Metrics()
    m.declare_input("sensors.ndr", "ndr", [2])
    server = m.serve("127.0.0.1:0")
    try:
        yield m, server
    finally:
        server.close()


def test_critical_burst_reaches_the_ticket_webhook(
        tmp_path: Path, metrics: tuple[Metrics, MetricsServer]) -> None:
    """Scrape and evaluation every second: once Prometheus has seen the threat counters at
    0, 25 critical threats on layer 2 arrive at the soc-tickets receiver as one firing
    CriticalThreat for layer 2 and sensor ndr, within 20 s; nothing pages."""
    m, server = metrics
    hook: Webhook
    with webhook() as hook, \
            alertmanager(tmp_path / "am", hook.url) as am_url, \
            prometheus(tmp_path / "prom", [f"127.0.0.1:{server.port}"], am_url) as prom_url:
        wait_until(lambda: bool(query(prom_url, 'socd_threats_total{class="critical"} == 0')),
                   30, "Prometheus scraping socd's threat counters at 0")
        burst = time.monotonic()
        m.threats.labels(**{"class": "critical", "layer": "2", "sensor": "ndr"}).inc(25)

        def critical_on_layer_2(n: Notification) -> bool:
            return n.receiver == "soc-tickets" and any(
                a["status"] == "firing" and a["labels"]["layer"] == "2"
                for a in n.alerts("CriticalThreat"))

        notification = hook.wait_for(critical_on_layer_2, timeout=20)
        print(f"burst to CriticalThreat notification: {notification.at - burst:.1f} s")
        [alert] = notification.alerts("CriticalThreat")
        assert alert["labels"] == {"alertname": "CriticalThreat", "layer": "2",
                                   "sensor": "ndr", "severity": "ticket"}
        assert "layer 2" in alert["annotations"]["description"]
        assert alert["annotations"]["runbook_url"].endswith("docs/runbook.md#CriticalThreat")
    assert [n for n in hook.notifications if n.receiver == "on-call-pager"] == []


def cyradar(i: int, category: str) -> bytes:
    return orjson.dumps({"alert_id": f"burst-{i}", "detected_at": "2026-06-15T08:12:44+07:00",
                         "severity": 9, "category": category, "threat_name": f"{category} {i}",
                         "src": {"ip": "10.20.1.15"}, "dst": {"ip": "185.244.25.1"}})


def firing_critical(layer: str) -> Any:
    def match(n: Notification) -> bool:
        return n.receiver == "soc-tickets" and any(
            a["status"] == "firing" and a["labels"]["layer"] == layer
            for a in n.alerts("CriticalThreat"))
    return match


async def test_socd_run_critical_burst_through_kafka_reaches_the_webhook(
        servers: Endpoints, unique: str, topics: tuple[str, str], tmp_path: Path) -> None:
    """A real `socd run` scraped as job socd (1 s scrape and evaluation, shipped rules and
    routes): once Prometheus has seen the critical counters at 0, a burst through Kafka of
    20 critical threats on the input's layer 2 and 5 that a rule moves to layer 1 reaches
    soc-tickets as one firing CriticalThreat per layer, naming it. Layer 1 is seen only
    because socd created its series at start-up (increase() ignores a series' first
    sample). Meanwhile Prometheus has socd's consumer lag and last-event time, SensorSilent
    and ConsumerLagGrowing are neither pending nor firing, and nothing pages."""
    input_topic, _ = topics
    port = free_port()
    config = write_config(tmp_path / "socd.yaml", servers, unique, port, watch_rules=False)
    burst_messages = ([cyradar(i, "apt_c2") for i in range(20)]
                      + [cyradar(100 + i, "defacement") for i in range(5)])
    hook: Webhook
    with webhook() as hook, \
            alertmanager(tmp_path / "am", hook.url) as am_url, \
            daemon(config, tmp_path / "socd.log") as process, \
            prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"], am_url) as prom_url:
        await wait_ready(port, process)
        wait_until(lambda: {r["metric"]["layer"] for r in query(
            prom_url, 'socd_threats_total{class="critical",sensor="cyradar-ndr"} == 0')}
            == {"1", "2"}, 30, "Prometheus scraping socd's critical counters at 0 on layers 1, 2")
        burst = time.monotonic()
        await produce(servers.kafka, input_topic, burst_messages)
        arrived = {layer: hook.wait_for(firing_critical(layer), timeout=60)
                   for layer in ("2", "1")}
        for layer, notification in arrived.items():
            print(f"socd run: burst to CriticalThreat (layer {layer}) notification: "
                  f"{notification.at - burst:.1f} s")
            [alert] = notification.alerts("CriticalThreat")
            assert alert["labels"] == {"alertname": "CriticalThreat", "layer": layer,
                                       "sensor": "cyradar-ndr", "severity": "ticket"}
            assert f"layer {layer}" in alert["annotations"]["description"]
            assert f"layer {layer}" in alert["annotations"]["summary"]
        counted = await wait_for_metrics(port, process, threats=25, events=25)
        assert counted['socd_threats_total{class="critical",layer="1",sensor="cyradar-ndr"}'] == 5

        # what SensorSilent and ConsumerLagGrowing read is there, and neither alert stirs
        wait_until(lambda: bool(query(prom_url, "socd:consumer_lag:sum == 0")), 30,
                   "Prometheus recording socd's consumer lag, back to 0")
        wait_until(lambda: bool(query(
            prom_url, f'input:socd_last_event_timestamp_seconds:max{{input="{input_topic}"}}'
            " > time() - 60")), 30, "Prometheus recording the input's last-event time")
        assert query(prom_url, 'ALERTS{alertname=~"SensorSilent|ConsumerLagGrowing"}') == []
        assert query(prom_url, 'up{job="socd"} == 1')
    assert [n.body for n in hook.notifications if n.receiver == "on-call-pager"] == []
    assert not [n for n in hook.notifications
                if n.alerts("SensorSilent") or n.alerts("ConsumerLagGrowing")]
