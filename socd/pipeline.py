"""One batch of Kafka records → threat documents, dead letters and offsets. No I/O here.

For each record: size check → connector (decode + normalise to ECS) → the input's rules →
for a threat, its ``@timestamp`` bounded by the input's ``max_clock_skew`` (see
:mod:`socd.clock`), socd's verdict (``socd.*``) and a deterministic document id. What cannot
be used becomes a :class:`~socd.event.DeadLetter`; nothing is dropped without a trace. The
delivery (:mod:`socd.delivery`) makes the batch durable and then commits ``offsets``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from socd.classify.ruleset import Deferred
from socd.clock import ClockSkew, show_duration
from socd.config import Config, InputConfig
from socd.errors import InputError
from socd.event import DeadLetter, IndexAction, Record
from socd.normalize import Normalizer, build_normalizer
from socd.normalize.convert import format_utc, parse_timestamp
from socd.normalize.timeformats import Zones
from socd.sinks.elasticsearch import encode_action
from socd.sinks.templates import alerts_index
from socd.state.suppress import Suppression, suppressed_threat
from socd.telemetry.logging import get_logger

if TYPE_CHECKING:
    from socd.classify import BoundRules, RuleSet, Verdict
    from socd.classify.correlate import Correlation

log = get_logger("socd.pipeline")

Partition = tuple[str, int]

SHARED_CLASSES: Mapping[str, tuple[str, ...]] = {
    "critical": ("critical",), "high-risk": ("critical", "high-risk")}
"""``sharing.min_class`` → the classes shared unless a rule's ``socd: share:`` says
otherwise."""


@dataclass(slots=True)
class Batch:
    """What one or more fetches produced; ``offsets`` are the next offsets to read."""

    correlated: list[Correlated] = field(default_factory=list)
    """Events that feed correlation rules, their verdicts waiting for the correlation windows
    (:meth:`Pipeline.settled` turns them into ``actions``); empty once settled."""
    actions: list[IndexAction] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[Partition, int] = field(default_factory=dict)
    first: dict[Partition, int] = field(default_factory=dict)
    """The first offset read of each partition: the batch read ``[first, offsets)``."""
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(input, sensor) → events consumed."""

    def merge(self, later: Batch) -> None:
        """Append a batch fetched after this one (its offsets are the newer ones)."""
        self.correlated.extend(later.correlated)
        self.actions.extend(later.actions)
        self.dead.extend(later.dead)
        self.offsets.update(later.offsets)
        for position, offset in later.first.items():
            self.first.setdefault(position, offset)
        self.events.update(later.events)

    def fetched(self) -> dict[Partition, tuple[int, int]]:
        """``(first, next)`` offsets of each partition read."""
        return {position: (self.first.get(position, end), end)
                for position, end in self.offsets.items()}


@dataclass(frozen=True, slots=True)
class Correlated:
    """An event of the batch that feeds correlation rules: what its threat document needs
    once the correlations have answered (see :meth:`Pipeline.settled`)."""

    runtime: InputRuntime
    record: Record
    doc: dict[str, Any]
    deferred: Deferred
    clock: Clock


@dataclass(slots=True)
class InputRuntime:
    """One configured input, bound to its connector and to the rules its events can meet."""

    cfg: InputConfig
    normalizer: Normalizer
    logsource: Mapping[str, str]
    rules: BoundRules
    suppression: Suppression | None = None
    """``inputs[].suppress``, for the rules that say nothing of it."""

    @property
    def connector(self) -> str:
        return self.normalizer.name


def document_id(connector: str, doc: Mapping[str, Any], record: Record) -> str:
    """Same event → same id, so a replay finds its document instead of duplicating it.

    The sensor's own event id (with the connector and observer) when it has one, otherwise
    the Kafka position of the message.
    """
    event = doc.get("event")
    event_id = event.get("id") if isinstance(event, dict) else None
    if event_id:
        observer = doc.get("observer")
        name = observer.get("name", "") if isinstance(observer, dict) else ""
        key = f"{connector}\x1f{name}\x1f{event_id}"
    else:
        key = f"{record.topic}\x1f{record.partition}\x1f{record.offset}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Clock:
    """socd's clock for one batch: the ingest time and each skew's window of ``@timestamp``
    values, as ``format_utc`` texts (which compare as the times they name)."""

    __slots__ = ("_windows", "ingested", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.ingested = format_utc(now)
        self._windows: dict[int, tuple[str, str]] = {}

    def window(self, skew: ClockSkew) -> tuple[str, str]:
        """(earliest, latest) ``@timestamp`` that ``skew`` allows."""
        found = self._windows.get(id(skew))  # the config's objects outlive the batch
        if found is None:
            found = self._windows[id(skew)] = (format_utc(self.now - skew.past),
                                               format_utc(self.now + skew.future))
        return found


_UTC_ZONES = Zones(UTC)


def bound_timestamp(doc: dict[str, Any], record: Record, clock: Clock,
                    skew: ClockSkew) -> str:
    """Give ``doc`` an ``@timestamp`` within ``skew`` of ``clock`` and return it.

    A sensor's time outside the window moves to ``socd.sensor_timestamp``, with a line in
    ``socd.warnings``; a value that is no time at all is named in ``socd.warnings``. Either
    way, and when the document has none, ``@timestamp`` becomes the time Kafka received the
    message, or the time socd read it when Kafka's is missing or out of the window too.
    """
    earliest, latest = clock.window(skew)
    value = doc.get("@timestamp")
    problem = kept = None
    if value is not None:
        try:
            moment = parse_timestamp(value, _UTC_ZONES)
        except (ValueError, OverflowError) as exc:
            problem = f"@timestamp {value!r:.80} is not a time ({exc})"
        else:
            text = format_utc(moment)
            if earliest <= text <= latest:
                doc["@timestamp"] = text
                return text
            if text > latest:
                problem = (f"@timestamp {text} is more than {show_duration(skew.future)} ahead "
                           "of socd's clock (inputs[].max_clock_skew.future)")
            else:
                problem = (f"@timestamp {text} is more than {show_duration(skew.past)} behind "
                           "socd's clock (inputs[].max_clock_skew.past)")
            _socd(doc)["sensor_timestamp"] = text
            kept = "; the sensor's time is kept in socd.sensor_timestamp"
    timestamp, source = clock.ingested, "socd read the message"
    if record.timestamp_ms:
        try:
            kafka = format_utc(datetime.fromtimestamp(record.timestamp_ms / 1000, UTC))
        except (OverflowError, OSError, ValueError):
            kafka = ""
        if earliest <= kafka <= latest:
            timestamp, source = kafka, "Kafka received the message"
    doc["@timestamp"] = timestamp
    if problem is not None:
        _socd(doc).setdefault("warnings", []).append(
            f"{problem}{kept or ''}; @timestamp is when {source}")
    return timestamp


def _socd(doc: dict[str, Any]) -> dict[str, Any]:
    socd = doc.get("socd")
    if socd.__class__ is not dict:
        socd = doc["socd"] = {}
    return socd


class Pipeline:
    """The per-event stages, bound to the configuration and the rules in force."""

    def __init__(self, config: Config, rules: RuleSet, *, defer: bool = False) -> None:
        """``defer``: events that feed correlation rules are left in ``Batch.correlated``
        for a store of the windows to count (the daemon: :mod:`socd.state.settle`); without
        it they are counted in memory as they are classified (offline tools)."""
        self._defer = defer
        self._prefix = config.elasticsearch.index_prefix
        self._share_classes: frozenset[str] = (
            frozenset(SHARED_CLASSES[config.sharing.min_class]) if config.sharing_active
            else frozenset())
        """Classes shared by default; empty when sharing is off (then no rule shares)."""
        self._max_bytes = config.kafka.max_message_bytes
        self._inputs: dict[str, InputRuntime] = {}
        for item in config.inputs:
            normalizer = build_normalizer(
                item.connector, sensor=item.sensor,
                timezone=item.timezone or config.report.timezone,
                keep_original=item.keep_original)
            logsource = ({str(k): v for k, v in item.logsource.items()} if item.logsource
                         else dict(normalizer.logsource))
            self._inputs[item.topic] = InputRuntime(
                item, normalizer, logsource, rules.bind(logsource, pipelines=item.pipelines),
                item.suppress.suppression if item.suppress else None)
        self.rules = rules

    @property
    def inputs(self) -> Iterable[InputRuntime]:
        return self._inputs.values()

    def threat_layers(self, runtime: InputRuntime) -> frozenset[int]:
        """Every layer a threat of this input can be counted under: the input's own, and the
        ``socd.layer`` of each high or critical rule its events can meet (see
        :meth:`_threat`) — its bound rules and the correlation rules they feed, directly or
        through other correlations."""
        reached = list(runtime.rules.rules)
        ids = {rule.id for rule in reached}
        correlator = self.rules.correlator
        waiting = list(correlator.correlations) if correlator is not None else []
        found = True
        while found:  # correlations of correlations: until nothing more is reached
            found = False
            for correlation in list(waiting):
                if not ids.isdisjoint(correlation.inputs):
                    reached.append(correlation.info)
                    ids.add(correlation.info.id)
                    waiting.remove(correlation)
                    found = True
        return frozenset({runtime.cfg.layer} | {
            rule.layer for rule in reached
            if rule.threat_class is not None and rule.layer is not None})

    def connector_of(self, topic: str) -> str:
        runtime = self._inputs.get(topic)
        return runtime.connector if runtime else ""

    def counted_as(self, topic: str) -> tuple[str, str] | None:
        """(input name, sensor): the ``socd_events_total`` labels of the topic's events;
        None for a topic no input reads."""
        runtime = self._inputs.get(topic)
        return (runtime.cfg.label, runtime.cfg.sensor) if runtime else None

    def use_rules(self, rules: RuleSet) -> None:
        """Swap the rule set (SIGHUP); batches already processed keep their verdicts."""
        for runtime in self._inputs.values():
            runtime.rules = rules.bind(runtime.logsource, pipelines=runtime.cfg.pipelines)
        self.rules = rules

    def process(self, records: Iterable[Record]) -> Batch:
        """Every record's outcome, in order (see the module's docstring); never raises for
        what a record holds. The cyclic garbage collector waits meanwhile (see
        :func:`collector_paused`)."""
        with collector_paused():
            return self._process(records)

    def _process(self, records: Iterable[Record]) -> Batch:
        batch = Batch()
        clock = Clock(datetime.now(UTC))
        defer = self._defer
        for record in records:
            runtime = self._inputs.get(record.topic)
            position = (record.topic, record.partition)
            if position not in batch.first:
                batch.first[position] = record.offset
            batch.offsets[position] = record.offset + 1
            if runtime is None:  # not subscribed; cannot happen unless Kafka misbehaves
                continue
            batch.events[(runtime.cfg.label, runtime.cfg.sensor)] += 1
            value = record.value
            if value is None:
                batch.dead.append(DeadLetter(record, "not_json", "empty message (no value)",
                                             runtime.connector))
                continue
            if len(value) > self._max_bytes:
                batch.dead.append(DeadLetter(
                    record, "too_large",
                    f"{len(value)} bytes, over kafka.max_message_bytes ({self._max_bytes})",
                    runtime.connector))
                continue
            try:
                doc = runtime.normalizer.normalize(value)
            except InputError as exc:
                batch.dead.append(DeadLetter(record, exc.reason, exc.detail, runtime.connector))
                continue
            except Exception as exc:  # a connector defect must not lose the message
                log.exception("connector_failed", connector=runtime.connector,
                              topic=record.topic, partition=record.partition,
                              offset=record.offset)
                batch.dead.append(DeadLetter(record, "invalid_event",
                                             f"connector error: {exc!r}", runtime.connector))
                continue
            verdict = runtime.rules.triage(doc) if defer else runtime.rules.classify(doc)
            if verdict is None:
                continue
            if isinstance(verdict, Deferred):
                batch.correlated.append(Correlated(runtime, record, doc, verdict, clock))
                continue
            batch.actions.append(self._threat(runtime, record, doc, verdict, clock))
        return batch

    def settled(self, batch: Batch, fired: Sequence[Sequence[Correlation]]) -> None:
        """Turn ``batch.correlated`` into threats, given per event the correlations that
        fired on it (in the same order); the list is emptied. No I/O. An event whose document
        cannot be made (socd's defect) becomes a ``processing_failed`` dead letter: its
        windows are durable already, and reading it again would meet the same defect."""
        with collector_paused():
            for event, correlations in zip(batch.correlated, fired, strict=True):
                deferred, record = event.deferred, event.record
                try:
                    verdict = deferred.rules.decide(deferred, correlations)
                    if verdict is not None:
                        batch.actions.append(self._threat(event.runtime, record, event.doc,
                                                          verdict, event.clock))
                except Exception as exc:
                    log.exception("processing_failed", topic=record.topic,
                                  partition=record.partition, offset=record.offset)
                    batch.dead.append(DeadLetter(record, "processing_failed",
                                                 f"{type(exc).__name__}: {exc}",
                                                 event.runtime.connector))
        batch.correlated.clear()

    def _threat(self, runtime: InputRuntime, record: Record, doc: dict[str, Any],
                verdict: Verdict, clock: Clock) -> IndexAction:
        layer = verdict.rule.layer or runtime.cfg.layer
        timestamp = doc.get("@timestamp")
        skew = runtime.cfg.max_clock_skew
        earliest, latest = clock.window(skew)
        # the common case, compared as text: a UTC time from a connector, inside the window
        if not (timestamp.__class__ is str and len(timestamp) == 24 and timestamp[23] == "Z"
                and timestamp[10] == "T" and earliest <= timestamp <= latest):
            timestamp = bound_timestamp(doc, record, clock, skew)
        event = doc.get("event")
        if not isinstance(event, dict):
            event = doc["event"] = {}
        event["ingested"] = clock.ingested
        event.setdefault("kind", "alert")
        doc["socd"] = {
            **(doc.get("socd") or {}),
            "class": verdict.threat_class,
            "layer": layer,
            "input": runtime.cfg.label,
            "rule": {
                "id": verdict.rule.id,
                "name": verdict.rule.title,
                "level": verdict.rule.level,
                "ids": list(verdict.rule_ids),
            },
        }
        doc_id = document_id(runtime.connector, doc, record)
        action = encode_action(
            alerts_index(self._prefix, timestamp), doc_id, doc, record,
            labels=(verdict.threat_class, str(layer), runtime.cfg.sensor),
            share=self._shares(verdict),
        )
        suppression = verdict.rule.suppress
        if suppression is None:
            suppression = runtime.suppression
        if suppression:  # None when the threat lacks a key field: a document of its own
            action.suppress = suppressed_threat(
                suppression, verdict.rule.id, runtime.cfg.label, doc, doc_id, timestamp,
                self._index_of)
        return action

    def _index_of(self, timestamp: str) -> str:
        return alerts_index(self._prefix, timestamp)

    def _shares(self, verdict: Verdict) -> bool:
        """Whether the threat goes to the national centre: its class is at or above
        ``sharing.min_class``, unless the classifying rule's ``socd: share:`` says otherwise
        (``true``: shared whatever its class; ``false``: never). Never while sharing is off."""
        if not self._share_classes:
            return False
        chosen = verdict.rule.share
        return chosen if chosen is not None else verdict.threat_class in self._share_classes


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while the block runs; as it was afterwards.

    A batch allocates tens of containers per event (decoded JSON, ECS document, verdict)
    that live until the event is encoded or the batch delivered. With CPython's default
    thresholds the collector runs every 700 allocations, walks those survivors again at
    each run, and every ten runs of ten walks the whole heap (rules, connectors, clients):
    measured on the Cyradar end-to-end bench, 36 µs of an event's ~80 µs. Reference
    counting still frees every acyclic object at once; the few cycles a batch may leave are
    found by the first collection after it. Process-wide, like the collector itself.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
