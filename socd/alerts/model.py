"""The handling of one threat: its states, the change an operator asks for, what that change
does to the document's ``socd`` object (:func:`decide`), and the filters of a selection."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from socd.errors import UsageError

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
