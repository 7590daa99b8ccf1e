"""socd's Prometheus metrics, behind one small class with an injected registry.

Names follow ``socd_<what>_<unit>_total``; every label takes values from a small bounded
set (input names and sensors from the config, classes, layers, reason codes), never from
message content. The contract names (DESIGN.md) are ``socd_events_total{input,sensor}``,
``socd_threats_total{class,layer,sensor}`` and ``socd_dead_letter_total{reason}``.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from socd.errors import DEAD_LETTER_REASONS

THREAT_CLASSES = ("critical", "high-risk")


class Metrics:
    """Every metric socd exports. Tests give their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter("socd_events", "Events consumed from Kafka.",
                              ["input", "sensor"], registry=r)
        self.threats = Counter("socd_threats", "Threats classified and indexed.",
                               ["class", "layer", "sensor"], registry=r)
        self.dead_letters = Counter("socd_dead_letter", "Messages sent to the dead-letter topic.",
                                    ["reason"], registry=r)
        self.indexed = Counter("socd_indexed_documents", "Documents Elasticsearch acknowledged.",
                               registry=r)
        self.bulk_retries = Counter("socd_bulk_retries",
                                    "Bulk requests or items sent again after a retriable error.",
                                    registry=r)
        self.bulk_seconds = Histogram("socd_bulk_duration_seconds",
                                      "Time to make one batch durable in Elasticsearch.",
                                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                      registry=r)
        self.commits = Counter("socd_offset_commits", "Offset commits made to Kafka.", registry=r)
        self.last_commit = Gauge("socd_last_commit_timestamp_seconds",
                                 "Unix time of the last offset commit.", registry=r)
        self.rules_loaded = Gauge("socd_rules_loaded", "Classification rules in force.",
                                  registry=r)
        self.rule_reload_failures = Counter("socd_rule_reload_failures",
                                            "Rule reloads rejected (the old rules were kept).",
                                            registry=r)
        self.ready = Gauge("socd_ready", "1 while socd is consuming, 0 otherwise.", registry=r)
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason=reason)

    def declare_input(self, input_name: str, sensor: str, layer: int) -> None:
        """Create the series of one input at zero so that rates work from the first scrape."""
        self.events.labels(input=input_name, sensor=sensor)
        for threat_class in THREAT_CLASSES:
            self.threats.labels(**{"class": threat_class, "layer": str(layer), "sensor": sensor})

    def serve(self, listen: str) -> MetricsServer:
        host, _, port = listen.rpartition(":")
        server, thread = start_http_server(int(port), addr=host.strip("[]"),
                                           registry=self.registry)
        return MetricsServer(server, thread)


class MetricsServer:
    """The /metrics HTTP endpoint (a thread of prometheus-client); ``close`` is idempotent."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server: WSGIServer | None = server
        self._thread = thread

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread.join(timeout=5)
