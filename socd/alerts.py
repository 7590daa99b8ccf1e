"""``socd alerts list|ack|close``: operators' handling of threats, recorded on the documents.

The states and closing reasons are those of Elastic Security's alert workflow
(``kibana.alert.workflow_status`` open / acknowledged / closed and
``kibana.alert.workflow_reason``; Elastic's ``benign_positive`` is socd's ``benign``), kept
in socd's own namespace of the threat document:

``socd.status``          ``open`` | ``acknowledged`` | ``closed`` (absent: ``open``, as the
                         daemon writes every threat)
``socd.status_reason``   for ``closed`` only: ``true_positive`` | ``false_positive`` |
                         ``benign`` | ``duplicate`` (null otherwise)
``socd.status_by``       who made the last change (``--by``, default the login name)
``socd.status_at``       when (UTC, ISO-8601)
``socd.status_comment``  the comment of the last change (null when none was given)
``socd.status_history``  the last :data:`HISTORY_MAX` changes, oldest first, each
                         ``{status, reason, by, at, comment}``

Transitions: ``open → acknowledged → closed``; ``close`` from ``open`` is allowed; closing a
closed threat with another reason changes the reason. ``ack`` of a closed threat reopens it
(to ``acknowledged``, the reason removed, as Elastic removes it) only with ``reopen=True``
(``--reopen``); without it the threat is left closed and reported. A change that would leave
the status and reason as they are changes nothing (idempotent: neither the comment nor the
time is rewritten).

Every update is conditional on the document's ``_seq_no``/``_primary_term`` as read
(optimistic concurrency): when another writer changed it in between, Elasticsearch answers
409, the document is read again and the change decided again on what it now holds, up to
:data:`MAX_TRIES` times, so a concurrent change is never overwritten.

A threat the sensor blocked (ECS ``event.type: denied``, which the Cyradar and Suricata
connectors write for ``action: blocked``) is *handled by the sensor*: it is shown so
(``handled``) without any document being rewritten.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    ConflictError,
    NotFoundError,
    TransportError,
)

from socd.config import Config
from socd.errors import SinkError, UsageError

STATUSES = ("open", "acknowledged", "closed")
REASONS = ("true_positive", "false_positive", "benign", "duplicate")
CLASSES = ("critical", "high-risk")
HISTORY_MAX = 20
"""Changes kept in ``socd.status_history`` (the oldest are dropped)."""
MAX_TRIES = 10
"""Conditional updates of one document before giving up on a document others keep changing."""
BLOCKED = "denied"
"""The ``event.type`` of a threat the sensor blocked (ECS ``event.type`` allowed values)."""

Action = Literal["ack", "close"]
Outcome = Literal["changed", "unchanged", "refused"]


@dataclass(frozen=True, slots=True)
class Change:
    """What an operator asks: ``ack`` or ``close`` (with ``reason``), by whom, when."""

    action: Action
    by: str
    at: str
    """UTC, ISO-8601 with ``Z``."""
    comment: str | None = None
    reason: str | None = None
    reopen: bool = False


def decide(socd: Mapping[str, Any], change: Change) -> tuple[Outcome, dict[str, Any] | None,
                                                             str]:
    """The effect of ``change`` on a document whose ``socd`` object is ``socd``: the outcome,
    the fields to write under ``socd`` (None when nothing changes) and a short description
    (``open → acknowledged``, ``already closed as benign``)."""
    now = str(socd.get("status") or "open")
    reason_now = socd.get("status_reason")
    if change.action == "ack":
        target, reason = "acknowledged", None
        if now == "acknowledged":
            return "unchanged", None, "already acknowledged"
        if now == "closed" and not change.reopen:
            return "refused", None, (f"closed as {reason_now or '?'}: give --reopen to "
                                     "acknowledge it again")
    else:
        target, reason = "closed", change.reason
        if now == "closed" and reason_now == reason:
            return "unchanged", None, f"already closed as {reason}"
    entry = {"status": target, "reason": reason, "by": change.by, "at": change.at,
             "comment": change.comment}
    history = socd.get("status_history")
    kept = list(history) if isinstance(history, list) else []
    fields = {"status": target, "status_reason": reason, "status_by": change.by,
              "status_at": change.at, "status_comment": change.comment,
              "status_history": [*kept, entry][-HISTORY_MAX:]}
    shown = f"{now} → {target}" + (f" ({reason})" if reason else "")
    return "changed", fields, shown


@dataclass(frozen=True, slots=True)
class Selection:
    """``list``'s filters (and ``ack``/``close`` by query): every given one must hold."""

    classes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    layers: tuple[int, ...] = ()
    query: str | None = None
    """Elasticsearch query-string syntax (``source.ip:10.0.0.5 AND rule.category:apt*``)."""

    def empty(self) -> bool:
        return not (self.classes or self.statuses or self.since or self.layers or self.query)

    def es_query(self) -> dict[str, Any]:
        """The Elasticsearch query of this selection (``match_all`` when empty)."""
        must: list[dict[str, Any]] = []
        if self.classes:
            must.append({"terms": {"socd.class": list(self.classes)}})
        if self.layers:
            must.append({"terms": {"socd.layer": list(self.layers)}})
        if self.since:
            must.append({"range": {"@timestamp": {"gte": self.since.astimezone(UTC)
                                                  .isoformat().replace("+00:00", "Z")}}})
        if self.statuses:
            # a document without socd.status is open (the daemon writes none)
            should: list[dict[str, Any]] = [{"terms": {"socd.status": list(self.statuses)}}]
            if "open" in self.statuses:
                should.append({"bool": {"must_not": {"exists": {"field": "socd.status"}}}})
            must.append({"bool": {"should": should, "minimum_should_match": 1}})
        if self.query:
            must.append({"query_string": {"query": self.query}})
        return {"bool": {"filter": must}} if must else {"match_all": {}}


def login_name() -> str:
    """``--by``'s default: the login name. Raises UsageError when there is none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise UsageError("--by: no login name can be found: give --by NAME") from None


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """Threats of a search: the newest ``hits`` and how many match in all."""

    hits: list[dict[str, Any]]
    total: int


class Store:
    """The threat documents of ``<prefix>-alerts*`` through ``client``, with Elasticsearch's
    errors turned into socd's (UsageError for a query it cannot parse, SinkError otherwise)."""

    def __init__(self, client: AsyncElasticsearch, prefix: str, hosts: str) -> None:
        self.client = client
        self.pattern = f"{prefix}-alerts*"
        self.hosts = hosts

    async def search(self, query: dict[str, Any], size: int) -> Found:
        """The newest ``size`` matching documents (by ``@timestamp``) with their
        ``_seq_no``/``_primary_term``, and the number of all matches."""
        try:
            answer = await self.client.search(
                index=self.pattern, query=query, size=size, sort=[{"@timestamp": "desc"}],
                seq_no_primary_term=True, track_total_hits=True, ignore_unavailable=True,
                allow_no_indices=True)
        except NotFoundError:
            return Found([], 0)  # no index yet: no threat yet
        except BadRequestError as exc:
            raise UsageError(f"--query: Elasticsearch cannot use it: {_reason(exc)}: check "
                             "the query-string syntax") from None
        except (ApiError, TransportError) as exc:
            raise self._failed("search", exc) from exc
        hits = answer["hits"]
        total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
        return Found(list(hits["hits"]), int(total))

    async def by_ids(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of ``ids`` that exist, by id."""
        found = await self.search({"ids": {"values": list(ids)}}, len(ids))
        return {hit["_id"]: hit for hit in found.hits}

    async def reread(self, hit: Mapping[str, Any]) -> dict[str, Any] | None:
        """The document of ``hit`` as it is now (None when it was deleted)."""
        try:
            answer = await self.client.get(index=hit["_index"], id=hit["_id"])
        except NotFoundError:
            return None
        except (ApiError, TransportError) as exc:
            raise self._failed("read", exc) from exc
        return dict(answer.body)

    async def apply(self, hit: Mapping[str, Any], change: Change) -> tuple[Outcome, str]:
        """``change`` on the document of ``hit`` (as read, with ``_seq_no`` and
        ``_primary_term``), conditional on it being unchanged since; on a conflict the
        document is read again and the change decided again. Raises SinkError after
        :data:`MAX_TRIES` conflicts in a row."""
        current: Mapping[str, Any] | None = hit
        for _ in range(MAX_TRIES):
            if current is None:
                return "refused", "deleted meanwhile"
            socd = current.get("_source", {}).get("socd") or {}
            outcome, fields, shown = decide(socd, change)
            if fields is None:
                return outcome, shown
            try:
                await self.client.update(index=current["_index"], id=current["_id"],
                                         doc={"socd": fields},
                                         if_seq_no=current["_seq_no"],
                                         if_primary_term=current["_primary_term"])
            except ConflictError:
                current = await self.reread(current)
                continue
            except NotFoundError:
                return "refused", "deleted meanwhile"
            except (ApiError, TransportError) as exc:
                raise self._failed("update", exc) from exc
            return outcome, shown
        raise SinkError(f"{hit['_id']}: changed by others {MAX_TRIES} times while being "
                        "updated: run the command again")

    async def refresh(self, indices: set[str]) -> None:
        """Make the changes of ``indices`` searchable now, so that a ``list`` right after
        sees them; a refusal (no ``maintenance`` privilege) only delays that to the
        index's own refresh."""
        if not indices:
            return
        with contextlib.suppress(ApiError, TransportError):
            await self.client.indices.refresh(index=",".join(sorted(indices)))

    def _failed(self, what: str, exc: Exception) -> SinkError:
        if isinstance(exc, AuthenticationException | AuthorizationException):
            return SinkError(f"Elasticsearch at {self.hosts} refused the {what} "
                             f"({_reason(exc)}): check elasticsearch.api_key or "
                             "elasticsearch.username/password and the user's privileges on "
                             f"{self.pattern}")
        return SinkError(f"Elasticsearch at {self.hosts}: {what} failed: {_reason(exc)}: "
                         "check elasticsearch.hosts and that the cluster is running")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        info = exc.info if isinstance(exc.info, dict) else {}
        error = info.get("error")
        if isinstance(error, dict):
            causes = error.get("root_cause") or [error]
            return str(causes[0].get("reason") or error.get("type") or exc.message)
        return f"HTTP {exc.status_code} {exc.message}"
    return f"{type(exc).__name__}: {exc}"


# --- showing -------------------------------------------------------------------------------


def summary(hit: Mapping[str, Any]) -> dict[str, Any]:
    """One threat as ``list`` shows it (a JSON line): id, index, time, class, layer, the
    handling fields, ``blocked`` (the sensor blocked it) and ``handled`` (blocked, or closed
    by an operator), and what it is."""
    source = hit.get("_source", {})
    socd = source.get("socd") or {}
    event = source.get("event") or {}
    types = event.get("type") or []
    blocked = BLOCKED in (types if isinstance(types, list) else [types])
    status = socd.get("status") or "open"
    rule = socd.get("rule") or {}
    return {"id": hit["_id"], "index": hit["_index"], "@timestamp": source.get("@timestamp"),
            "class": socd.get("class"), "layer": socd.get("layer"), "status": status,
            "reason": socd.get("status_reason"), "by": socd.get("status_by"),
            "at": socd.get("status_at"), "comment": socd.get("status_comment"),
            "blocked": blocked, "handled": blocked or status == "closed",
            "rule": rule.get("name") or (source.get("rule") or {}).get("name"),
            "observer": (source.get("observer") or {}).get("name"),
            "source.ip": (source.get("source") or {}).get("ip"),
            "destination.ip": (source.get("destination") or {}).get("ip")}


COLUMNS = ("@timestamp", "id", "class", "layer", "status", "observer", "source.ip",
           "destination.ip", "rule")


def write_table(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """``rows`` as aligned columns for a person; a closed status shows its reason and a
    blocked threat ``blocked``."""
    cells = [[_cell(row, column) for column in COLUMNS] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)])
              for i, column in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *cells]:
        out.write("  ".join(text.ljust(width) for text, width in zip(line, widths,
                                                                      strict=True)).rstrip()
                  + "\n")


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "status":
        text = str(value) + (f":{row['reason']}" if row.get("reason") else "")
        return text + (" blocked" if row.get("blocked") else "")
    return "-" if value is None else str(value)


# --- the commands --------------------------------------------------------------------------


def _store(config: Config) -> Store:
    from socd.sinks.elasticsearch.client import make_client, shown_hosts

    cfg = config.elasticsearch
    return Store(make_client(cfg), cfg.index_prefix, shown_hosts(cfg))


async def list_threats(config: Config, selection: Selection, *, limit: int, fmt: str,
                       out: TextIO) -> int:
    """``socd alerts list``: the newest ``limit`` threats of ``selection``; ``fmt``
    ``table`` (with a count line) or ``json`` (one :func:`summary` a line). Returns 0."""
    store = _store(config)
    try:
        found = await store.search(selection.es_query(), limit)
    finally:
        await store.client.close()
    rows = [summary(hit) for hit in found.hits]
    if fmt == "json":
        for row in rows:
            out.write(orjson.dumps(row).decode() + "\n")
        return 0
    if rows:
        write_table(rows, out)
    out.write(f"socd: {found.total} threat{'s' if found.total != 1 else ''} match"
              f"{'es' if found.total == 1 else ''}; {len(rows)} shown (newest first)\n")
    return 0


DEFAULT_STATUSES: dict[Action, tuple[str, ...]] = {"ack": ("open",),
                                                   "close": ("open", "acknowledged")}
"""By query, without ``--status``: the threats a change can act on."""


async def handle(config: Config, change: Change, *, ids: Sequence[str], selection: Selection,
                 limit: int, dry_run: bool, out: TextIO, err: TextIO) -> int:
    """``socd alerts ack|close``: ``change`` on the documents ``ids``, or (no ids) on the
    newest ``limit`` threats of ``selection`` (which must not be empty; without statuses,
    :data:`DEFAULT_STATUSES`), after a line with the count. One line per document
    (``ID: open → acknowledged``), then a summary. ``dry_run``: the count and the documents,
    nothing changed. An id that names no threat: a line on ``err``, and 1 is returned
    (the others are still handled); else 0."""
    if ids and not selection.empty():
        raise UsageError("give document ids or filters (--class, --status, --since, "
                         "--layer, --query), not both")
    if not ids and selection.empty():
        raise UsageError("give document ids, or filters (--class, --status, --since, "
                         "--layer, --query) with --limit to act on a query")
    store = _store(config)
    try:
        missing: list[str] = []
        if ids:
            wanted = list(dict.fromkeys(ids))
            found = await store.by_ids(wanted)
            missing = [doc_id for doc_id in wanted if doc_id not in found]
            hits = [found[doc_id] for doc_id in wanted if doc_id in found]
        else:
            if not selection.statuses:
                selection = Selection(selection.classes, DEFAULT_STATUSES[change.action],
                                      selection.since, selection.layers, selection.query)
            result = await store.search(selection.es_query(), limit)
            hits = result.hits
            verb = "acknowledge" if change.action == "ack" else "close"
            out.write(f"socd: {result.total} threat{'s' if result.total != 1 else ''} match; "
                      f"{'would ' if dry_run else ''}{verb} the newest {len(hits)} "
                      f"(--limit {limit})\n")
        counts = {"changed": 0, "unchanged": 0, "refused": 0}
        touched: set[str] = set()
        for doc_id in missing:
            err.write(f"socd: {doc_id}: no such threat in {store.pattern}: check the id "
                      "(socd alerts list --format json shows them)\n")
        for hit in hits:
            if dry_run:
                outcome, _, shown = decide(hit["_source"].get("socd") or {}, change)
            else:
                outcome, shown = await store.apply(hit, change)
            counts[outcome] += 1
            if outcome == "changed":
                touched.add(hit["_index"])
            out.write(f"{hit['_id']}: {shown}\n")
        if not dry_run:
            await store.refresh(touched)
    finally:
        await store.client.close()
    done = "would change" if dry_run else "changed"
    out.write(f"socd: {counts['changed']} {done}, {counts['unchanged']} unchanged, "
              f"{counts['refused']} left as they are, {len(missing)} not found\n")
    return 1 if missing else 0
