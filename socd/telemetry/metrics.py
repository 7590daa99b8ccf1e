"""socd's Prometheus metrics, behind one small class with an injected registry.

Names follow ``socd_<what>_<unit>_total``; every label takes values from a small bounded
set (input names and sensors from the config, classes, layers, reason codes), never from
message content, nor partitions beyond those of the configured topics. The contract names
(DESIGN.md) are ``socd_events_total{input,sensor}``, ``socd_threats_total{class,layer,sensor}``,
``socd_dead_letter_total{reason}``, ``socd_consumer_lag{topic,partition}`` and
``socd_last_event_timestamp_seconds{input}``; ``socd_alerts_total{class,layer,sensor}`` counts
the alert documents the threats made (fewer under suppression).

Series that alert rules read are created or removed on purpose (deploy/prometheus/):

* every ``socd_threats_total`` (and ``socd_alerts_total``) series an input can produce exists
  at 0 from start-up (and from the rule reload that makes it possible), since ``rate()`` and
  ``increase()`` ignore a series' first sample: a threat that created its series would go
  unseen;
* ``socd_last_event_timestamp_seconds`` of an input appears with its first message, never
  earlier: a start-up time would make a silent input look alive after every restart;
* ``socd_consumer_lag`` of a partition appears once a fetch response has told its high
  watermark (before that the lag is unknown, not 0) and goes when the partition is revoked.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from socd.config import MetricsConfig
from socd.errors import DEAD_LETTER_REASONS, ConfigError, Problem
from socd.telemetry.httpserver import serve
from socd.tls import TlsFileError, metrics_context

disable_created_metrics()  # type: ignore[no-untyped-call]
"""No ``*_created`` series beside each counter: a Unix time in a counter's family reads as a
huge count at a glance, and neither the shipped rules nor Prometheus' ``rate()`` use it."""

THREAT_CLASSES = ("critical", "high-risk")

Partition = tuple[str, int]
"""(topic, partition)."""


class Metrics:
    """Every metric socd exports. Tests give their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter("socd_events", "Events consumed from Kafka.",
                              ["input", "sensor"], registry=r)
        self.threats = Counter("socd_threats", "Threats classified and indexed.",
                               ["class", "layer", "sensor"], registry=r)
        self.alerts = Counter(
            "socd_alerts",
            "Alert documents created in Elasticsearch: one per threat, except under a rule "
            "or input with suppress:, where one alert per key and window stands for all its "
            "threats (socd.suppression.docs_count). A document found already there (a "
            "replay) is not counted again.",
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
        self.bulk_request_documents = Gauge(
            "socd_bulk_request_documents",
            "Documents socd now puts in one bulk request: elasticsearch.bulk_max_docs, less "
            "while the cluster times out or answers slowly.", registry=r)
        self.commits = Counter("socd_offset_commits", "Offset commits made to Kafka.", registry=r)
        self.last_commit = Gauge("socd_last_commit_timestamp_seconds",
                                 "Unix time of the last offset commit.", registry=r)
        self.rules_loaded = Gauge("socd_rules_loaded", "Classification rules in force.",
                                  registry=r)
        self.rule_reload_failures = Counter("socd_rule_reload_failures",
                                            "Rule reloads rejected (the old rules were kept).",
                                            registry=r)
        self.commit_seconds = Histogram(
            "socd_offset_commit_duration_seconds",
            "Time of one offset commit call to Kafka (from the request to the broker's answer).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r)
        self.in_flight_events = Gauge(
            "socd_in_flight_events",
            "Events consumed whose batch is not yet durable (Elasticsearch and dead letters).",
            registry=r)
        self.in_flight_bytes = Gauge(
            "socd_in_flight_bytes",
            "Bulk request body bytes of the batches not yet durable.", registry=r)
        self.partition_pauses = Counter(
            "socd_partition_pauses",
            "Times fetching was paused because delivery held every slot, or the events or "
            "bytes in flight stayed at their bound, past the stall time.",
            registry=r)
        self.paused = Gauge("socd_paused",
                            "1 while fetching is paused because delivery stalled, 0 otherwise.",
                            registry=r)
        self.ready = Gauge(
            "socd_ready",
            "1 from the end of start-up (rules loaded, index template in place, consumer in "
            "its group) until shutdown begins or a fatal error; 0 otherwise.", registry=r)
        self.consumer_lag = Gauge(
            "socd_consumer_lag",
            "Messages of a partition not yet consumed: the high watermark of the last fetch "
            "response (or ListOffsets while the partition is not fetched) less the position.",
            ["topic", "partition"], registry=r)
        self.last_event = Gauge(
            "socd_last_event_timestamp_seconds",
            "Unix time socd last consumed a message of the input (absent until its first).",
            ["input"], registry=r)
        self.shared = Counter(
            "socd_shared",
            "Threats shared with the national centre: STIX 2.1 sightings Kafka acknowledged "
            "on sharing.topic (in a committed transaction where the broker has them).",
            ["class", "layer"], registry=r)
        self.sharing_failures = Counter(
            "socd_sharing_failures",
            "Threats selected for sharing whose sighting could not be built (a defect, "
            "logged as sharing_failed with the document id); they are indexed, not shared.",
            registry=r)
        self._lag_series: set[Partition] = set()
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason=reason)

    def declare_input(self, input_name: str, sensor: str, layers: Iterable[int]) -> None:
        """Create the series of one input at zero so that rates work from the first scrape:
        its events, and its threats of each class on each of ``layers`` (every layer its
        threats can be counted under; see :meth:`socd.pipeline.Pipeline.threat_layers`).
        Safe to call again: existing series keep their values."""
        self.events.labels(input=input_name, sensor=sensor)
        for layer in sorted(set(layers)):
            for threat_class in THREAT_CLASSES:
                labels = {"class": threat_class, "layer": str(layer), "sensor": sensor}
                self.threats.labels(**labels)
                self.alerts.labels(**labels)

    def declare_shared(self, layers: Iterable[int]) -> None:
        """Create ``socd_shared_total`` at zero for each class on each of ``layers``."""
        for layer in sorted(set(layers)):
            for threat_class in THREAT_CLASSES:
                self.shared.labels(**{"class": threat_class, "layer": str(layer)})

    def consumed(self, events: Mapping[tuple[str, str], int], at: float) -> None:
        """Count the events of one fetch, ``(input, sensor) → events``, consumed at ``at``
        (Unix time, seconds): ``socd_events_total`` and ``socd_last_event_timestamp_seconds``."""
        for (input_name, sensor), count in events.items():
            self.events.labels(input=input_name, sensor=sensor).inc(count)
            self.last_event.labels(input=input_name).set(at)

    def report_lag(self, lags: Mapping[Partition, int], owned: Collection[Partition]) -> None:
        """Set ``socd_consumer_lag`` from one measure (:meth:`socd.source.kafka.KafkaSource.lag`).

        Partitions in ``lags`` get their value; the series of a partition not in ``owned``
        goes; an owned partition without a value this time keeps its last one.
        """
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
            self._lag_series.add((topic, partition))
        self.forget_partitions([p for p in self._lag_series if p not in owned])

    def forget_partitions(self, partitions: Iterable[Partition]) -> None:
        """Remove the ``socd_consumer_lag`` series of partitions socd no longer owns."""
        for topic, partition in list(partitions):
            if (topic, partition) in self._lag_series:
                self._lag_series.discard((topic, partition))
                self.consumer_lag.remove(topic, str(partition))

    def delivery_started(self, events: int, body_bytes: int) -> None:
        """A batch of ``events`` consumed events and ``body_bytes`` bulk body bytes is now in
        flight (``socd_in_flight_events``, ``socd_in_flight_bytes``)."""
        self.in_flight_events.inc(events)
        self.in_flight_bytes.inc(body_bytes)

    def delivery_ended(self, events: int, body_bytes: int) -> None:
        """The batch given to :meth:`delivery_started` is durable, failed or was cancelled:
        it is no longer in flight."""
        self.in_flight_events.dec(events)
        self.in_flight_bytes.dec(body_bytes)

    def serve(self, listen: str, *, tls: ssl.SSLContext | None = None,
              login: tuple[str, str] | None = None) -> MetricsServer:
        """Serve ``GET /metrics`` at ``listen`` (HOST:PORT): over HTTPS with ``tls``, behind
        HTTP basic authentication with ``login`` (user, password); see
        :mod:`socd.telemetry.httpserver`. Raises OSError when it cannot listen there."""
        host, _, port = listen.rpartition(":")
        server, thread = serve(host.strip("[]"), int(port), self.registry, tls=tls,
                               login=login)
        return MetricsServer(server, thread)


def metrics_options(cfg: MetricsConfig) -> dict[str, Any]:
    """The ``tls`` and ``login`` arguments of :meth:`Metrics.serve` for ``metrics.*``.
    Raises ConfigError when ``metrics.certfile``/``keyfile`` cannot be loaded."""
    try:
        tls = metrics_context(cfg)
    except TlsFileError as exc:
        raise ConfigError([Problem(None, exc.message, key=exc.key)]) from None
    login = None
    if cfg.username is not None and cfg.password is not None:
        login = (cfg.username, cfg.password.get_secret_value())
    return {"tls": tls, "login": login}


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
