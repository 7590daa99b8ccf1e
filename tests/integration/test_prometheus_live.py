"""The shipped rules in a real Prometheus, with the shipped Alertmanager routes, fed by socd's
own metrics endpoint (socd.telemetry.metrics, without the daemon): a burst of critical
threats reaches the ticket webhook as CriticalThreat naming its layer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socd.telemetry.metrics import Metrics, MetricsServer
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
    m.declare_input("sensors.ndr", "ndr", 2)
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
