"""``socd dead-letters list`` and ``socd dead-letters replay``: the dead-letter topic read back.

Both read the whole dead-letter topic (``dead_letter.topic``) once, from the beginning of
each partition to its end offset as it was when the command started (letters written later
are left for the next run; a partition's end is the larger of the broker's end offset and
the high watermark of its first fetch), with a consumer outside any group: manual
assignment, nothing committed, so running them changes nothing for the daemon.

A letter is parsed from the headers that :mod:`socd.sinks.dead_letter` writes. ``replay``
sends a letter's original value, key and headers (without the ``socd.*`` ones) back to its
original topic (``socd.topic``) with ``acks=all`` and one more header:

``socd.replayed``  ``DEAD_LETTER_TOPIC/PARTITION/OFFSET`` of the letter it came from.

The daemon keeps a message's headers in its dead letter, so when a replayed message fails
again its new letter carries ``socd.replayed``. Such a letter is a *failed replay*; ``replay``
skips it unless ``--again`` is given, so that a message that still fails is not sent round
in a loop. A letter that a later letter names in its ``socd.replayed`` has been replayed and
failed again: it is *superseded* by that later letter and never sent again (with
``--again`` the newest copy is sent, once). A letter cut to its first bytes
(``socd.truncated``) cannot be replayed: it is counted and reported.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from socd.clock import parse_duration
from socd.config import Config
from socd.errors import SinkError, UsageError
from socd.source.kafka import START_FAILURES, client_options, unreachable

PREFIX = "socd."
REPLAYED = "socd.replayed"
STALL_S = 60.0
"""A read that gets no record for this long while the end is not reached fails (exit 1)."""


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter: where it lies, what it says, and the original message."""

    partition: int
    offset: int
    """Its place in the dead-letter topic."""
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    """The original message's headers (``socd.*`` removed)."""
    reason: str
    detail: str
    topic: str
    """The original topic ('' when the letter does not say: not written by socd)."""
    origin_partition: int | None
    origin_offset: int | None
    connector: str
    time: datetime | None
    truncated: int | None = None
    """The original size in bytes when only the first bytes were kept."""
    replayed: str | None = None
    """``socd.replayed`` of the message: the letter a failed replay came from."""

    def where(self, dead_topic: str) -> str:
        return f"{dead_topic}/{self.partition}/{self.offset}"

    def origin(self) -> str:
        return f"{self.topic or '?'}/{_show(self.origin_partition)}/{_show(self.origin_offset)}"

    def as_json(self, dead_topic: str) -> dict[str, Any]:
        return {"letter": self.where(dead_topic), "reason": self.reason, "detail": self.detail,
                "connector": self.connector, "topic": self.topic,
                "partition": self.origin_partition, "offset": self.origin_offset,
                "time": self.time.isoformat() if self.time else None,
                "truncated": self.truncated, "replayed": self.replayed}


def _show(value: int | None) -> str:
    return "?" if value is None else str(value)


def _int(raw: bytes | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _time(raw: bytes | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_letter(partition: int, offset: int, key: bytes | None, value: bytes | None,
                 headers: Iterable[tuple[str, bytes]]) -> Letter:
    """A letter from one record of the dead-letter topic (headers as
    :func:`socd.sinks.dead_letter.headers_for` writes them). Missing or unreadable socd
    headers give empty fields, never an error; the last of a repeated header wins."""
    ours: dict[str, bytes] = {}
    original: list[tuple[str, bytes]] = []
    for name, raw in headers:
        if name.startswith(PREFIX):
            ours[name] = raw
        else:
            original.append((name, raw))

    def text(name: str) -> str:
        return ours.get(name, b"").decode("utf-8", "replace")

    replayed = ours.get(REPLAYED)
    return Letter(partition, offset, key, value, tuple(original), reason=text("socd.reason"),
                  detail=text("socd.detail"), topic=text("socd.topic"),
                  origin_partition=_int(ours.get("socd.partition")),
                  origin_offset=_int(ours.get("socd.offset")),
                  connector=text("socd.connector"), time=_time(ours.get("socd.time")),
                  truncated=_int(ours.get("socd.truncated")),
                  replayed=replayed.decode("utf-8", "replace") if replayed else None)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO-8601 date or time (no offset: UTC), or a duration back from now
    (``90s``, ``15m``, ``2h``, ``7d``, ``1w``). Raises UsageError naming the forms."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            return (now or datetime.now(UTC)) - parse_duration(value)
        except ValueError:
            raise UsageError(f"--since {value!r}: give an ISO-8601 time such as "
                             "2026-03-01T08:00:00+07:00 or a duration back from now such "
                             "as 2h or 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def read_letters(config: Config) -> AsyncIterator[Letter]:
    """Every letter of ``dead_letter.topic`` up to the end offsets as of the call, partition
    by partition in offset order. Raises UsageError when the topic does not exist,
    SinkError when Kafka cannot be reached or stops answering (:data:`STALL_S`)."""
    topic = config.dead_letter.topic
    consumer = AIOKafkaConsumer(**client_options(config.kafka), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=config.kafka.max_message_bytes * 4 + 1_048_576,
                                max_partition_fetch_bytes=config.kafka.max_message_bytes * 2
                                + 1_048_576)
    try:
        await consumer.start()
    except START_FAILURES as exc:
        await consumer.stop()
        raise SinkError(await unreachable(config.kafka, exc, "the reader of the dead-letter "
                                          f"topic {topic!r}")) from exc
    try:
        try:
            if topic not in await consumer.topics():
                raise UsageError(f"dead_letter.topic {topic!r}: no such topic on Kafka at "
                                 f"{', '.join(config.kafka.bootstrap_servers)}: check the "
                                 "name (socd creates no topic; none means no letter yet)")
            parts = [TopicPartition(topic, p)
                     for p in sorted(consumer.partitions_for_topic(topic) or ())]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
        except KafkaError as exc:
            raise SinkError(f"cannot read the dead-letter topic {topic!r}: "
                            f"{type(exc).__name__}: {exc}") from exc
        left = {tp for tp in parts if ends[tp] > starts[tp]}
        for tp in parts:
            if tp in left:
                consumer.seek(tp, starts[tp])
        if set(parts) - left:
            consumer.pause(*(set(parts) - left))
        checked: set[TopicPartition] = set()
        quiet_since = time.monotonic()
        while left:
            try:
                batches = await consumer.getmany(*left, timeout_ms=1000)
            except KafkaError as exc:
                raise SinkError(f"reading the dead-letter topic {topic!r} failed: "
                                f"{type(exc).__name__}: {exc}") from exc
            if batches:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > STALL_S:
                raise SinkError(f"the dead-letter topic {topic!r} gave nothing for "
                                f"{STALL_S:g} s before its end: check that Kafka is running")
            for tp in batches:
                if tp not in checked:
                    # The end as of the start is ListOffsets' answer; a broker may give the
                    # start of its last batch there instead (the local development broker
                    # does), so the high watermark of the partition's first fetch, moments
                    # after the start, is taken when it is larger.
                    checked.add(tp)
                    ends[tp] = max(ends[tp], consumer.highwater(tp) or 0)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield parse_letter(tp.partition, record.offset, record.key,
                                           record.value, record.headers or ())
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()


@dataclass
class Summary:
    """``list``: counts over every letter, and the newest ``limit`` (by ``socd.time``)."""

    limit: int
    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_connector: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    failed_replays: int = 0
    truncated: int = 0
    _newest: list[tuple[float, int, int, Letter]] = field(default_factory=list)

    def add(self, letter: Letter) -> None:
        self.total += 1
        self.by_reason[letter.reason or "?"] += 1
        self.by_connector[letter.connector or "?"] += 1
        self.by_topic[letter.topic or "?"] += 1
        self.failed_replays += letter.replayed is not None
        self.truncated += letter.truncated is not None
        if self.limit <= 0:
            return
        stamp = letter.time.timestamp() if letter.time else float("-inf")
        item = (stamp, letter.partition, letter.offset, letter)
        if len(self._newest) < self.limit:
            heapq.heappush(self._newest, item)
        elif item[:3] > self._newest[0][:3]:
            heapq.heapreplace(self._newest, item)

    def newest(self) -> list[Letter]:
        return [item[3] for item in sorted(self._newest, key=lambda i: i[:3], reverse=True)]


async def list_letters(config: Config, *, limit: int, fmt: str, out: TextIO) -> int:
    """``socd dead-letters list``: counts by reason, connector and original topic, and the
    newest ``limit`` letters; ``fmt`` ``text`` or ``json`` (one object). Returns 0."""
    summary = Summary(limit)
    async for letter in read_letters(config):
        summary.add(letter)
    topic = config.dead_letter.topic
    if fmt == "json":
        out.write(orjson.dumps({
            "topic": topic, "total": summary.total, "failed_replays": summary.failed_replays,
            "truncated": summary.truncated, "by_reason": dict(summary.by_reason.most_common()),
            "by_connector": dict(summary.by_connector.most_common()),
            "by_topic": dict(summary.by_topic.most_common()),
            "newest": [letter.as_json(topic) for letter in summary.newest()]}).decode() + "\n")
        return 0
    out.write(f"{topic}: {summary.total} dead letter{'s' if summary.total != 1 else ''}"
              f" ({summary.failed_replays} failed replays, {summary.truncated} truncated)\n")
    for title, counts in (("by reason", summary.by_reason),
                          ("by connector", summary.by_connector),
                          ("by topic", summary.by_topic)):
        if counts:
            out.write(f"{title}:\n")
            for name, count in counts.most_common():
                out.write(f"  {count:>8}  {name}\n")
    newest = summary.newest()
    if newest:
        out.write(f"newest {len(newest)}:\n")
        for letter in newest:
            when = letter.time.isoformat(timespec="seconds") if letter.time else "?"
            marks = "".join((" [failed replay]" if letter.replayed else "",
                             " [truncated]" if letter.truncated is not None else ""))
            out.write(f"  {when}  {letter.reason or '?'}  {letter.connector or '?'}  "
                      f"{letter.origin()}{marks}: {letter.detail}\n")
    return 0


@dataclass(frozen=True)
class Filters:
    """``replay``'s selection: every given filter must hold."""

    reasons: frozenset[str] = frozenset()
    connectors: frozenset[str] = frozenset()
    since: datetime | None = None

    def match(self, letter: Letter) -> bool:
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.connectors and letter.connector not in self.connectors:
            return False
        return self.since is None or (letter.time is not None and letter.time >= self.since)


@dataclass
class Plan:
    """What ``replay`` sends and why the rest is not sent."""

    send: list[Letter] = field(default_factory=list)
    matched: int = 0
    failed_replays: int = 0
    superseded: int = 0
    truncated: int = 0
    no_origin: int = 0


def plan(letters: Sequence[Letter], filters: Filters, dead_topic: str, *,
         again: bool) -> Plan:
    """The letters to replay, in topic order: those matching ``filters`` that are not
    truncated, name their original topic, are not superseded by a later failed replay of
    themselves, and (unless ``again``) are not failed replays."""
    superseding = {letter.replayed for letter in letters if letter.replayed}
    result = Plan()
    for letter in letters:
        if not filters.match(letter):
            continue
        result.matched += 1
        if letter.where(dead_topic) in superseding:
            result.superseded += 1
        elif letter.truncated is not None:
            result.truncated += 1
        elif not letter.topic:
            result.no_origin += 1
        elif letter.replayed and not again:
            result.failed_replays += 1
        else:
            result.send.append(letter)
    return result


def replay_headers(letter: Letter, dead_topic: str) -> list[tuple[str, bytes]]:
    """The original headers (``socd.*`` removed) and ``socd.replayed``."""
    return [*letter.headers, (REPLAYED, letter.where(dead_topic).encode())]


async def replay(config: Config, filters: Filters, *, again: bool, dry_run: bool,
                 out: TextIO) -> int:
    """``socd dead-letters replay``: send the letters :func:`plan` picks back to their
    original topics (``acks=all``, every send awaited), print one line each with
    ``dry_run``, then a summary. Raises SinkError when Kafka does not take them. Returns 0."""
    dead_topic = config.dead_letter.topic
    letters = [letter async for letter in read_letters(config)]
    chosen = plan(letters, filters, dead_topic, again=again)
    if dry_run:
        for letter in chosen.send:
            size = len(letter.value) if letter.value is not None else 0
            out.write(f"would send {letter.where(dead_topic)} -> {letter.topic} "
                      f"({letter.reason}, {letter.connector}, {size} bytes)\n")
    else:
        await _send(config, chosen.send, dead_topic)
    verb = "would replay" if dry_run else "replayed"
    notes = [f"{count} {what}" for count, what in (
        (chosen.failed_replays, "failed replays skipped (--again sends them)"),
        (chosen.superseded, "replayed before and failed again (their newest letter counts)"),
        (chosen.truncated, "truncated, cannot be replayed"),
        (chosen.no_origin, "without socd.topic, cannot be replayed")) if count]
    out.write(f"socd: {verb} {len(chosen.send)} of {chosen.matched} matching dead letters "
              f"(of {len(letters)} in {dead_topic})"
              f"{': ' + '; '.join(notes) if notes else ''}\n")
    return 0


async def _send(config: Config, letters: Sequence[Letter], dead_topic: str) -> None:
    if not letters:
        return
    producer = AIOKafkaProducer(**client_options(config.kafka), acks="all",
                                enable_idempotence=False,
                                max_request_size=config.kafka.max_message_bytes * 2 + 65536)
    try:
        await producer.start()
    except START_FAILURES as exc:
        await producer.stop()
        raise SinkError(await unreachable(config.kafka, exc, "the replay producer")) from exc
    try:
        futures = [await producer.send(letter.topic, value=letter.value, key=letter.key,
                                       headers=replay_headers(letter, dead_topic))
                   for letter in letters]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=120)
    except (KafkaError, TimeoutError) as exc:
        raise SinkError(f"Kafka did not take the replayed messages ({type(exc).__name__}"
                        f"{': ' + str(exc) if str(exc) else ''}); some may have been sent: "
                        "check that Kafka is running and run replay again (the letters stay "
                        "in the dead-letter topic)") from exc
    finally:
        await producer.stop()
