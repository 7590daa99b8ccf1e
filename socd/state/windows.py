"""Correlation windows kept in Elasticsearch, so that they survive restarts, replays and
scale-out (docs/state.md, "Correlation windows").

Each group of each correlation rule is one document in ``<prefix>-state``, its ``_id``
BLAKE2b(the correlation's definition, the group key) (:func:`window_id`), so every process
and every replay finds the same one. The document (:func:`encode`, :func:`decode`)::

    {"correlation": rule id, "kind": type, "group": [group-by values],
     "data": what the type keeps (times are epoch seconds, JSON numbers: exact doubles),
     "newest": newest time of the current window (null: starts afresh), "latest": newest
     time ever seen, "applied": {"topic/partition": {"floor": F, "ranges": [...]}},
     "fired": {"topic/partition": [[offset, time], ...]} (kept while within the timespan
     or not yet committed: what a replay may ask), "expires": epoch ms,
     "updated": epoch ms}

:meth:`WindowStore.settle` counts one batch's correlated events, in fetch order, with the
step functions of :mod:`socd.classify.correlate` (no correlation logic runs in
Elasticsearch):

1. the groups the events may reach that are not in the cache are read (one ``mget``);
   missing ones start empty;
2. each event is counted (:meth:`~socd.classify.correlate.Correlator.count_at`): an event
   whose offset a group has applied already gets its recorded verdict there;
3. one ``_bulk`` writes every group that counted something: ``create`` for a new one,
   ``index`` with ``if_seq_no``/``if_primary_term`` for a known one, the applied offsets
   raised to the batch's end per partition. A replay writes nothing;
4. a 409 (another process wrote the group meanwhile, or created it) drops the group from
   the cache and the batch is counted again: the groups written meanwhile answer with
   recorded verdicts, the others are read again and count the batch's events on top.

429, 5xx, timeouts and an unreachable cluster are retried after the sink's backoff for as
long as it takes (the batch does not go to delivery meanwhile: nothing is committed past
state that is not durable); 401/403 likewise, logged as errors; any other refusal of a
state document raises :class:`~socd.errors.SocdError` (socd stops; the batch is read again).

**Why the applied floor is the batch's end.** A process counts a partition's batches one
after the other, each written before the next is counted and before its documents and
its commit; it starts a partition at the committed offset, below which every event was
counted by whoever committed it. So when a batch is written, every event of the partition
below the batch's end offset has been counted in every group it belongs to.

**Expiry.** ``expires`` = max(newest time seen, the time of the write) + timespan:
:meth:`WindowStore.sweep` deletes windows an hour past it (``_delete_by_query``), so a
replay still finds them, and a burst of old events (a backlog) is not swept while in use.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc

from socd.classify.correlate import Correlation, Correlator, Inputs, StoredGroup, empty_data
from socd.errors import SocdError
from socd.pipeline import collector_paused
from socd.sinks.elasticsearch.retry import Action, Backoff, request_action
from socd.sinks.templates import state_index, state_template
from socd.state.applied import AppliedSet
from socd.telemetry.logging import get_logger

log = get_logger("socd.state")

SWEEP_GRACE_S = 3600.0
"""How long after its expiry a window is kept (a replay must still find it)."""

SWEEP_INTERVAL_S = 600.0
"""How often :meth:`WindowStore.sweep_forever` deletes expired windows."""


def window_id(correlation: Correlation, key: Hashable) -> str:
    """The ``_id`` of a group's window: BLAKE2b (128 bits, hex) of the correlation's
    definition and the group key (JSON). Raises TypeError for a key JSON cannot hold."""
    text = correlation.definition.encode("utf-8", "surrogatepass") + b"\x1f" + orjson.dumps(key)
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _time(value: float) -> float | None:
    return None if value == -math.inf else value


def _untime(value: Any) -> float:
    return -math.inf if value is None else float(value)


def _hashable(value: Any) -> Any:
    """A JSON value back as the group and value parts the correlator builds (lists →
    tuples)."""
    if type(value) is list:
        return tuple(_hashable(item) for item in value)
    return value


def encode_data(kind: str, data: Any) -> Any:
    """What a group keeps, as JSON (see the module docstring)."""
    if kind == "event_count":
        return list(data)
    if kind == "temporal_ordered":
        return list(data)
    return [[key, when] for key, when in data.items()]  # value_count, temporal


def decode_data(kind: str, value: Any, inputs: int) -> Any:
    """:func:`encode_data` reversed. Raises ValueError when the shape is not the type's."""
    if kind == "event_count":
        if not isinstance(value, list):
            raise ValueError("event_count data must be a list of times")
        return sorted(float(t) for t in value)
    if kind == "temporal_ordered":
        if not isinstance(value, list) or len(value) != inputs:
            raise ValueError(f"temporal_ordered data must be a list of {inputs} times or nulls")
        return [None if t is None else float(t) for t in value]
    if not isinstance(value, list):
        raise ValueError(f"{kind} data must be a list of [key, time]")
    out: dict[Any, float] = {}
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"{kind} data: {pair!r} is not [key, time]")
        out[_hashable(pair[0])] = float(pair[1])
    return out


def encode(correlation: Correlation, key: Hashable, group: StoredGroup, *,
           now: float) -> dict[str, Any]:
    """The document of a group (``now``: epoch seconds of the write, for ``expires``)."""
    return {
        "correlation": correlation.info.id,
        "kind": correlation.kind,
        "group": key,
        "data": encode_data(correlation.kind, group.data),
        "newest": _time(group.newest),
        "latest": _time(group.latest),
        "applied": group.applied.to_json(),
        "fired": {p: [[offset, when] for offset, when in entries.items()]
                  for p, entries in sorted(group.fired.items()) if entries},
        "expires": int((max(group.latest, now) + correlation.seconds) * 1000),
        "updated": int(now * 1000),
    }


def decode(correlation: Correlation, source: Mapping[str, Any],
           version: tuple[int, int] | None = None) -> StoredGroup:
    """A group from its document. Raises ValueError naming what is wrong."""
    if source.get("kind") != correlation.kind:
        raise ValueError(f"kind {source.get('kind')!r}, expected {correlation.kind}")
    group = StoredGroup(decode_data(correlation.kind, source.get("data"),
                                    len(correlation.inputs)))
    group.newest = _untime(source.get("newest"))
    group.latest = _untime(source.get("latest"))
    group.applied = AppliedSet.from_json(source.get("applied") or {})
    fired = source.get("fired") or {}
    if not isinstance(fired, Mapping):
        raise ValueError("fired must be an object")
    group.fired = {str(p): {int(e[0]): float(e[1]) for e in entries}
                   for p, entries in fired.items()}
    group.version = version
    return group


def prune_fired(group: StoredGroup, seconds: float, committed: Mapping[str, int]) -> None:
    """Forget the firings no replay can ask for: older than the timespan before the group's
    newest time *and* below the partition's committed offset (``committed``: per
    ``"topic/partition"``, as far as this process knows; a partition it does not know keeps
    its firings until its owner writes the group, or the window expires)."""
    cutoff = group.latest - seconds
    for partition, entries in list(group.fired.items()):
        below = committed.get(partition, 0)
        kept = {offset: when for offset, when in entries.items()
                if when >= cutoff or offset >= below}
        if kept:
            group.fired[partition] = kept
        else:
            del group.fired[partition]


_Write = tuple[Correlation, Hashable, StoredGroup, AppliedSet, bytes]
"""A window to write: its correlation, key, group, applied offsets once written, body."""

_WRITTEN = ["items.*._id", "items.*.status", "items.*._seq_no", "items.*._primary_term",
            "items.*.error.type", "items.*.error.reason"]
"""What socd reads of a bulk response of windows."""


@dataclass(frozen=True, slots=True)
class Event:
    """One correlated event of a batch: its document, where its rules count, its position."""

    doc: Mapping[str, Any]
    inputs: Inputs
    partition: str
    """``"topic/partition"``."""
    offset: int


@dataclass(slots=True)
class Cost:
    """What the store did, for figures and logs."""

    batches: int = 0
    reads: int = 0
    """Documents read (cache misses and conflicts)."""
    writes: int = 0
    """Documents written."""
    conflicts: int = 0
    requests: int = 0
    seconds: float = 0.0
    """Time spent in settle, I/O included."""


class WindowStore:
    """The correlation windows in ``<prefix>-state`` (see the module docstring).

    ``client``: the sink's client (:attr:`~socd.sinks.elasticsearch.ElasticsearchSink.client`,
    or a callable giving it); ``backoff``: the retry policy's; ``clock`` (epoch seconds) and
    ``sleep`` for tests. Not thread-safe: one event loop drives it.
    """

    def __init__(self, client: AsyncElasticsearch | Callable[[], AsyncElasticsearch],
                 prefix: str, backoff: Backoff, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._client = client
        self.index = state_index(prefix)
        self._prefix = prefix
        self._backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._template = False
        self.cost = Cost()

    @property
    def client(self) -> AsyncElasticsearch:
        client = self._client
        return client if isinstance(client, AsyncElasticsearch) else client()

    # ------------------------------------------------------------------ counting

    async def settle(self, correlator: Correlator, events: Sequence[Event],
                     ends: Mapping[str, int],
                     committed: Mapping[str, int] | None = None) -> list[list[Correlation]]:
        """Count ``events`` (one batch, in fetch order) durably; per event, the correlations
        that fire on it. ``ends``: per ``"topic/partition"`` the batch's next offset (every
        offset below it is then counted: see the module docstring); ``committed``: the
        committed offsets this process knows (firings below them are pruned once out of
        the timespan: no replay can ask for them). Returns once every
        group the batch changed is written. Raises :class:`~socd.errors.SocdError` when
        Elasticsearch refuses a state document for good."""
        started = time.monotonic()
        self.cost.batches += 1
        await self._ensure_template()
        while True:
            await self._load(correlator, events)
            with collector_paused():  # many short-lived objects: see the function
                fired = [correlator.count_at(e.doc, e.inputs, e.partition, e.offset)
                         for e in events]
                touched = correlator.take_touched()
            conflicted = await self._write(touched, ends, committed or {}) if touched else []
            if not conflicted:
                break
            self.cost.conflicts += len(conflicted)
            log.info("correlation_conflict", groups=len(conflicted),
                     note="another process wrote these windows: read again, counted again")
            for correlation, key in conflicted:
                correlator.window_of(correlation).groups.pop(key, None)
        correlator.trim()
        self.cost.seconds += time.monotonic() - started
        return fired

    async def _load(self, correlator: Correlator, events: Sequence[Event]) -> None:
        """Read the groups the events may reach that the cache lacks; missing ones start
        empty (written with ``create``)."""
        wanted: dict[str, tuple[Correlation, Hashable]] = {}
        seen: set[tuple[int, Hashable]] = set()
        for event in events:
            for window, positions in correlator.reach(event.inputs):
                groups = window.groups
                for position in positions:
                    key: Hashable = window.keys[position](event.doc)
                    if key is None or key in groups or (id(window), key) in seen:
                        continue
                    seen.add((id(window), key))
                    wanted[window_id(window.correlation, key)] = (window.correlation, key)
        if not wanted:
            return
        ids = list(wanted)
        self.cost.reads += len(ids)
        response = await self._retrying("read", lambda: self.client.mget(
            index=self.index, ids=ids))
        for doc in response.get("docs", []):
            correlation, key = wanted[doc["_id"]]
            window = correlator.window_of(correlation)
            if doc.get("found"):
                try:
                    group = decode(correlation, doc["_source"],
                                   (doc["_seq_no"], doc["_primary_term"]))
                except (ValueError, TypeError, KeyError) as exc:
                    raise SocdError(
                        f"correlation window {doc['_id']} in {self.index} cannot be read "
                        f"({exc}): delete it (DELETE {self.index}/_doc/{doc['_id']}) to "
                        "start that window afresh") from exc
            elif "error" in doc and _error_type(doc["error"]) != "index_not_found_exception":
                raise SocdError(f"reading correlation window {doc['_id']} from "
                                f"{self.index}: {doc['error']}")
            else:
                group = StoredGroup(empty_data(correlation.kind, len(correlation.inputs)))
            window.groups[key] = group

    async def _write(self, touched: list[tuple[Correlation, Hashable, StoredGroup]],
                     ends: Mapping[str, int],
                     committed: Mapping[str, int]) -> list[tuple[Correlation, Hashable]]:
        """Write the changed groups; the (correlation, key) of those that conflicted."""
        with collector_paused():
            pending = self._bodies(touched, ends, committed, self._clock())
        conflicted: list[tuple[Correlation, Hashable]] = []
        attempt = 0
        while pending:
            operations: list[bytes] = []
            for doc_id, (_, _, group, _, body) in pending.items():
                if group.version is None:
                    header: dict[str, Any] = {"create": {"_index": self.index, "_id": doc_id}}
                else:
                    seq_no, term = group.version
                    header = {"index": {"_index": self.index, "_id": doc_id,
                                        "if_seq_no": seq_no, "if_primary_term": term}}
                operations += [orjson.dumps(header), body]
            payload = b"\n".join(operations) + b"\n"
            self.cost.writes += len(pending)
            # Pre-encoded NDJSON passes through the client's serializer unchanged.
            response = await self._retrying("write", lambda body=payload: self.client.bulk(
                operations=body, refresh=False, filter_path=_WRITTEN))  # type: ignore[misc]
            retry: dict[str, _Write] = {}
            why = ""
            for item in response.get("items", []):
                result = next(iter(item.values()))
                doc_id = result["_id"]
                correlation, key, group, applied, body = pending[doc_id]
                status = result.get("status", 500)
                if status < 300:
                    group.version = (result["_seq_no"], result["_primary_term"])
                    group.applied = applied
                    group.counted.clear()
                elif status == 409:
                    conflicted.append((correlation, key))
                elif (action := _item_action(status)) in (Action.RETRY, Action.REFUSED):
                    retry[doc_id] = pending[doc_id]
                    why = f"{status} {result.get('error', {}).get('type', '')}"
                    if action is Action.REFUSED:
                        log.error("correlation_write_refused", status=status, fix=(
                            "give socd's user the index privileges create_index and index "
                            f"on {self.index}; socd retries meanwhile"))
                else:
                    raise SocdError(
                        f"Elasticsearch refused correlation window {doc_id} in {self.index}: "
                        f"{status} {result.get('error')}: check the index template "
                        f"{self._prefix}-state (socd setup)")
            pending = retry
            if pending:
                attempt += 1
                delay = self._backoff.delay(attempt)
                log.warning("correlation_write_retry", windows=len(pending), reason=why,
                            attempt=attempt, retry_in=round(delay, 3))
                await self._sleep(delay)
        return conflicted

    @staticmethod
    def _bodies(touched: list[tuple[Correlation, Hashable, StoredGroup]],
                ends: Mapping[str, int], committed: Mapping[str, int], now: float
                ) -> dict[str, _Write]:
        """Per document id, what to write: the group's document with its applied offsets
        raised to the batch's end (taken into the group once written)."""
        pending: dict[str, _Write] = {}
        raised: dict[tuple[int, frozenset[str]], AppliedSet] = {}  # applied sets are values
        for correlation, key, group in touched:
            applied = group.applied
            memo = (id(applied), frozenset(group.counted))
            found = raised.get(memo)
            if found is None:
                for partition in memo[1]:
                    applied = applied.raise_floor(partition, ends[partition])
                raised[memo] = applied
            else:
                applied = found
            prune_fired(group, correlation.seconds, committed)
            saved, group.applied = group.applied, applied
            try:
                body = orjson.dumps(encode(correlation, key, group, now=now))
            finally:
                group.applied = saved
            pending[window_id(correlation, key)] = (correlation, key, group, applied, body)
        return pending

    async def _retrying(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()`` until it answers: 429, 5xx, timeouts, connection errors and 401/403
        are retried after the backoff; other errors raise SocdError."""
        attempt = 0
        while True:
            self.cost.requests += 1
            try:
                response = await call()
                return response.body if hasattr(response, "body") else response
            except es_exc.NotFoundError as exc:
                if what == "template check":
                    return {}
                raise SocdError(f"Elasticsearch answered 404 to the correlation {what} on "
                                f"{self.index}: {exc}") from exc
            except es_exc.ApiError as exc:
                status = exc.meta.status
                action = request_action(status)
                if action is Action.REFUSED and what.startswith("template"):
                    raise _Refused(f"{status} {exc.message}") from exc
                if action is Action.REJECT or action is Action.SPLIT:
                    raise SocdError(f"Elasticsearch refused the correlation {what} on "
                                    f"{self.index}: {exc}") from exc
                reason = f"{status} {exc.message}"
            except es_exc.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            attempt += 1
            delay = self._backoff.delay(attempt)
            log.warning("correlation_state_retry", what=what, reason=reason, attempt=attempt,
                        retry_in=round(delay, 3), note=(
                            "the batch waits: it goes to delivery once its correlation "
                            "windows are durable"))
            await self._sleep(delay)

    async def _ensure_template(self) -> None:
        """Once per process: the ``<prefix>-state`` index template is there (``socd setup``
        installs it), else it is installed now, so that the windows' index gets its mapping
        whoever creates it first. Raises SocdError when Elasticsearch refuses (401/403)."""
        if self._template:
            return
        template = state_template(self._prefix)
        name = template["name"]
        client = self.client
        try:
            found = await self._retrying("template check", lambda: client.indices.
                                         get_index_template(name=name))
            versions = [t["index_template"].get("version")
                        for t in found.get("index_templates", [])]
            if template["version"] not in versions:
                await self._retrying("template", lambda: client.indices.put_index_template(
                    **template))
                log.info("setup", action=f"index template {name} installed for "
                                         "correlation windows")
        except _Refused as exc:
            raise SocdError(
                f"Elasticsearch refused the index template {name} ({exc}): run `socd setup` "
                "with a user allowed to manage index templates, or give socd's user the "
                "cluster privilege manage_index_templates") from None
        self._template = True

    # ------------------------------------------------------------------ expiry

    async def sweep(self) -> int:
        """Delete the windows more than :data:`SWEEP_GRACE_S` past their expiry; how many.
        Raises elasticsearch-py's errors (the caller logs them)."""
        cutoff = int((self._clock() - SWEEP_GRACE_S) * 1000)
        try:
            response = await self.client.delete_by_query(
                index=self.index, query={"range": {"expires": {"lt": cutoff}}},
                conflicts="proceed", refresh=False)
        except es_exc.NotFoundError:
            return 0
        return int(response.body.get("deleted", 0))

    async def sweep_forever(self, interval: float = SWEEP_INTERVAL_S) -> None:
        """:meth:`sweep` every ``interval`` seconds until cancelled; failures logged."""
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = await self.sweep()
            except Exception as exc:  # expiry must never stop the daemon; said, tried again
                log.warning("correlation_sweep_failed", error=str(exc),
                            error_type=type(exc).__name__)
            else:
                if deleted:
                    log.info("correlation_windows_swept", deleted=deleted)


class _Refused(Exception):
    """Elasticsearch refused socd's credentials or privileges for the template."""


def _item_action(status: int) -> Action:
    if status == 429 or status >= 500 or status == 408:
        return Action.RETRY
    if status in (401, 403):
        return Action.REFUSED
    return Action.REJECT


def _error_type(error: Any) -> str:
    return str(error.get("type", "")) if isinstance(error, Mapping) else str(error)
