"""The per-item outcome of a bulk response, as a pure function.

A bulk response answers ``200`` even when items failed: ``"errors": true`` and one item per
document, in the request's order, each with its own ``status`` (Elasticsearch's bulk API
reference, "Response body"). :func:`bulk_outcome` sorts the documents of one request by
their items, following :func:`socd.sinks.elasticsearch.retry.item_action`: durable, to send
again, or rejected for good with Elasticsearch's reason (the dead letter's ``socd.detail``).
Vector's sink does the same ("retry_partial": only the items that got 429/5xx go again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from socd.event import IndexAction
from socd.sinks.elasticsearch.retry import Action, item_action

Rejected = tuple[IndexAction, str]
"""A document Elasticsearch will never take, and why (``HTTP 400: type: reason``)."""


@dataclass(slots=True)
class Outcome:
    """What became of the documents of one request (or of the halves of a split one)."""

    durable: int = 0
    """Documents Elasticsearch acknowledged."""
    retry: list[IndexAction] = field(default_factory=list)
    """Documents to send again (in their order)."""
    rejected: list[Rejected] = field(default_factory=list)
    """Documents refused for good, each with the reason."""
    retry_reason: str = ""
    """Why the first of ``retry`` is sent again (for the log)."""
    refused: bool = False
    """Whether a retry is due to credentials or privileges (401/403): logged as an error."""
    unreachable: bool = False
    """Whether a retry is due to the cluster not answering at all (connection refused or
    reset): the wait before it ends as soon as the cluster answers again."""

    @property
    def progressed(self) -> bool:
        """Whether any document is settled (durable or rejected): a retry after progress
        starts its backoff again from the first step."""
        return self.durable > 0 or bool(self.rejected)

    def add(self, other: Outcome) -> Outcome:
        """This outcome and ``other`` (of the next documents) as one, in that order."""
        self.durable += other.durable
        self.retry.extend(other.retry)
        self.rejected.extend(other.rejected)
        self.retry_reason = self.retry_reason or other.retry_reason
        self.refused = self.refused or other.refused
        self.unreachable = self.unreachable or other.unreachable
        return self


def reason_of(status: int, error: Any) -> str:
    """``HTTP <status>: <type>: <reason>`` from a bulk item's (or response's) ``error``,
    which is an object ``{"type", "reason", ...}`` or, from some proxies, a string."""
    if isinstance(error, Mapping):
        return f"HTTP {status}: {error.get('type', 'error')}: {error.get('reason', '')}"
    if error:
        return f"HTTP {status}: {error}"
    return f"HTTP {status}"


def bulk_outcome(actions: Sequence[IndexAction], body: Mapping[str, Any]) -> Outcome:
    """Sort ``actions`` by the items of their bulk response ``body`` (the parsed JSON,
    filtered to ``errors`` and ``items.*.status``/``error``), and mark those created.

    ``"errors": false`` makes every document durable without reading the items. A response
    whose items do not match the documents one for one (a proxy's answer, a truncated
    body) settles nothing: every document is sent again.
    """
    items = body.get("items")
    if not body.get("errors"):
        _mark_created(actions, items)
        return Outcome(durable=len(actions))
    if not isinstance(items, list) or len(items) != len(actions):
        found = len(items) if isinstance(items, list) else 0
        return Outcome(retry=list(actions), retry_reason=(
            f"the bulk response lists {found} items for {len(actions)} documents"))
    outcome = Outcome()
    for action, item in zip(actions, items, strict=True):
        result = next(iter(item.values()), None) if isinstance(item, Mapping) else None
        if not isinstance(result, Mapping):
            result = {}
        status = int(result.get("status", 500))
        error = result.get("error")
        verdict = item_action(status, error.get("type", "") if isinstance(error, Mapping)
                              else "", action.op)
        if verdict is Action.DURABLE:
            outcome.durable += 1
            action.created = status == 201
            continue
        reason = reason_of(status, error)
        if verdict is Action.REJECT:
            outcome.rejected.append((action, reason))
            continue
        outcome.retry.append(action)
        outcome.retry_reason = outcome.retry_reason or reason
        outcome.refused = outcome.refused or verdict is Action.REFUSED
    return outcome


def _mark_created(actions: Sequence[IndexAction], items: Any) -> None:
    """Set ``created`` on each action whose item answered ``201`` (a new document: a
    ``create``, or an update that inserted its alert); the others answered ``200``
    (an alert updated, or ``noop``). Without items one for one, a ``create`` of a response
    without errors was created and an update is taken as not (the alert count may then
    miss it, never count it twice)."""
    if isinstance(items, list) and len(items) == len(actions):
        for action, item in zip(actions, items, strict=True):
            result = next(iter(item.values()), None) if isinstance(item, Mapping) else None
            status = result.get("status") if isinstance(result, Mapping) else None
            action.created = status == 201 if status is not None else action.op == "create"
        return
    for action in actions:
        action.created = action.op == "create"
